//! The word table: every lexicon word, across all languages, to its id. An open-addressing
//! table over a zero-padded key arena, hashed and compared eight bytes at a time, because this
//! lookup runs once for nearly every token of every mention.

/// Keys longer than this are never looked up (the tokenizer's key buffer is this size).
pub(crate) const MAX_KEY: usize = 64;

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// The key's first eight bytes (zero-padded): most keys are no longer, so most lookups
    /// never touch the arena.
    first: u64,
    /// Key length in bytes; 0 marks an empty slot (keys are never empty).
    len: u16,
    id: u32,
    /// Index in `arena` of the key's second eight-byte word, for keys longer than eight.
    off: u32,
}

/// Word keys (normalised token bytes) to word ids.
#[derive(Clone)]
pub(crate) struct WordTable {
    slots: Box<[Slot]>,
    shift: u32,
    /// Keys, each zero-padded to whole eight-byte words.
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

    /// The id of `buf[..len]`. Bytes of `buf` past `len` may hold anything.
    #[inline]
    pub(crate) fn get_in(&self, buf: &[u8; MAX_KEY], len: usize) -> Option<u32> {
        if len == 0 || len > MAX_KEY {
            return None;
        }
        let h = hash(buf, len);
        let first = chunk(buf, len, 0);
        let mask = self.slots.len() - 1;
        let mut i = (h >> self.shift) as usize;
        loop {
            let s = self.slots[i];
            if s.len == 0 {
                return None;
            }
            if s.first == first && s.len as usize == len {
                let off = s.off as usize;
                if len <= 8
                    || (1..len.div_ceil(8)).all(|k| self.arena[off + k - 1] == chunk(buf, len, k))
                {
                    return Some(s.id);
                }
            }
            i = (i + 1) & mask;
        }
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
        if key.is_empty() || key.len() > MAX_KEY || self.get(key).is_some() {
            return false;
        }
        if (self.len + 1) * 4 > self.slots.len() {
            self.grow();
        }
        let mut buf = [0u8; MAX_KEY];
        buf[..key.len()].copy_from_slice(key);
        let off = self.arena.len() as u32;
        self.arena
            .extend((1..key.len().div_ceil(8)).map(|k| chunk(&buf, key.len(), k)));
        self.place(
            Slot {
                first: chunk(&buf, key.len(), 0),
                len: key.len() as u16,
                off,
                id,
            },
            hash(&buf, key.len()),
        );
        self.len += 1;
        true
    }

    fn place(&mut self, slot: Slot, h: u64) {
        let mask = self.slots.len() - 1;
        let mut i = (h >> self.shift) as usize;
        while self.slots[i].len != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn grow(&mut self) {
        let bigger = vec![Slot::default(); self.slots.len() * 2].into();
        let old = std::mem::replace(&mut self.slots, bigger);
        self.shift -= 1;
        for s in old.iter().filter(|s| s.len != 0) {
            let mut buf = [0u8; MAX_KEY];
            buf[..8].copy_from_slice(&s.first.to_le_bytes());
            for k in 1..(s.len as usize).div_ceil(8) {
                buf[k * 8..k * 8 + 8]
                    .copy_from_slice(&self.arena[s.off as usize + k - 1].to_le_bytes());
            }
            self.place(*s, hash(&buf, s.len as usize));
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
