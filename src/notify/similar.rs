//! Near-duplicate detection for alerts: reposts, cross-posts and copy-paste campaigns should
//! raise one alert that says how many, not one each. Two texts are the same when their
//! normalised words are equal (the same fingerprint hash), and nearly the same when their sets of
//! three-word shingles overlap by at least [`NEAR_DUPLICATE`] (Jaccard).

use std::collections::HashSet;

use crate::query::normalize;

/// Jaccard similarity of shingle sets at or above which two texts count as one.
pub const NEAR_DUPLICATE: f64 = 0.8;

/// Words in a shingle.
const SHINGLE: usize = 3;

/// Texts shorter than this many words are compared only exactly: with few words, a one-word
/// difference is a different message.
const MIN_WORDS_FOR_SIMILARITY: usize = 6;

/// What is compared of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Hash of the normalised words, stored with the mention.
    pub hash: String,
    words: usize,
    shingles: HashSet<u64>,
}

fn fnv64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Fingerprints `text`: lower case, accents folded, punctuation and spacing ignored.
pub fn fingerprint(text: &str) -> Fingerprint {
    let norm = normalize(text);
    let words: Vec<&str> = norm
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let joined = words.join(" ");
    let shingles = if words.len() < SHINGLE {
        words.iter().map(|w| fnv64(w)).collect()
    } else {
        words
            .windows(SHINGLE)
            .map(|w| fnv64(&w.join(" ")))
            .collect()
    };
    Fingerprint {
        hash: format!("{:016x}", fnv64(&joined)),
        words: words.len(),
        shingles,
    }
}

impl Fingerprint {
    /// Jaccard similarity of the shingle sets, 0 … 1.
    pub fn similarity(&self, other: &Fingerprint) -> f64 {
        if self.shingles.is_empty() || other.shingles.is_empty() {
            return 0.0;
        }
        let common = self.shingles.intersection(&other.shingles).count();
        let all = self.shingles.len() + other.shingles.len() - common;
        common as f64 / all as f64
    }

    /// True when the two texts are the same or nearly the same.
    pub fn matches(&self, other: &Fingerprint) -> bool {
        if self.words == 0 || other.words == 0 {
            return false;
        }
        if self.hash == other.hash {
            return true;
        }
        self.words.min(other.words) >= MIN_WORDS_FOR_SIMILARITY
            && self.similarity(other) >= NEAR_DUPLICATE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_accents_and_punctuation_do_not_make_a_text_new() {
        let a = fingerprint("Fjordlink: al 3 dagen GEEN internet!!! Schandalig.");
        let b = fingerprint("fjordlink al 3 dagen geen internet... schandalig");
        assert_eq!(a.hash, b.hash);
        assert!(a.matches(&b));
    }

    #[test]
    fn a_campaign_text_with_a_small_change_still_matches() {
        let base = "Fjordlink verhoogt de prijzen weer terwijl het netwerk elke week plat ligt, teken de petitie nu en deel dit bericht";
        let a = fingerprint(base);
        let b = fingerprint(&format!("{base} @vriend"));
        assert!(a.similarity(&b) >= NEAR_DUPLICATE, "{}", a.similarity(&b));
        assert!(a.matches(&b));
    }

    #[test]
    fn different_complaints_about_the_same_outage_stay_apart() {
        let a = fingerprint("Fjordlink storing in Utrecht, al sinds vanochtend geen tv");
        let b =
            fingerprint("Bij mij in Utrecht ook geen tv van Fjordlink, wanneer is het opgelost?");
        assert!(!a.matches(&b), "{}", a.similarity(&b));
        let short_a = fingerprint("Fjordlink storing Utrecht");
        let short_b = fingerprint("Fjordlink storing Amsterdam");
        assert!(!short_a.matches(&short_b));
    }
}
