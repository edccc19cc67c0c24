//! Logging: human-readable lines by default, JSON lines with `LOG_FORMAT=json` (Scaleway
//! Cockpit / Loki). Always on stderr, so job mode can keep stdout for its JSON results.
//!
//! The JSON format is our own rather than tracing-subscriber's: that one nests span fields and
//! upper-cases the level, while Loki's level detection and our queries want flat lines with a
//! lowercase `level`, `message` and the request's `request_id` at the top.
//!
//! Lines go into one buffer in front of stderr, written when it holds 32 KiB and at the latest
//! 100 ms after its first line by a thread that otherwise sleeps; [`flush`] writes it before
//! the process exits. A request pays a `memcpy` instead of a `write` system call, and a burst of
//! access-log lines leaves in a few large writes. (tracing-appender's non-blocking writer was
//! tried first: its worker thread spins on the channel, and under load it took a fifth of the
//! process's CPU on our 2 cores, more than the system calls it saved; measured with perf.)

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, Once};
use std::time::Duration;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber, span};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Env, LOG_FORMAT, RUST_LOG};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn from_env(env: &Env) -> LogFormat {
        // Logging must start even with a bad value: anything but `json` is text.
        let raw: String = env.value(&LOG_FORMAT).unwrap_or_default();
        match raw.to_ascii_lowercase().as_str() {
            "json" => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

static INIT: Once = Once::new();

/// Buffered lines are written once this much has gathered.
const FLUSH_AT: usize = 32 * 1024;
/// …and at the latest this long after the first of them.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// What is buffered for stderr.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<u8>> {
    PENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Held while a batch is written, so batches leave in order while loggers keep appending.
static WRITING: Mutex<()> = Mutex::new(());

/// Writes every buffered line (an error, such as a closed stderr, drops them). Call before the
/// process exits.
pub fn flush() {
    let _writing = WRITING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let batch = std::mem::take(&mut *pending());
    if !batch.is_empty() {
        let _ = std::io::stderr().lock().write_all(&batch);
    }
}

/// The writer tracing formats each line into: an append to [`PENDING`].
#[derive(Debug, Clone, Copy)]
struct Buffered;

impl std::io::Write for Buffered {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut buf = pending();
            buf.extend_from_slice(line);
            buf.len() >= FLUSH_AT
        };
        if full || FLUSH_IMMEDIATELY.load(std::sync::atomic::Ordering::Relaxed) {
            flush();
        }
        Ok(line.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffered {
    type Writer = Buffered;
    fn make_writer(&'a self) -> Buffered {
        Buffered
    }
}

/// Writes the buffer every [`FLUSH_EVERY`]: a thread that sleeps in between, so an idle
/// instance's lines still appear promptly and a busy one's leave in large writes.
fn start_flusher() {
    let spawned = std::thread::Builder::new()
        .name("elbatt-log".to_owned())
        .spawn(|| {
            loop {
                std::thread::sleep(FLUSH_EVERY);
                flush();
            }
        });
    if spawned.is_err() {
        // No thread: write every line at once instead.
        FLUSH_IMMEDIATELY.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

static FLUSH_IMMEDIATELY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Installs the global subscriber once; later calls do nothing (tests call it repeatedly).
pub fn init(env: &Env) {
    let format = LogFormat::from_env(env);
    let filter: String = env.value(&RUST_LOG).unwrap_or_default();
    INIT.call_once(|| {
        // `Targets` (`info,elbatt=debug`) rather than `EnvFilter`: the same syntax for what we
        // use, without the regex engine — about 0.5 MB per binary and ~1 µs per event less.
        let filter = filter
            .parse::<Targets>()
            .unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO));
        start_flusher();
        let writer = Buffered;
        let registry = tracing_subscriber::registry()
            .with(filter)
            .with(RequestIdLayer);
        let result = match format {
            LogFormat::Json => registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(writer)
                        .event_format(JsonLines),
                )
                .try_init(),
            LogFormat::Text => registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(writer)
                        .with_target(false)
                        // Colour codes only help a person at a terminal; in files they are noise.
                        .with_ansi(std::io::stderr().is_terminal()),
                )
                .try_init(),
        };
        // Another subscriber already installed (e.g. by a test harness) is fine.
        drop(result);
    });
}

/// The `request_id` a span was created with, kept so every event inside it can carry it.
struct RequestId(String);

struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        // Only `request_id` is wanted, and this runs once per request: no map, no other field.
        let mut visitor = RequestIdVisitor(None);
        attrs.record(&mut visitor);
        if let (Some(rid), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(rid));
        }
    }
}

struct RequestIdVisitor(Option<String>);

impl Visit for RequestIdVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "request_id" {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "request_id" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

#[derive(Default)]
struct FieldsVisitor {
    fields: Map<String, Value>,
}

impl Visit for FieldsVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.fields
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

/// One flat JSON object per event: `timestamp`, `level`, `message`, `request_id`, `target`,
/// then the event's own fields.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut visitor = FieldsVisitor::default();
        event.record(&mut visitor);
        let mut line = Map::new();
        let now = time::OffsetDateTime::now_utc();
        let ts = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        line.insert("timestamp".into(), Value::from(ts));
        line.insert(
            "level".into(),
            Value::from(event.metadata().level().as_str().to_ascii_lowercase()),
        );
        line.insert(
            "message".into(),
            visitor.fields.remove("message").unwrap_or(Value::from("")),
        );
        let request_id = ctx.event_scope().and_then(|scope| {
            scope
                .from_root()
                .filter_map(|span| span.extensions().get::<RequestId>().map(|r| r.0.clone()))
                .last()
        });
        if let Some(rid) = request_id {
            line.insert("request_id".into(), Value::from(rid));
        }
        line.insert("target".into(), Value::from(event.metadata().target()));
        for (k, v) in visitor.fields {
            line.entry(k).or_insert(v);
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}
