//! A small bounded cache for what one isolate keeps between requests (the worker keeps site
//! configs, answer engines and embedding models in one each). Least recently used entries go
//! first once the entry count or the total weight (bytes of index files, say) passes its bound,
//! so a deployment serving many sites cannot grow an isolate past its memory limit. A failure
//! is remembered until a retry time, so a broken or missing file is not fetched and checked
//! again on every question.

/// What the cache knows about a key.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup<V> {
    /// Loaded and kept.
    Hit(V),
    /// Failed recently: the reason, until the retry time passes.
    Failed(String),
    /// Not known (or the failure's retry time has passed): load it.
    Miss,
}

enum Slot<V> {
    Ready(V),
    Failed { why: String, retry_at: f64 },
}

struct Entry<V> {
    key: String,
    slot: Slot<V>,
    weight: usize,
    used: u64,
}

pub struct Bounded<V> {
    max_entries: usize,
    max_weight: usize,
    entries: Vec<Entry<V>>,
    clock: u64,
}

impl<V: Clone> Bounded<V> {
    /// At most `max_entries` keys and `max_weight` total weight; the newest entry is always
    /// kept, even when it alone weighs more.
    pub const fn new(max_entries: usize, max_weight: usize) -> Bounded<V> {
        Bounded { max_entries, max_weight, entries: Vec::new(), clock: 0 }
    }

    /// The entry for `key` at time `now` (any monotonic unit, the same as `fail`'s), marking it
    /// used.
    pub fn get(&mut self, key: &str, now: f64) -> Lookup<V> {
        self.clock += 1;
        let clock = self.clock;
        let Some(at) = self.entries.iter().position(|e| e.key == key) else { return Lookup::Miss };
        let entry = &mut self.entries[at];
        match &entry.slot {
            Slot::Ready(v) => {
                entry.used = clock;
                Lookup::Hit(v.clone())
            }
            Slot::Failed { why, retry_at } if now < *retry_at => Lookup::Failed(why.clone()),
            Slot::Failed { .. } => {
                self.entries.swap_remove(at);
                Lookup::Miss
            }
        }
    }

    /// Keeps a loaded value, then evicts the least recently used others past the bounds.
    pub fn insert(&mut self, key: &str, value: V, weight: usize) {
        self.put(key, Slot::Ready(value), weight);
    }

    /// Remembers that loading `key` failed, until `retry_at`.
    pub fn fail(&mut self, key: &str, why: impl Into<String>, retry_at: f64) {
        self.put(key, Slot::Failed { why: why.into(), retry_at }, 0);
    }

    fn put(&mut self, key: &str, slot: Slot<V>, weight: usize) {
        self.clock += 1;
        self.entries.retain(|e| e.key != key);
        self.entries.push(Entry { key: key.to_string(), slot, weight, used: self.clock });
        while self.entries.len() > self.max_entries.max(1) || (self.entries.len() > 1 && self.weight() > self.max_weight) {
            let newest = self.clock;
            let Some(oldest) =
                self.entries.iter().enumerate().filter(|(_, e)| e.used != newest).min_by_key(|(_, e)| e.used).map(|(i, _)| i)
            else {
                break;
            };
            self.entries.swap_remove(oldest);
        }
    }

    /// Total weight of the entries kept.
    pub fn weight(&self) -> usize {
        self.entries.iter().map(|e| e.weight).sum()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_go_first_past_the_count() {
        let mut c = Bounded::new(2, usize::MAX);
        c.insert("a", 1, 0);
        c.insert("b", 2, 0);
        assert_eq!(c.get("a", 0.0), Lookup::Hit(1)); // a is now more recent than b
        c.insert("c", 3, 0);
        assert_eq!(c.get("b", 0.0), Lookup::Miss);
        assert_eq!(c.get("a", 0.0), Lookup::Hit(1));
        assert_eq!(c.get("c", 0.0), Lookup::Hit(3));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn weight_bounds_the_total_but_the_newest_always_stays() {
        let mut c = Bounded::new(10, 100);
        c.insert("a", 'a', 60);
        c.insert("b", 'b', 30);
        c.insert("c", 'c', 30); // 120 > 100: a (oldest) goes
        assert_eq!(c.get("a", 0.0), Lookup::Miss);
        assert_eq!(c.weight(), 60);
        c.insert("huge", 'h', 500); // alone over the bound: kept, everything else goes
        assert_eq!(c.get("huge", 0.0), Lookup::Hit('h'));
        assert_eq!(c.len(), 1);
        c.insert("huge", 'H', 10); // replacing a key replaces its weight
        assert_eq!(c.weight(), 10);
    }

    #[test]
    fn failures_are_remembered_until_their_retry_time() {
        let mut c: Bounded<u8> = Bounded::new(4, 100);
        c.fail("site", "corrupt", 30.0);
        assert_eq!(c.get("site", 10.0), Lookup::Failed("corrupt".into()));
        assert_eq!(c.get("site", 30.0), Lookup::Miss, "retried once the time has come");
        assert_eq!(c.get("site", 31.0), Lookup::Miss);
        c.insert("site", 7, 1);
        assert_eq!(c.get("site", 40.0), Lookup::Hit(7));
    }
}
