//! The daemon's log writer. Writing the log is best effort: when stderr cannot take a line
//! (a full disk answers ENOSPC, a closed pipe EPIPE) the line is dropped and counted, never
//! turned into an error. tracing-subscriber reports a failed write with `eprintln!`, which
//! panics when stderr itself fails, and that panic ended whichever task was logging: a source
//! stopped polling for good after one full-disk episode.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

/// Log lines dropped since the last one that got through.
static LOST: AtomicU64 = AtomicU64::new(0);

/// Makes a [`StderrLine`] per event; pass it to `with_writer`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BestEffortStderr;

/// One event's writes to stderr; never returns an error.
#[derive(Debug)]
pub struct StderrLine(io::Stderr);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BestEffortStderr {
    type Writer = StderrLine;

    fn make_writer(&'a self) -> StderrLine {
        StderrLine(io::stderr())
    }
}

impl Write for StderrLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_best_effort(&mut self.0, buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        write_best_effort(&mut self.0, buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}

/// Writes `buf` to `out`; a failure is counted instead of returned. The first line that gets
/// through after a loss says how many went missing, so a gap in the log is never silent.
fn write_best_effort(out: &mut impl Write, buf: &[u8]) {
    let lost = LOST.load(Ordering::Relaxed);
    if lost > 0 {
        let note = format!("webcare: {lost} log lines lost (the log could not be written)\n");
        if out.write_all(note.as_bytes()).is_err() {
            LOST.fetch_add(1, Ordering::Relaxed);
            return;
        }
        LOST.fetch_sub(lost, Ordering::Relaxed);
    }
    if out.write_all(buf).is_err() {
        LOST.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails while `full` is set, like a disk that fills up and is cleared.
    struct Disk {
        full: bool,
        written: Vec<u8>,
    }

    impl Write for Disk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.full {
                return Err(io::Error::from_raw_os_error(28));
            }
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_lost_on_a_full_disk_are_counted_and_reported_once_space_returns() {
        let mut disk = Disk {
            full: true,
            written: Vec::new(),
        };
        write_best_effort(&mut disk, b"one\n");
        write_best_effort(&mut disk, b"two\n");
        disk.full = false;
        write_best_effort(&mut disk, b"three\n");
        write_best_effort(&mut disk, b"four\n");
        let text = String::from_utf8(disk.written).unwrap();
        // Other tests in this process share the counter, so the count is at least two.
        assert!(text.contains(" log lines lost"), "{text}");
        assert!(text.ends_with("three\nfour\n"), "{text}");
        assert_eq!(text.matches("lost").count(), 1, "{text}");
    }
}
