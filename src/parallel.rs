//! Splitting CPU-bound work on a big batch over the machine's cores. The daemon's one database
//! writer cannot be shared, so the work around it (matching and classifying a poll, preparing
//! its rows) should take as little wall time as it can when a feed or a backfill brings tens
//! of thousands of mentions at once.

/// Mentions from which making, matching, classifying or preparing a batch is worth splitting (a poll
/// brings a few dozen; a backfill or a big feed tens of thousands).
pub const MENTIONS_TO_SPLIT: usize = 2_000;

/// Runs `work` on contiguous parts of `items`, one per core, and joins what each returns in
/// the items' order. Below `min` items, or on one core, it runs on the calling thread:
/// starting threads costs more than it saves. A panic in a part is raised again here.
pub fn in_parts<T, R, F>(items: Vec<T>, min: usize, work: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(Vec<T>) -> Vec<R> + Sync,
{
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || items.len() < min.max(2) {
        return work(items);
    }
    let size = items.len().div_ceil(cores);
    let mut all = items.into_iter();
    let mut parts: Vec<Vec<T>> = (0..cores)
        .map(|_| all.by_ref().take(size).collect())
        .collect();
    // The items are in the parts now: hand their first buffer back before the work starts.
    drop(all);
    let first = std::mem::take(&mut parts[0]);
    let work = &work;
    std::thread::scope(|s| {
        let others: Vec<_> = parts
            .into_iter()
            .skip(1)
            .map(|part| s.spawn(move || work(part)))
            .collect();
        let mut out = work(first);
        for part in others {
            match part.join() {
                Ok(done) => out.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_joined_in_the_items_order() {
        let items: Vec<u32> = (0..10_001).collect();
        let doubled = in_parts(items, 100, |part| part.into_iter().map(|i| i * 2).collect());
        assert_eq!(doubled, (0..10_001).map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_part_may_return_fewer_items_than_it_was_given() {
        let items: Vec<u32> = (0..5_000).collect();
        let odd = in_parts(items, 100, |part| {
            part.into_iter().filter(|i| i % 2 == 1).collect()
        });
        assert_eq!(odd, (0..5_000).filter(|i| i % 2 == 1).collect::<Vec<_>>());
    }

    #[test]
    fn a_small_batch_stays_on_the_calling_thread() {
        let here = std::thread::current().id();
        let threads = in_parts(vec![1, 2, 3], 100, |part| {
            part.into_iter()
                .map(|_| std::thread::current().id())
                .collect()
        });
        assert!(threads.iter().all(|t| *t == here));
    }

    #[test]
    #[should_panic(expected = "part failed")]
    fn a_panic_in_a_part_reaches_the_caller() {
        let items: Vec<u32> = (0..1_000).collect();
        in_parts(items, 10, |part| -> Vec<u32> {
            if part.contains(&999) {
                panic!("part failed");
            }
            part
        });
    }
}
