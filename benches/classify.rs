//! Classifier throughput, latency and memory on the development sets (a realistic mix of
//! English, Dutch and Danish mentions, all languages loaded, reasons included), compared in
//! the same run with the `vader_sentiment` crate on the English set.
//!
//! Run with `cargo bench --bench classify`. Single-threaded: the figures are per core, in CPU
//! time of the benchmark's thread, so other load on the machine lowers them less.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use webcare::classify::model::{self, Example, Task};
use webcare::classify::{Classification, Classifier, Input, Label};

fn load(lang: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/eval/{lang}.tsv"));
    let data = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    data.lines()
        .skip(1)
        .filter_map(|l| l.splitn(3, '\t').nth(2))
        .map(str::to_string)
        .collect()
}

/// `copies` copies of `texts`, each post with about one word in ten (at least one; words of
/// four or more ASCII letters) replaced by a made-up word of the same length, different in
/// every copy: posts that bring words never seen before, as real streams do.
fn with_unseen_words(texts: &[String], copies: usize) -> Vec<String> {
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut out = Vec::with_capacity(texts.len() * copies);
    for _ in 0..copies {
        for t in texts {
            let mut b = t.clone().into_bytes();
            let words: Vec<(usize, usize)> = t
                .split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| w.len() >= 4)
                .map(|w| (w.as_ptr() as usize - t.as_ptr() as usize, w.len()))
                .collect();
            // About one word in ten, at least one per post.
            let n = (t.split_whitespace().count() as f64 / 10.0)
                .round()
                .max(1.0) as usize;
            for _ in 0..n.min(words.len()) {
                let (at, len) = words[next() as usize % words.len()];
                for x in &mut b[at..at + len] {
                    *x = b'a' + (next() % 26) as u8;
                }
            }
            out.push(String::from_utf8(b).expect("ASCII letters replaced by ASCII letters"));
        }
    }
    out
}

/// CPU time this thread has used, in seconds (from /proc, in clock ticks of 10 ms), so a figure
/// "per core" holds on a machine busy with other work, where wall time also counts the time
/// other processes had the core.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Runs `f` over `texts` repeatedly for at least `budget`; returns mentions per second of CPU
/// time (of wall time where /proc is missing).
fn throughput(texts: &[String], budget: Duration, mut f: impl FnMut(&str)) -> (f64, usize) {
    let start = Instant::now();
    let cpu = thread_cpu_seconds();
    let mut n = 0usize;
    while start.elapsed() < budget {
        for t in texts {
            f(t);
        }
        n += texts.len();
    }
    let wall = start.elapsed().as_secs_f64();
    let secs = match (cpu, thread_cpu_seconds()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => wall,
    };
    (n as f64 / secs, n)
}

/// Counts heap allocations, so the benchmark can show that classifying allocates nothing (or
/// how little) once the buffers have grown.
struct Counting;

static ALLOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

// SAFETY: every call is passed on unchanged to the system allocator; only a counter is added.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `alloc` above, which is the system allocator's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Heap allocations per call of `f` over `texts` (after one warm-up pass).
fn allocations_per_mention(texts: &[String], mut f: impl FnMut(&str)) -> f64 {
    for t in texts {
        f(t);
    }
    let before = ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed);
    for t in texts {
        f(t);
    }
    (ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed) - before) as f64 / texts.len() as f64
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The development posts of all three languages joined `k` at a time (within one language):
/// longer posts, up to about the 280 characters of a long social post.
fn joined(k: usize) -> Vec<String> {
    ["en", "nl", "da"]
        .iter()
        .flat_map(|l| load(l).chunks(k).map(|c| c.join(" ")).collect::<Vec<_>>())
        .collect()
}

/// The labelled development posts, for training the benchmark's model.
fn dev_examples() -> Vec<Example> {
    let mut examples = Vec::new();
    for (li, lang) in ["en", "nl", "da"].iter().enumerate() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/eval/{lang}.tsv"));
        let data = std::fs::read_to_string(&path).unwrap_or_default();
        for l in data.lines().skip(1) {
            let mut p = l.splitn(3, '\t');
            let (_, label, text) = (p.next(), p.next(), p.next());
            let gold = Label::ALL.iter().position(|x| Some(x.as_str()) == label);
            if let (Some(gold), Some(text)) = (gold, text) {
                examples.push(Example {
                    lang: li,
                    task: Task::Label,
                    gold,
                    text: text.to_string(),
                });
            }
        }
    }
    examples
}

