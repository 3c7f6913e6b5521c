//! The word table: every lexicon word, across all languages, to its id. This lookup runs once
//! for nearly every token of every mention, so it is a cuckoo table (every key sits in one of
//! two slots, and a lookup reads both and compares eight bytes at a time, with no probe loop
//! for the branch predictor to miss) over a zero-padded key arena.

/// Keys longer than this are never looked up (the tokenizer's key buffer is this size).
pub(crate) const MAX_KEY: usize = 64;

use std::hint::select_unpredictable;

use super::lexicon::NONE;

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
/// Derives a key's second slot from its hash.
const K2: u64 = 0x9e37_79b9_7f4a_7c15;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// The key's first eight bytes (zero-padded): most keys are no longer, so most lookups
    /// never touch the arena.
    first: u64,
    id: u32,
    /// Key length in bytes in the low byte (0 marks an empty slot: keys are never empty),
    /// and above it the index in `arena` of the key's second eight-byte word.
    len_off: u32,
}

impl Slot {
    #[inline(always)]
    fn len(&self) -> usize {
        (self.len_off & 0xFF) as usize
    }
    #[inline(always)]
    fn off(&self) -> usize {
        (self.len_off >> 8) as usize
    }
}

/// Word keys (normalised token bytes) to word ids.
#[derive(Clone)]
pub(crate) struct WordTable {
    slots: Box<[Slot]>,
    /// Slot index = top bits of the hash.
    shift: u32,
    /// Keys longer than eight bytes: their second and later eight-byte words.
    arena: Vec<u64>,
    len: usize,
}

impl Default for WordTable {
    fn default() -> Self {
        WordTable {
            slots: vec![Slot::default(); 16].into(),
            shift: 64 - 4,
            arena: Vec::new(),
            len: 0,
        }
    }
}

/// The `k`-th eight-byte word of `buf[..len]`, with the bytes past `len` cleared.
#[inline(always)]
fn chunk(buf: &[u8; MAX_KEY], len: usize, k: usize) -> u64 {
    let at = k * 8;
    let w = u64::from_le_bytes([
        buf[at],
        buf[at + 1],
        buf[at + 2],
        buf[at + 3],
        buf[at + 4],
        buf[at + 5],
        buf[at + 6],
        buf[at + 7],
    ]);
    let rest = len - at;
    if rest >= 8 {
        w
    } else {
        w & ((1u64 << (rest * 8)) - 1)
    }
}

#[inline(always)]
fn hash(buf: &[u8; MAX_KEY], len: usize) -> u64 {
    let mut h = (len as u64).wrapping_mul(K);
    for k in 0..len.div_ceil(8) {
        h = (h.rotate_left(5) ^ chunk(buf, len, k)).wrapping_mul(K);
    }
    h
}

impl WordTable {
    /// Number of words.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The two slots a key with hash `h` may sit in.
    #[inline(always)]
    fn places(&self, h: u64) -> (usize, usize) {
        (
            (h >> self.shift) as usize,
            (h.wrapping_mul(K2) >> self.shift) as usize,
        )
    }

    /// The id of `buf[..len]`. Bytes of `buf` past `len` may hold anything.
    #[inline]
    pub(crate) fn get_in(&self, buf: &[u8; MAX_KEY], len: usize) -> Option<u32> {
        if len == 0 || len > MAX_KEY {
            return None;
        }
        if len <= 8 {
            let id = self.get_short(chunk(buf, len, 0), len);
            return (id != NONE).then_some(id);
        }
        let first = chunk(buf, len, 0);
        let (a, b) = self.places(hash(buf, len));
        let (a, b) = (&self.slots[a], &self.slots[b]);
        let hit = |s: &Slot| (s.first == first) & (s.len() == len);
        [a, b]
            .into_iter()
            .find(|s| {
                hit(s)
                    && (1..len.div_ceil(8))
                        .all(|k| self.arena[s.off() + k - 1] == chunk(buf, len, k))
            })
            .map(|s| s.id)
    }

    /// The id of a key of at most eight bytes, given as its bytes zero-padded to a `u64`
    /// (little-endian); the common case, with no buffer to read.
    #[inline(always)]
    fn get_short(&self, first: u64, len: usize) -> u32 {
        debug_assert!((1..=8).contains(&len));
        let h = ((len as u64).wrapping_mul(K).rotate_left(5) ^ first).wrapping_mul(K);
        let (a, b) = self.places(h);
        let (a, b) = (&self.slots[a], &self.slots[b]);
        let hit = |s: &Slot| (s.first == first) & (s.len() == len);
        let id = select_unpredictable(hit(b), b.id, NONE);
        select_unpredictable(hit(a), a.id, id)
    }

