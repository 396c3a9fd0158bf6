//! Logging (pretty locally, JSON in production) and the process-wide metrics recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, TelemetrySettings};

/// Installs the tracing subscriber once; later calls (tests building many apps) do nothing and
/// return None.
///
/// Lines are handed to a background thread that writes them to stderr (`tracing-appender`), so
/// a request never waits on the write itself. The channel is not lossy: when the writer falls
/// behind by its whole buffer, requests wait rather than drop access-log lines. Keep the
/// returned guard until the process ends: dropping it flushes what is still buffered.
#[must_use = "dropping the guard stops the log writer"]
pub fn init_tracing(settings: &TelemetrySettings) -> Option<WorkerGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let (writer, guard) =
        NonBlockingBuilder::default().lossy(false).thread_name("log-writer").finish(std::io::stderr());
    // Colours only for a person at a terminal, not in a file or a log shipper's pipe.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    let installed = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    installed.ok().map(|()| guard)
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
