//! The bodies a [`PullClient`](crate::PullClient) keeps with their `ETag`, so that it can
//! ask `If-None-Match` and answer a `304` from its own copy. Bounded in entries and in
//! bytes; the least recently used entry goes first.

use std::collections::HashMap;
use std::sync::Arc;

/// A kept answer: its tag and its body.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    pub(crate) etag: String,
    pub(crate) body: Arc<[u8]>,
}

#[derive(Debug)]
struct Slot {
    kept: Kept,
    /// The tick of its last use; the smallest goes first.
    used: u64,
}

/// A capped map from request to [`Kept`].
#[derive(Debug)]
pub(crate) struct EtagCache {
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
    tick: u64,
    slots: HashMap<String, Slot>,
}

impl EtagCache {
    /// At most `max_entries` bodies of at most `max_bytes` in all (0 keeps nothing).
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            max_entries,
            max_bytes,
            bytes: 0,
            tick: 0,
            slots: HashMap::new(),
        }
    }

    /// The copy kept for `key`, marked as used.
    pub(crate) fn get(&mut self, key: &str) -> Option<Kept> {
        self.tick += 1;
        let slot = self.slots.get_mut(key)?;
        slot.used = self.tick;
        Some(slot.kept.clone())
    }

    /// Keeps `kept` for `key`, in place of any earlier copy, making room by dropping the
    /// least recently used; a body larger than the whole budget is not kept.
    pub(crate) fn insert(&mut self, key: String, kept: Kept) {
        self.remove(&key);
        let size = kept.body.len();
        if self.max_entries == 0 || size > self.max_bytes {
            return;
        }
        while self.slots.len() >= self.max_entries || self.bytes + size > self.max_bytes {
            let Some(oldest) = self
                .slots
                .iter()
                .min_by_key(|(_, slot)| slot.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.remove(&oldest);
        }
        self.tick += 1;
        self.bytes += size;
        self.slots.insert(
            key,
            Slot {
                kept,
                used: self.tick,
            },
        );
    }

    /// Forgets the copy kept for `key`.
    pub(crate) fn remove(&mut self, key: &str) {
        if let Some(slot) = self.slots.remove(key) {
            self.bytes -= slot.kept.body.len();
        }
    }

    /// How many copies are kept.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Forgets every copy.
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(tag: &str, size: usize) -> Kept {
        Kept {
            etag: tag.to_owned(),
            body: vec![b'x'; size].into(),
        }
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let mut cache = EtagCache::new(2, 1000);
        cache.insert("a".into(), kept("A", 1));
        cache.insert("b".into(), kept("B", 1));
        assert_eq!(cache.get("a").unwrap().etag, "A");
        cache.insert("c".into(), kept("C", 1));
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn bytes_are_bounded_too() {
        let mut cache = EtagCache::new(10, 10);
        cache.insert("a".into(), kept("A", 6));
        cache.insert("b".into(), kept("B", 6));
        assert!(cache.get("a").is_none());
        assert_eq!(cache.get("b").unwrap().etag, "B");
        cache.insert("huge".into(), kept("H", 11));
        assert!(
            cache.get("huge").is_none(),
            "larger than the budget: not kept"
        );
        assert_eq!(cache.len(), 1);
        // A new copy replaces the old one and its bytes.
        cache.insert("b".into(), kept("B2", 10));
        assert_eq!(cache.get("b").unwrap().etag, "B2");
        assert_eq!(cache.bytes, 10);
        cache.clear();
        assert_eq!((cache.len(), cache.bytes), (0, 0));
    }

    #[test]
    fn zero_entries_keeps_nothing() {
        let mut cache = EtagCache::new(0, 1000);
        cache.insert("a".into(), kept("A", 1));
        assert_eq!(cache.len(), 0);
    }
}