    /// The id of `key`, for keys not already in a buffer.
    pub(crate) fn get(&self, key: &[u8]) -> Option<u32> {
        let mut buf = [0u8; MAX_KEY];
        buf.get_mut(..key.len())?.copy_from_slice(key);
        self.get_in(&buf, key.len())
    }

    /// Adds `key` with `id`; returns false (and adds nothing) for an empty or too long key or
    /// one already present.
    pub(crate) fn insert(&mut self, key: &[u8], id: u32) -> bool {
        // The arena offset shares a u32 with the length: 24 bits, far beyond any lexicon.
        if key.is_empty()
            || key.len() > MAX_KEY
            || id == NONE
            || self.arena.len() >= 1 << 24
            || self.get(key).is_some()
        {
            return false;
        }
        let mut buf = [0u8; MAX_KEY];
        buf[..key.len()].copy_from_slice(key);
        let off = self.arena.len() as u32;
        self.arena
            .extend((1..key.len().div_ceil(8)).map(|k| chunk(&buf, key.len(), k)));
        let mut pending = Slot {
            first: chunk(&buf, key.len(), 0),
            len_off: key.len() as u32 | off << 8,
            id,
        };
        self.len += 1;
        // Cuckoo tables fill up near half full; stay well below.
        if self.len * 5 > self.slots.len() * 2 {
            self.grow();
        }
        while let Err(homeless) = self.place(pending) {
            pending = homeless;
            self.grow();
        }
        true
    }

    fn hash_of(&self, s: &Slot) -> u64 {
        let mut buf = [0u8; MAX_KEY];
        buf[..8].copy_from_slice(&s.first.to_le_bytes());
        for k in 1..s.len().div_ceil(8) {
            buf[k * 8..k * 8 + 8].copy_from_slice(&self.arena[s.off() + k - 1].to_le_bytes());
        }
        hash(&buf, s.len())
    }

    /// Puts `slot` in one of its two places, moving the keys in the way to their other
    /// place. Returns the key left without a place when that goes on too long.
    fn place(&mut self, mut slot: Slot) -> Result<(), Slot> {
        let (a, b) = self.places(self.hash_of(&slot));
        let mut i = if self.slots[a].len() == 0 || self.slots[b].len() != 0 {
            a
        } else {
            b
        };
        for _ in 0..64 {
            std::mem::swap(&mut slot, &mut self.slots[i]);
            if slot.len() == 0 {
                return Ok(());
            }
            let (x, y) = self.places(self.hash_of(&slot));
            i = if x == i { y } else { x };
        }
        Err(slot)
    }

    /// Doubles the table and places every key again (in the same order, so the layout is the
    /// same for the same lexicons).
    fn grow(&mut self) {
        let old: Vec<Slot> = self
            .slots
            .iter()
            .copied()
            .filter(|s| s.len() != 0)
            .collect();
        let mut size = self.slots.len();
        'retry: loop {
            size *= 2;
            self.slots = vec![Slot::default(); size].into();
            self.shift = 64 - size.trailing_zeros();
            for s in &old {
                if self.place(*s).is_err() {
                    continue 'retry;
                }
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_inserted_word_and_nothing_else() {
        let mut t = WordTable::default();
        let words: Vec<String> = (0..3000).map(|i| format!("word{i}")).collect();
        for (i, w) in words.iter().enumerate() {
            assert!(t.insert(w.as_bytes(), i as u32));
        }
        assert!(!t.insert(b"word7", 99), "a key is added once");
        assert_eq!(t.len(), 3000);
        for (i, w) in words.iter().enumerate() {
            assert_eq!(t.get(w.as_bytes()), Some(i as u32), "{w}");
        }
        for miss in ["word", "word3000", "word12x", "", "ord1"] {
            assert_eq!(t.get(miss.as_bytes()), None, "{miss}");
        }
        let long = "a".repeat(64);
        assert!(t.insert(long.as_bytes(), 5000));
        assert_eq!(t.get(long.as_bytes()), Some(5000));
        assert_eq!(t.get(&long.as_bytes()[..63]), None);
        assert!(!t.insert("b".repeat(65).as_bytes(), 1));
    }

    #[test]
    fn bytes_past_the_key_do_not_matter() {
        let mut t = WordTable::default();
        t.insert("ærgerlig".as_bytes(), 1);
        let mut buf = [0xAAu8; MAX_KEY];
        let k = "ærgerlig".as_bytes();
        buf[..k.len()].copy_from_slice(k);
        assert_eq!(t.get_in(&buf, k.len()), Some(1));
    }
}
