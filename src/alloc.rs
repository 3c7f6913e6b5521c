//! The memory allocator the daemon runs on: jemalloc, set up by [`daemon_allocator!`](crate::daemon_allocator) in the
//! binary and in the benchmarks that time the daemon's own code in their process.
//!
//! Why not the system allocator: a big poll's mentions are made on the thread that parsed the
//! feed and freed on the thread that matched them, while the SQLite writer allocates on a third.
//! glibc then locks the arena of the thread that made each block for every free, and the
//! writer waited on those locks (a fifth of the ingest benchmark's time went to `malloc`,
//! `free` and the futex waits behind them). jemalloc frees into a per-thread cache and hands
//! blocks back in batches: the ingest benchmark's CPU time drops by about a sixth, its wall
//! time by about 6 %, at the same or lower peak resident memory.
//!
//! [`CONF`] keeps a small machine's memory small: a background thread hands pages freed after a
//! burst back to the system within about a second, instead of keeping them for the next one.
//! jemalloc still reads `_RJEM_MALLOC_CONF` from the environment on top of it, for tuning
//! without a rebuild.

pub use tikv_jemallocator::Jemalloc;

/// The options jemalloc starts with, as the C string it reads as `malloc_conf` before `main`.
/// `background_thread`: purging runs on a thread of its own, also while the daemon idles;
/// `dirty_decay_ms`: freed pages go back to the system after about a second;
/// `muzzy_decay_ms:0`: and are not kept lazily mapped after that.
pub const CONF: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// Makes jemalloc, started with [`CONF`], the global allocator of the binary it is used in.
/// One call in the binary's root: a library cannot set it for the binaries that link it (the
/// classifier benchmark counts allocations with an allocator of its own).
#[macro_export]
macro_rules! daemon_allocator {
    () => {
        #[global_allocator]
        static GLOBAL_ALLOCATOR: $crate::alloc::Jemalloc = $crate::alloc::Jemalloc;

        /// jemalloc's start-up options, under the name the prefixed jemalloc reads them by.
        #[unsafe(export_name = "_rjem_malloc_conf")]
        static MALLOC_CONF: &u8 = &$crate::alloc::CONF[0];
    };
}