/// The passes `count_mode` measures, in a function of their own so that callgrind's
/// `--toggle-collect='*counted_passes*'` counts them and nothing else: not the warm-up, not the
/// training (which classifies too, through `classify_into` whenever the compiler leaves that
/// call out of line), not the lexicons compiled on first use.
#[inline(never)]
fn counted_passes(c: &Classifier, texts: &[String], passes: usize, out: &mut Classification) {
    for _ in 0..passes {
        for t in texts {
            c.classify_into(&Input::new(t), out);
            black_box(&*out);
        }
    }
}

/// `CLASSIFY_COUNT=k`: only classifies the development posts joined `k` at a time with the
/// model (with `CLASSIFY_MODEL=off`, with the lexicons alone), 20 passes after a warm-up
/// pass, for an instruction count that does not depend on the machine's load:
/// `valgrind --tool=callgrind --toggle-collect='*counted_passes*'`, then divide the
/// instructions by the mentions printed.
fn count_mode(k: usize) {
    let c = Classifier::embedded();
    let with_model = std::env::var("CLASSIFY_MODEL").map_or(true, |v| v != "off");
    let cm = if with_model {
        let lexicon = |t: &str, l: usize| c.classify_lexicon(t, l);
        let m = model::train(&dev_examples(), &lexicon, 0, &|_, _| {});
        c.clone().with_model(std::sync::Arc::new(m))
    } else {
        c.clone()
    };
    let texts = joined(k);
    let mut out = Classification::default();
    for t in &texts {
        cm.classify_into(&Input::new(t), &mut out);
    }
    let passes = 20;
    counted_passes(&cm, &texts, passes, &mut out);
    let avg = texts.iter().map(String::len).sum::<usize>() as f64 / texts.len() as f64;
    println!(
        "{} mentions of {avg:.0} bytes classified {} (after {} warm-up)",
        passes * texts.len(),
        if with_model {
            "with the model"
        } else {
            "with the lexicons alone"
        },
        texts.len()
    );
}

