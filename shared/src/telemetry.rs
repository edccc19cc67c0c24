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

use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, Once};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber, span};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
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
        let result = tracing_subscriber::registry()
            .with(filter)
            .with(RequestIdLayer)
            .with(LineLayer {
                json: format == LogFormat::Json,
                // Colour only helps a person at a terminal; in files it is noise.
                color: format == LogFormat::Text && std::io::stderr().is_terminal(),
            })
            .try_init();
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

/// Formats each event into one line and appends it to the buffer: the only formatter, so no
/// span's fields are formatted unless an event needs them (tracing-subscriber's `fmt` layer
/// formats every span's fields when it is created, which cost more per request than the access
/// line itself).
///
/// Text: `2026-12-01T10:00:00.123Z  INFO message key=value … request_id=…`.
/// JSON (Scaleway Cockpit / Loki): one flat object, `timestamp`, `level` (lowercase),
/// `message`, `request_id`, `target`, then the event's own fields.
struct LineLayer {
    json: bool,
    color: bool,
}

impl<S> Layer<S> for LineLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let request_id = ctx.event_scope(event).and_then(|scope| {
            scope
                .from_root()
                .filter_map(|span| span.extensions().get::<RequestId>().map(|r| r.0.clone()))
                .last()
        });
        let meta = event.metadata();
        let mut line = String::with_capacity(256);
        let now = time::OffsetDateTime::now_utc();
        let ts = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        if self.json {
            line.push_str("{\"timestamp\":");
            push_json_str(&mut line, &ts);
            line.push_str(",\"level\":\"");
            line.push_str(&meta.level().as_str().to_ascii_lowercase());
            line.push('"');
            let mut fields = JsonFields {
                line: String::new(),
                message: None,
            };
            event.record(&mut fields);
            line.push_str(",\"message\":");
            push_json_str(&mut line, fields.message.as_deref().unwrap_or(""));
            if let Some(rid) = &request_id {
                line.push_str(",\"request_id\":");
                push_json_str(&mut line, rid);
            }
            line.push_str(",\"target\":");
            push_json_str(&mut line, meta.target());
            line.push_str(&fields.line);
            line.push_str("}\n");
        } else {
            let level = meta.level().as_str();
            let _ = write!(line, "{ts} ");
            if self.color {
                let code = match *meta.level() {
                    tracing::Level::ERROR => "31",
                    tracing::Level::WARN => "33",
                    tracing::Level::INFO => "32",
                    _ => "34",
                };
                let _ = write!(line, "\x1b[{code}m{level:>5}\x1b[0m");
            } else {
                let _ = write!(line, "{level:>5}");
            }
            let mut fields = TextFields {
                line: String::new(),
                message: None,
            };
            event.record(&mut fields);
            if let Some(message) = fields.message {
                line.push(' ');
                line.push_str(&message);
            }
            line.push_str(&fields.line);
            if let Some(rid) = &request_id {
                line.push_str(" request_id=");
                line.push_str(rid);
            }
            line.push('\n');
        }
        let _ = Buffered.write(line.as_bytes());
    }
}

/// A JSON string literal (serde_json's escaping).
fn push_json_str(line: &mut String, value: &str) {
    match serde_json::to_string(value) {
        Ok(quoted) => line.push_str(&quoted),
        Err(_) => line.push_str("\"\""),
    }
}

/// Text fields: ` key=value`, the message apart.
struct TextFields {
    line: String,
    message: Option<String>,
}

impl Visit for TextFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            let _ = write!(self.line, " {}={value:?}", field.name());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = Some(format!("{value:?}"));
        } else {
            let _ = write!(self.line, " {}={value:?}", field.name());
        }
    }
}

/// JSON fields: `,"key":value`, the message apart.
struct JsonFields {
    line: String,
    message: Option<String>,
}

impl JsonFields {
    fn key(&mut self, field: &Field) {
        self.line.push(',');
        push_json_str(&mut self.line, field.name());
        self.line.push(':');
    }
}

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.key(field);
            push_json_str(&mut self.line, value);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            let _ = write!(self.line, "{value}");
        } else {
            self.line.push_str("null");
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.key(field);
            push_json_str(&mut self.line, &text);
        }
    }
}
