//! The stop words the digest leaves out of its complaint themes, read from the lists shipped
//! with the lexicons (`config/lexicons/<lang>/stopwords.list`, compiled in): the Snowball lists
//! plus the project's negations and fillers. Kept apart from the classifier's lexicons because a
//! stop word says nothing about a complaint, while the classifier must still read "not".

use std::collections::HashSet;
use std::sync::OnceLock;

const LISTS: &[(&str, &str)] = &[
    (
        "en/stopwords.list",
        include_str!("../../config/lexicons/en/stopwords.list"),
    ),
    (
        "nl/stopwords.list",
        include_str!("../../config/lexicons/nl/stopwords.list"),
    ),
    (
        "da/stopwords.list",
        include_str!("../../config/lexicons/da/stopwords.list"),
    ),
];

/// The stop words of every language, and which of them are negations.
#[derive(Debug, Clone, Default)]
pub struct StopWords {
    words: HashSet<String>,
    negations: HashSet<String>,
}

impl StopWords {
    /// Reads lists in the `stopwords.list` format: `# ` comments, `[section]` lines, one
    /// lower-case word per line; words in `[negations]` are also negations.
    pub fn parse(lists: &[&str]) -> StopWords {
        let mut out = StopWords::default();
        for list in lists {
            let mut negations = false;
            for line in list.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                    negations = section == "negations";
                    continue;
                }
                let w = line.to_lowercase();
                if negations {
                    out.negations.insert(w.clone());
                }
                out.words.insert(w);
            }
        }
        out
    }

    /// The lists compiled into the binary, read once.
    pub fn bundled() -> &'static StopWords {
        static WORDS: OnceLock<StopWords> = OnceLock::new();
        WORDS.get_or_init(|| {
            StopWords::parse(&LISTS.iter().map(|(_, text)| *text).collect::<Vec<_>>())
        })
    }

    /// Whether `word` (lower case) is a stop word in any language.
    pub fn contains(&self, word: &str) -> bool {
        self.words.contains(word)
    }

    /// Whether `word` (lower case) is a negation, which may start a two-word theme.
    pub fn is_negation(&self, word: &str) -> bool {
        self.negations.contains(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_lists_hold_each_languages_function_words_and_negations() {
        let s = StopWords::bundled();
        for w in ["the", "and", "de", "het", "een", "og", "jeg", "på"] {
            assert!(s.contains(w), "{w}");
        }
        for w in ["geen", "not", "ikke"] {
            assert!(s.contains(w) && s.is_negation(w), "{w}");
        }
        assert!(!s.contains("internet") && !s.contains("factuur"));
        assert!(!s.is_negation("the"));
    }

    #[test]
    fn every_list_has_its_snowball_section() {
        for (name, text) in LISTS {
            assert!(text.contains("\n[snowball]\n"), "{name}");
            assert!(text.contains("\n[negations]\n"), "{name}");
        }
    }
}
