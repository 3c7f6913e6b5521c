//! TEMPORARY: replaced by the query language branch.
use thiserror::Error;
#[derive(Debug, Clone)]
pub struct Query {
    terms: Vec<String>,
    raw: String,
}
#[derive(Debug, Error)]
#[error("column {column}: {message}")]
pub struct QueryError {
    pub column: usize,
    pub message: String,
}
pub struct Doc {
    text: String,
}
impl Doc {
    pub fn new(text: &str, _a: Option<&str>, _u: Option<&str>, _l: Option<&str>) -> Doc {
        Doc {
            text: text.to_lowercase(),
        }
    }
}
impl Query {
    pub fn parse(input: &str) -> Result<Query, QueryError> {
        if input.trim().is_empty() {
            return Err(QueryError {
                column: 1,
                message: "empty query".into(),
            });
        }
        Ok(Query {
            terms: input
                .split_whitespace()
                .filter(|t| !t.starts_with('-') && *t != "OR")
                .map(|t| t.to_lowercase())
                .collect(),
            raw: input.into(),
        })
    }
    pub fn matches(&self, d: &Doc) -> bool {
        self.terms.iter().any(|t| d.text.contains(t.as_str()))
    }
    pub fn excluded(&self, _d: &Doc) -> bool {
        false
    }
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}