fn main() {
    if let Some(k) = std::env::var("CLASSIFY_COUNT")
        .ok()
        .and_then(|k| k.parse().ok())
    {
        count_mode(k);
        return;
    }
    let en = load("en");
    let mut mix: Vec<String> = Vec::new();
    for lang in ["en", "nl", "da"] {
        mix.extend(load(lang));
    }
    let avg_len = mix.iter().map(String::len).sum::<usize>() as f64 / mix.len() as f64;
    let rss_before = peak_rss_kib().unwrap_or(0);
    let c = Classifier::embedded().compiled();
    let rss_loaded = peak_rss_kib().unwrap_or(0);
    println!(
        "classify: {} mentions (en, nl, da; {avg_len:.0} bytes on average), lexicons loaded: +{} KiB RSS",
        mix.len(),
        rss_loaded.saturating_sub(rss_before)
    );

    // Warm up caches and the branch predictor.
    let mut out = Classification::default();
    for t in &mix {
        c.classify_into(&Input::new(t), &mut out);
    }

    let budget = Duration::from_secs(3);
    let mut reasons = 0usize;
    let (reuse, n) = throughput(&mix, budget, |t| {
        c.classify_into(&Input::new(t), &mut out);
        reasons += out.reasons.len();
        black_box(&out);
    });
    println!(
        "  classify_into (buffers reused): {:>10.0} mentions/s  {:>7.1} ns/mention  ({n} runs, {:.1} reasons each)",
        reuse,
        1e9 / reuse,
        reasons as f64 / n as f64
    );
    let (fresh, _) = throughput(&mix, budget, |t| {
        black_box(c.classify(&Input::new(t)));
    });
    println!(
        "  classify (new result each):     {:>10.0} mentions/s  {:>7.1} ns/mention",
        fresh,
        1e9 / fresh
    );

    // The cost grows with the number of tokens: the same posts joined k at a time (within one
    // language) give longer posts, up to about the 280 characters of a long social post.
    println!("  by post length (development posts joined k at a time):");
    for k in 1..=5 {
        let joined = joined(k);
        let avg = joined.iter().map(String::len).sum::<usize>() as f64 / joined.len() as f64;
        let (rate, _) = throughput(&joined, budget / 2, |t| {
            c.classify_into(&Input::new(t), &mut out);
            black_box(&out);
        });
        println!(
            "    k={k}: {avg:>4.0} bytes  {:>10.0} mentions/s  {:>7.1} ns/mention  {:>5.2} ns/byte",
            rate,
            1e9 / rate,
            1e9 / rate / avg
        );
    }

    // With a model trained on the development sets (every language has a head), by length.
    let examples = dev_examples();
    let lexicon = |t: &str, l: usize| c.classify_lexicon(t, l);
    // Training time on 10,000 corrections: the development posts, each repeated with a
    // different second sentence so no two rows are the same text.
    let tails = [
        "Again.", "Today.", "Still.", "Really.", "Ugh.", "Hm.", "Ok.", "So.", "Well.", "Yes.",
    ];
    let big: Vec<Example> = (0..10_000)
        .map(|i| {
            let e = &examples[i % examples.len()];
            Example {
                text: format!("{} {}", e.text, tails[(i / examples.len()) % tails.len()]),
                ..e.clone()
            }
        })
        .collect();
    let t = Instant::now();
    let trained = model::train(&big, &lexicon, 0, &|_, _| {});
    println!(
        "  training on {} corrections (no cross-validation): {:.2} s",
        big.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    black_box(model::train(&big, &lexicon, 5, &|_, _| {}));
    println!(
        "  training on {} corrections with the 5-fold report: {:.2} s",
        big.len(),
        t.elapsed().as_secs_f64()
    );
    drop(trained);
    let m = model::train(&examples, &lexicon, 0, &|_, _| {});
    let cm = c.clone().with_model(std::sync::Arc::new(m));
    println!(
        "  heap allocations per mention (buffers reused): lexicons {:.2}, with the model {:.2}",
        allocations_per_mention(&mix, |t| c.classify_into(&Input::new(t), &mut out)),
        allocations_per_mention(&mix, |t| cm.classify_into(&Input::new(t), &mut out)),
    );
    // A model sums each distinct word's weights once per thread (see `model::cache_counts`),
    // so the development posts, read over and over, would find every word already summed. Real
    // streams keep bringing names, typos and slang never seen before: the second run replaces
    // about one word in ten of every post by a made-up word of the same length, different in
    // each of 50 copies of the posts, so about one word in ten was never seen before.
    println!("  with a model, by post length (hit rate of the per-word cache):");
    for k in 1..=5 {
        let joined = joined(k);
        let unseen = with_unseen_words(&joined, 50);
        let avg = joined.iter().map(String::len).sum::<usize>() as f64 / joined.len() as f64;
        let mut line = format!("    k={k}: {avg:>4.0} bytes");
        for texts in [&joined, &unseen] {
            let (hits, misses) = model::cache_counts();
            let (rate, _) = throughput(texts, budget / 2, |t| {
                cm.classify_into(&Input::new(t), &mut out);
                black_box(&out);
            });
            let (hits2, misses2) = model::cache_counts();
            let hit_rate = (hits2 - hits) as f64 / ((hits2 - hits) + (misses2 - misses)) as f64;
            line += &format!(
                "  {:>9.0} mentions/s {:>7.1} ns ({:>5.1} % hits{})",
                rate,
                1e9 / rate,
                100.0 * hit_rate,
                if std::ptr::eq(texts, &unseen) {
                    ", unseen words"
                } else {
                    ""
                }
            );
        }
        println!("{line}");
    }

    // Latency per mention: time each call on its own.
    let mut lat: Vec<u32> = Vec::with_capacity(mix.len() * 100);
    for _ in 0..100 {
        for t in &mix {
            let s = Instant::now();
            c.classify_into(&Input::new(t), &mut out);
            black_box(&out);
            lat.push(s.elapsed().as_nanos() as u32);
        }
    }
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
    println!(
        "  latency: p50 {} ns  p99 {} ns  p99.9 {} ns  max {} ns",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        lat[lat.len() - 1]
    );

    // The same English texts through VADER (sentiment only, no labels or reasons).
    let vader = vader_sentiment::SentimentIntensityAnalyzer::new();
    let (ours_en, _) = throughput(&en, budget, |t| {
        c.classify_into(&Input::new(t), &mut out);
        black_box(&out);
    });
    let (vader_en, _) = throughput(&en, budget, |t| {
        black_box(vader.polarity_scores(t));
    });
    println!(
        "  english set: webcare {:.0} mentions/s, vader_sentiment {:.0} mentions/s: webcare is {:.1}x faster",
        ours_en,
        vader_en,
        ours_en / vader_en
    );
    println!("  peak RSS (VmHWM): {} KiB", peak_rss_kib().unwrap_or(0));
}
