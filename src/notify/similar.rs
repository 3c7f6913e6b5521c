//! Near-duplicate detection for alerts: reposts, cross-posts and copy-paste campaigns should
//! raise one alert that says how many, not one each. Two texts are the same when their
//! normalised words are equal (the same fingerprint hash), and nearly the same when their sets of
//! three-word shingles overlap by at least [`NEAR_DUPLICATE`] (Jaccard).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use crate::text::{alphanumeric_runs, fnv1a, normalize};

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

/// Fingerprints `text`: lower case, accents folded, punctuation and spacing ignored.
pub fn fingerprint(text: &str) -> Fingerprint {
    let norm = normalize(text);
    let words: Vec<&str> = alphanumeric_runs(&norm).collect();
    let joined = words.join(" ");
    let shingles = if words.len() < SHINGLE {
        words.iter().map(fnv1a).collect()
    } else {
        words.windows(SHINGLE).map(|w| fnv1a(w.join(" "))).collect()
    };
    Fingerprint {
        hash: format!("{:016x}", fnv1a(&joined)),
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

/// Shingles the index holds at most, over all its texts; the oldest alerts go first beyond it,
/// so a burst of long texts cannot grow the daemon without bound.
pub const MAX_INDEXED_SHINGLES: usize = 1_000_000;

/// The fingerprints of recently alerted mentions, indexed by exact hash and by shingle, so
/// finding the alert a new mention repeats costs the shingles it shares with earlier texts, not
/// a comparison with every alert of the last hour. Kept across routing passes and updated
/// from the outbox incrementally.
#[derive(Debug, Default)]
pub struct LeadIndex {
    /// Fingerprint and alert time per mention id.
    leads: HashMap<i64, (Fingerprint, i64)>,
    /// Mention ids in the order they were added (alert time order), for expiry.
    order: VecDeque<(i64, i64)>,
    by_hash: HashMap<String, BTreeSet<i64>>,
    by_shingle: HashMap<u64, BTreeSet<i64>>,
    shingles: usize,
    /// The last outbox row read.
    pub seen_outbox_id: i64,
}

impl LeadIndex {
    /// Adds the alerted mention `id` (alerted at `at`), unless it is already in.
    pub fn insert(&mut self, id: i64, at: i64, fp: Fingerprint) {
        if self.leads.contains_key(&id) {
            return;
        }
        self.by_hash.entry(fp.hash.clone()).or_default().insert(id);
        for s in &fp.shingles {
            self.by_shingle.entry(*s).or_default().insert(id);
        }
        self.shingles += fp.shingles.len();
        self.leads.insert(id, (fp, at));
        self.order.push_back((at, id));
        while self.shingles > MAX_INDEXED_SHINGLES && self.order.len() > 1 {
            if let Some((_, oldest)) = self.order.pop_front() {
                self.forget(oldest);
            }
        }
    }

    /// Drops every lead alerted before `since`.
    pub fn expire(&mut self, since: i64) {
        while let Some(&(at, id)) = self.order.front() {
            if at >= since {
                break;
            }
            self.order.pop_front();
            self.forget(id);
        }
    }

    /// Drops one lead (expired, or its mention was erased).
    pub fn remove(&mut self, id: i64) {
        if self.leads.contains_key(&id) {
            self.order.retain(|(_, i)| *i != id);
            self.forget(id);
        }
    }

    /// Drops one lead from the maps; the caller keeps `order` in step.
    fn forget(&mut self, id: i64) {
        let Some((fp, _)) = self.leads.remove(&id) else {
            return;
        };
        if let Some(ids) = self.by_hash.get_mut(&fp.hash) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_hash.remove(&fp.hash);
            }
        }
        for s in &fp.shingles {
            if let Some(ids) = self.by_shingle.get_mut(s) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_shingle.remove(s);
                }
            }
        }
        self.shingles -= fp.shingles.len();
    }

    /// Leads held.
    pub fn len(&self) -> usize {
        self.leads.len()
    }

    /// True when no lead is held.
    pub fn is_empty(&self) -> bool {
        self.leads.is_empty()
    }

    /// The lowest mention id whose text `fp` repeats ([`Fingerprint::matches`]), if any.
    pub fn find(&self, fp: &Fingerprint) -> Option<i64> {
        if fp.words == 0 {
            return None;
        }
        let mut best = self
            .by_hash
            .get(&fp.hash)
            .and_then(|ids| ids.iter().find(|id| self.leads[*id].0.words > 0).copied());
        if fp.words >= MIN_WORDS_FOR_SIMILARITY {
            // Count shared shingles per lead; Jaccard follows from the counts and set sizes.
            let mut common: HashMap<i64, usize> = HashMap::new();
            for s in &fp.shingles {
                for id in self.by_shingle.get(s).into_iter().flatten() {
                    *common.entry(*id).or_default() += 1;
                }
            }
            for (id, shared) in common {
                if best.is_some_and(|b| b <= id) {
                    continue;
                }
                let other = &self.leads[&id].0;
                if other.words < MIN_WORDS_FOR_SIMILARITY {
                    continue;
                }
                let all = fp.shingles.len() + other.shingles.len() - shared;
                if shared as f64 / all as f64 >= NEAR_DUPLICATE {
                    best = Some(id);
                }
            }
        }
        best
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

    #[test]
    fn the_index_finds_what_a_pairwise_comparison_finds() {
        let texts = [
            "Fjordlink verhoogt de prijzen weer terwijl het netwerk elke week plat ligt, teken de petitie",
            "Fjordlink storing in Utrecht, al sinds vanochtend geen tv",
            "Fjordlink storing Utrecht",
            "Bij mij in Utrecht ook geen tv van Fjordlink, wanneer is het opgelost?",
        ];
        let mut index = LeadIndex::default();
        for (i, t) in texts.iter().enumerate() {
            index.insert(i as i64 + 1, 100, fingerprint(t));
        }
        let probes = [
            "Fjordlink verhoogt de prijzen weer terwijl het netwerk elke week plat ligt, teken de petitie @vriend",
            "fjordlink storing utrecht!",
            "Fjordlink storing Amsterdam",
            "Fjordlink storing in Utrecht al sinds vanochtend geen tv",
            "",
        ];
        for p in probes {
            let fp = fingerprint(p);
            let pairwise = texts
                .iter()
                .position(|t| fingerprint(t).matches(&fp))
                .map(|i| i as i64 + 1);
            assert_eq!(index.find(&fp), pairwise, "{p}");
        }
        index.expire(101);
        assert!(index.is_empty());
        assert_eq!(index.find(&fingerprint(texts[1])), None);
        assert!(index.by_shingle.is_empty() && index.by_hash.is_empty());
    }
}
