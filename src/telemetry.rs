//! Logging (pretty locally, JSON in production) and the process-wide metrics recorder.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{LogFormat, TelemetrySettings};

/// Installs the tracing subscriber once; later calls (tests building many apps) do nothing and
/// return None.
///
/// Lines go to stderr through [`LogWriter`], so a request never waits on the write. Keep the
/// returned guard until the process ends: dropping it writes what is still buffered.
#[must_use = "dropping the guard stops the log writer"]
pub fn init_tracing(settings: &TelemetrySettings) -> Option<LogGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let (writer, guard) = LogWriter::start();
    // Colours only for a person at a terminal, not in a file or a log shipper's pipe.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_writer(writer).with_env_filter(filter).with_ansi(ansi);
    let installed = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    installed.ok().map(|()| guard)
}

/// How often buffered lines are written when they do not fill [`WRITE_AT`] first.
const WRITE_EVERY: Duration = Duration::from_millis(50);
/// Buffered bytes that wake the writing thread before its next tick.
const WRITE_AT: usize = 256 * 1024;
/// Buffered bytes past which a logging thread writes everything itself: when stderr is slower
/// than the lines come, requests wait rather than lines be dropped or memory grow.
const MAX_PENDING: usize = 8 * 1024 * 1024;

/// Log lines appended to a buffer in memory and written to stderr by a thread of their own,
/// every [`WRITE_EVERY`] or whenever [`WRITE_AT`] bytes are waiting: one `write` per batch, and
/// no wake-up per line. A handoff per line (`tracing-appender`'s channel) woke the writing
/// thread and made a syscall for every access-log line, which at tens of thousands of requests
/// a second cost more than the rest of the request path. Nothing is dropped: past
/// [`MAX_PENDING`] the logging thread writes itself.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

struct Shared {
    pending: Mutex<Vec<u8>>,
    wake: Condvar,
    /// Where lines go (stderr), held while a batch is written, so that batches arrive whole and
    /// in order.
    writing: Mutex<Box<dyn Write + Send>>,
    closed: AtomicBool,
}

impl Shared {
    /// Takes what `pending` holds, and the right to write it next: `writing` is taken while
    /// `pending` is held (always in that order), so batches reach stderr in the order taken.
    fn take<'a>(&'a self, pending: &mut Vec<u8>) -> (Vec<u8>, MutexGuard<'a, Box<dyn Write + Send>>) {
        let writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(pending), writing)
    }
}

/// Writes a batch. Nowhere to report a failed write to stderr: the lines are lost, as they
/// would be anyway.
fn write_out(batch: &[u8], mut sink: MutexGuard<'_, Box<dyn Write + Send>>) {
    if !batch.is_empty() {
        let _ = sink.write_all(batch).and_then(|()| sink.flush());
    }
}

/// Stops the writing thread when dropped, after it wrote every buffered line.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl LogWriter {
    /// The writer to stderr and the guard of its thread.
    pub fn start() -> (LogWriter, LogGuard) {
        Self::start_to(Box::new(std::io::stderr()))
    }

    /// The writer to `sink` and the guard of its thread.
    pub fn start_to(sink: Box<dyn Write + Send>) -> (LogWriter, LogGuard) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(WRITE_AT)),
            wake: Condvar::new(),
            writing: Mutex::new(sink),
            closed: AtomicBool::new(false),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("log-writer".into())
                .spawn(move || {
                    loop {
                        let closed = shared.closed.load(Ordering::Acquire);
                        let (batch, writing) = {
                            let pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
                            let (mut pending, _) = shared
                                .wake
                                .wait_timeout_while(pending, WRITE_EVERY, |p| {
                                    p.len() < WRITE_AT && !shared.closed.load(Ordering::Acquire)
                                })
                                .unwrap_or_else(|e| e.into_inner());
                            shared.take(&mut pending)
                        };
                        write_out(&batch, writing);
                        // `closed` was read before this batch was taken: every line logged
                        // before the guard was dropped is in it.
                        if closed {
                            return;
                        }
                    }
                })
                .expect("the log writer thread starts")
        };
        (LogWriter { shared: shared.clone() }, LogGuard { shared, thread: Some(thread) })
    }
}

/// One log line's write, into the buffer.
pub struct LineWriter<'a>(&'a Shared);

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.0.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() >= MAX_PENDING || self.0.closed.load(Ordering::Acquire) {
            let (mut batch, writing) = self.0.take(&mut pending);
            batch.extend_from_slice(line);
            write_out(&batch, writing);
            return Ok(line.len());
        }
        pending.extend_from_slice(line);
        if pending.len() >= WRITE_AT {
            self.0.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(&self.shared)
    }
}

/// The metrics recorder is global to the process; every app in it shares one handle.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first, which this crate never does.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read after the writer stopped.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_whole_and_in_order_from_every_thread_also_past_the_buffer_limit() {
        let captured = Captured::default();
        let (writer, guard) = LogWriter::start_to(Box::new(captured.clone()));
        // 4 threads × 40,000 lines of about 80 bytes: 12.8 MB, past MAX_PENDING unless the
        // writing thread keeps up, so both paths write.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..40_000 {
                        let line = format!("thread {t} line {i:06} {}\n", "x".repeat(50));
                        writer.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let mut next = [0usize; 4];
        for line in text.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts.len(), 5, "a whole line: {line}");
            let (t, i): (usize, usize) = (parts[1].parse().unwrap(), parts[3].parse().unwrap());
            assert_eq!(i, next[t], "thread {t}'s lines in order");
            next[t] += 1;
        }
        assert_eq!(next, [40_000; 4]);
    }
}
