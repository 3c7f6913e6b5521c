//! Watches compiled for matching: which watches a mention belongs to. An item no watch claims
//! is never stored; owned channels (a source with `watch = "..."`) belong to their watch unless
//! its exclusions or language filter say otherwise.

use std::collections::HashMap;

use crate::config::WatchConfig;
use crate::query::{Doc, Query, QueryError};
use crate::sources::Mention;

struct CompiledWatch {
    name: String,
    query: Query,
    languages: Vec<String>,
    daily_cap: Option<u64>,
}

/// Every configured watch, parsed once.
pub struct Watches {
    list: Vec<CompiledWatch>,
}

impl Watches {
    /// Parses every watch's query.
    pub fn compile(config: &[WatchConfig]) -> Result<Watches, (String, QueryError)> {
        let list = config
            .iter()
            .map(|w| {
                Ok(CompiledWatch {
                    name: w.name.clone(),
                    query: Query::parse(&w.query).map_err(|e| (w.name.clone(), e))?,
                    languages: w.languages.clone(),
                    daily_cap: w.daily_cap,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Watches { list })
    }

    /// Names of the watches `m` belongs to. `owned` names the watch of an owned channel.
    pub fn matching(&self, m: &Mention, owned: Option<&str>) -> Vec<String> {
        let text = match &m.title {
            Some(t) if !m.text.starts_with(t.as_str()) => format!("{t}\n{}", m.text),
            _ => m.text.clone(),
        };
        let doc = Doc::new(
            &text,
            m.author_handle.as_deref(),
            m.url.as_deref(),
            m.lang.as_deref(),
        );
        let mut out = Vec::new();
        for w in &self.list {
            if let Some(lang) = m.lang.as_deref() {
                if !w.languages.is_empty() && !w.languages.iter().any(|l| l == lang) {
                    continue;
                }
            }
            let hit = if owned == Some(w.name.as_str()) {
                !w.query.excluded(&doc)
            } else {
                w.query.matches(&doc)
            };
            if hit {
                out.push(w.name.clone());
            }
        }
        out
    }

    /// Daily caps by watch name, for the watches that have one.
    pub fn caps(&self) -> HashMap<String, u64> {
        self.list
            .iter()
            .filter_map(|w| w.daily_cap.map(|c| (w.name.clone(), c)))
            .collect()
    }
}
