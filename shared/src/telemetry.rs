//! Logging: human-readable lines by default, JSON lines with `LOG_FORMAT=json` (Scaleway
//! Cockpit / Loki). Always on stderr, so job mode can keep stdout for its JSON results.
//!
//! The JSON format is our own rather than tracing-subscriber's: that one nests span fields and
//! upper-cases the level, while Loki's level detection and our queries want flat lines with a
//! lowercase `level`, `message` and the request's `request_id` at the top.
//!
//! Lines go into a buffer per thread in front of stderr, written when it holds 32 KiB and at the
//! latest 100 ms after its first line by a thread that otherwise sleeps; [`flush`] writes them
//! before the process exits. A request pays a `memcpy` instead of a `write` system call, and a
//! burst of access-log lines leaves in a few large writes. Each thread's lines keep their order;
//! lines of different threads (one request's too, when its task moves between threads) can leave
//! up to 100 ms out of the order of their timestamps. (tracing-appender's non-blocking writer
//! was tried first: its worker thread spins on the channel, and under load it took a fifth of
//! the process's CPU on our 2 cores, more than the system calls it saved; measured with perf.)
//!
//! Every request's access line ([`access`]) skips `tracing`'s dispatch when our own subscriber
//! would log it, and is formatted straight into the buffer through the same field writers as an
//! event's line.

use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
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

/// Room for an access line's fields (function, method, path, status, duration).
const FIELDS_CAPACITY: usize = 160;

/// Buffered lines are written once this much has gathered.
const FLUSH_AT: usize = 32 * 1024;
/// …and at the latest this long after the first of them.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// One thread's lines waiting for stderr. Its thread appends under this lock, which no other
/// thread takes except to write the lines out; one buffer for every thread was a lock and a
/// buffer whose cache lines moved between the cores on every access line (about a tenth of a
/// `/health` request's time on two cores, measured with `perf` and wrk).
type Pending = Arc<Mutex<Vec<u8>>>;

/// Every thread's [`Pending`], for [`flush`] and the flusher thread.
static THREADS: Mutex<Vec<Pending>> = Mutex::new(Vec::new());

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// This thread's [`Pending`], registered on its first line and written out when it ends.
struct ThreadLines(Pending);

impl ThreadLines {
    fn register() -> Self {
        let pending = Pending::default();
        locked(&THREADS).push(Arc::clone(&pending));
        ThreadLines(pending)
    }
}

impl Drop for ThreadLines {
    fn drop(&mut self) {
        write_out(&self.0);
        locked(&THREADS).retain(|p| !Arc::ptr_eq(p, &self.0));
    }
}

thread_local! {
    static LINES: ThreadLines = ThreadLines::register();
}

/// Held while a batch is written, so that batches leave whole and one at a time.
static WRITING: Mutex<()> = Mutex::new(());

/// Writes one thread's lines (an error, such as a closed stderr, drops them).
fn write_out(pending: &Mutex<Vec<u8>>) {
    let _writing = locked(&WRITING);
    let batch = {
        let mut buf = locked(pending);
        if buf.is_empty() {
            return;
        }
        // The next batch starts with room for a full one rather than growing to it again.
        let room = buf.capacity().min(2 * FLUSH_AT);
        std::mem::replace(&mut *buf, Vec::with_capacity(room))
    };
    let _ = std::io::stderr().lock().write_all(&batch);
}

/// Writes `line` at once, between batches.
fn write_now(line: &[u8]) {
    let _writing = locked(&WRITING);
    let _ = std::io::stderr().lock().write_all(line);
}

/// Writes every thread's buffered lines. Call before the process exits.
///
/// Lines leave in batches per thread, so lines of different threads can appear up to
/// [`FLUSH_EVERY`] out of the order of their timestamps; each thread's own lines keep theirs.
pub fn flush() {
    let threads = locked(&THREADS).clone();
    for pending in &threads {
        write_out(pending);
    }
}

/// Where every line goes, an event's or the access line's: an append to this thread's
/// [`Pending`].
#[derive(Debug, Clone, Copy)]
struct Buffered;

impl std::io::Write for Buffered {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        if FLUSH_IMMEDIATELY.load(std::sync::atomic::Ordering::Relaxed) {
            write_now(line);
            return Ok(line.len());
        }
        let appended = LINES.try_with(|lines| {
            let full = {
                let mut buf = locked(&lines.0);
                buf.extend_from_slice(line);
                buf.len() >= FLUSH_AT
            };
            if full {
                write_out(&lines.0);
            }
        });
        if appended.is_err() {
            // This thread is ending and its buffer is gone: write the line at once.
            write_now(line);
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

tokio::task_local! {
    /// The id of the request the current task is serving, set by [`in_request`]. A task-local
    /// rather than a span: a span costs the registry's slab, an extension map and an enter/exit
    /// call per poll, about a quarter of a `/health` request's instructions (callgrind,
    /// docs/performance.md); reading a task-local is one thread-local lookup.
    ///
    /// The header's own value: cloning it counts a reference, where a string was an allocation.
    static REQUEST_ID: http::HeaderValue;
}

/// Runs `fut` with `id` as the request id of every event it logs (in this task; a task it
/// spawns does not inherit it, as it did not inherit a span either).
pub fn in_request<F: Future>(id: http::HeaderValue, fut: F) -> impl Future<Output = F::Output> {
    REQUEST_ID.scope(id, fut)
}

/// Runs `f` with `id` as the current request id: [`in_request`] for work done at once.
pub fn in_request_sync<R>(id: http::HeaderValue, f: impl FnOnce() -> R) -> R {
    REQUEST_ID.sync_scope(id, f)
}

/// The request id of the request this task is serving, if any.
pub fn current_request_id() -> Option<http::HeaderValue> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Calls `f` with the current request id, if this task serves a request (and the id is text,
/// which the adapters ensure).
fn with_request_id(f: impl FnOnce(&str)) {
    let _ = REQUEST_ID.try_with(|id| {
        if let Ok(id) = id.to_str() {
            f(id);
        }
    });
}

/// Formats each event into one line and appends it to the buffer: our only formatter (the access
/// line goes through its `compose` too), so no
/// span's fields are formatted unless an event needs them (tracing-subscriber's `fmt` layer
/// formats every span's fields when it is created, which cost more per request than the access
/// line itself).
///
/// Text: `2026-12-01T10:00:00.123Z  INFO message key=value … request_id=…`.
/// JSON (Scaleway Cockpit / Loki): one flat object, `timestamp`, `level` (lowercase),
/// `message`, `request_id`, `target`, then the event's own fields.
#[derive(Debug, Clone, Copy)]
struct LineLayer {
    json: bool,
    color: bool,
}

impl<S> Layer<S> for LineLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        with_scratch(|scratch| self.write_line(event, scratch));
    }
}

/// The buffers a line is formatted in, kept per thread and reused: allocating them for every
/// line cost three `malloc`/`free` pairs per request (callgrind, docs/performance.md).
#[derive(Default)]
struct Scratch {
    line: String,
    fields: String,
    message: String,
    /// A field's `Debug` text before it is escaped as JSON.
    text: String,
}

/// Calls `f` with this thread's [`Scratch`], or with fresh buffers for a line logged while
/// another is being formatted (a field's `Debug` that logs).
fn with_scratch(f: impl FnOnce(&mut Scratch)) {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            f(&mut scratch);
            scratch.trim();
        }
        Err(_) => f(&mut Scratch::default()),
    });
}

impl Scratch {
    /// A line far longer than an access line leaves its buffers as they were.
    fn trim(&mut self) {
        const KEEP: usize = 16 * 1024;
        for buf in [
            &mut self.line,
            &mut self.fields,
            &mut self.message,
            &mut self.text,
        ] {
            if buf.capacity() > KEEP {
                *buf = String::new();
            }
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = const {
        std::cell::RefCell::new(Scratch {
            line: String::new(),
            fields: String::new(),
            message: String::new(),
            text: String::new(),
        })
    };
}

impl LineLayer {
    fn write_line(&self, event: &Event<'_>, scratch: &mut Scratch) {
        let meta = event.metadata();
        self.compose(
            *meta.level(),
            meta.target(),
            &Timestamp::now(),
            scratch,
            |fields| {
                event.record(fields);
            },
        );
        let _ = Buffered.write(scratch.line.as_bytes());
    }

    /// Formats one line into `scratch.line`: `record` writes the message and the fields.
    fn compose(
        &self,
        level: tracing::Level,
        target: &str,
        ts: &Timestamp,
        scratch: &mut Scratch,
        record: impl FnOnce(&mut Fields<'_>),
    ) {
        let Scratch {
            line,
            fields,
            message,
            text,
        } = scratch;
        line.clear();
        fields.clear();
        message.clear();
        line.reserve(256);
        fields.reserve(FIELDS_CAPACITY);
        let mut recorded = Fields {
            json: self.json,
            line: fields,
            message,
            text,
            has_message: false,
        };
        if self.json {
            line.push_str("{\"timestamp\":\"");
            ts.push(line);
            line.push('"');
            line.push_str(",\"level\":\"");
            line.push_str(match level {
                tracing::Level::ERROR => "error",
                tracing::Level::WARN => "warn",
                tracing::Level::INFO => "info",
                tracing::Level::DEBUG => "debug",
                tracing::Level::TRACE => "trace",
            });
            line.push('"');
            record(&mut recorded);
            line.push_str(",\"message\":");
            push_json_str(line, recorded.message);
            with_request_id(|rid| {
                line.push_str(",\"request_id\":");
                push_json_str(line, rid);
            });
            line.push_str(",\"target\":");
            push_json_str(line, target);
            line.push_str(recorded.line);
            line.push_str("}\n");
        } else {
            let name = level.as_str();
            ts.push(line);
            line.push(' ');
            if self.color {
                let code = match level {
                    tracing::Level::ERROR => "31",
                    tracing::Level::WARN => "33",
                    tracing::Level::INFO => "32",
                    _ => "34",
                };
                let _ = write!(line, "\x1b[{code}m{name:>5}\x1b[0m");
            } else {
                // `{level:>5}`: the levels are ASCII, so padding is counting bytes.
                for _ in name.len()..5 {
                    line.push(' ');
                }
                line.push_str(name);
            }
            record(&mut recorded);
            if recorded.has_message {
                line.push(' ');
                line.push_str(recorded.message);
            }
            line.push_str(recorded.line);
            with_request_id(|rid| {
                line.push_str(" request_id=");
                line.push_str(rid);
            });
            line.push('\n');
        }
    }
}

/// One request's access line: what [`access`] logs, in the order it is written.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub function: &'a str,
    pub method: &'a str,
    /// As it may be logged (`Function::loggable_path`).
    pub path: &'a str,
    pub status: u16,
    pub duration_ms: f64,
}

/// The target the access line is logged under: `elbatt::http`, the module that logged it when
/// it was an `info!` in `Finish::finish` (`RUST_LOG=info,elbatt::http=warn` leaves it out).
pub const ACCESS_TARGET: &str = "elbatt::http";

impl Access<'_> {
    /// The fields as `tracing` records them for [`Access::event`]: the message, then the
    /// fields in the order the event names them; `method` and `path` as `Display`.
    fn record(&self, fields: &mut Fields<'_>) {
        fields.message_str("access");
        fields.str("function", self.function);
        fields.display("method", self.method);
        fields.display("path", self.path);
        fields.u64("status", u64::from(self.status));
        fields.f64("duration_ms", self.duration_ms);
    }

    /// The line as a `tracing` event, for a subscriber other than ours.
    fn event(&self) {
        // `%` (Display): the text line writes `method=GET path=/health` unquoted, as it
        // always has; a `str` field would be quoted.
        tracing::info!(
            target: ACCESS_TARGET,
            function = self.function,
            method = %self.method,
            path = %self.path,
            status = self.status,
            duration_ms = self.duration_ms,
            "access"
        );
    }
}

/// Logs one request's access line.
///
/// When our own subscriber would log the event, the line is written straight into this
/// thread's buffer, the same bytes the event would give (a test compares them): `tracing`'s
/// value set, its visitor calls and `core::fmt` for the `Display` fields cost about 735
/// instructions of every request (callgrind, docs/performance.md). Under any other subscriber
/// (a test's, say) it is the `tracing` event, so nothing that installs its own subscriber loses
/// the line.
pub fn access(line: &Access<'_>) {
    match direct_writer() {
        Some(layer) => with_scratch(|scratch| layer.write_access(line, scratch)),
        // Also when the line is filtered out: the event then asks the subscriber and is dropped.
        None => line.event(),
    }
}

/// Our line writer, when the current subscriber is ours and would log the access line.
fn direct_writer() -> Option<LineLayer> {
    // The question `info!` asks, with the event's own kind, target and fields, so that every
    // filter answers it as it would the event: `RUST_LOG` directives on a target or on a field
    // (`elbatt::http[{status}]=warn`, which applies to events only), and per-layer filters.
    let enabled = tracing::enabled!(
        kind: tracing::metadata::Kind::EVENT,
        target: ACCESS_TARGET,
        tracing::Level::INFO,
        message,
        function,
        method,
        path,
        status,
        duration_ms
    );
    if !enabled {
        return None;
    }
    tracing::dispatcher::get_default(|dispatch| dispatch.downcast_ref::<LineLayer>().copied())
}

impl LineLayer {
    fn write_access(&self, access: &Access<'_>, scratch: &mut Scratch) {
        self.compose(
            tracing::Level::INFO,
            ACCESS_TARGET,
            &Timestamp::now(),
            scratch,
            |fields| access.record(fields),
        );
        let _ = Buffered.write(scratch.line.as_bytes());
    }
}

/// When a line was logged: RFC 3339, UTC, milliseconds (`2026-12-01T10:00:00.123Z`).
struct Timestamp {
    secs: u64,
    millis: u32,
}

thread_local! {
    /// The last second formatted on this thread and its text up to the seconds: `time`'s RFC 3339
    /// formatter cost more instructions per access line than the rest of the line, and a busy
    /// thread logs many lines within one second.
    static SECOND: std::cell::RefCell<(u64, String)> =
        const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

impl Timestamp {
    fn now() -> Timestamp {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            secs: since.as_secs(),
            millis: since.subsec_millis(),
        }
    }

    fn push(&self, line: &mut String) {
        SECOND.with(|cell| {
            let mut cached = cell.borrow_mut();
            if cached.0 != self.secs {
                let t = i64::try_from(self.secs)
                    .ok()
                    .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                cached.1.clear();
                let _ = write!(
                    cached.1,
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                );
                cached.0 = self.secs;
            }
            line.push_str(&cached.1);
        });
        // `.{:03}Z` without `core::fmt`.
        let ms = self.millis.min(999);
        line.push('.');
        for digit in [ms / 100, ms / 10 % 10, ms % 10] {
            line.push(char::from(b'0' + u8::try_from(digit).unwrap_or(0)));
        }
        line.push('Z');
    }
}

/// A JSON string literal (serde_json's escaping).
fn push_json_str(line: &mut String, value: &str) {
    if value.bytes().all(plain) {
        line.push('"');
        line.push_str(value);
        line.push('"');
        return;
    }
    match serde_json::to_string(value) {
        Ok(quoted) => line.push_str(&quoted),
        Err(_) => line.push_str("\"\""),
    }
}

/// Where an event's message and fields are written: ` key=value` in a text line, `,"key":value`
/// in a JSON one, the message apart. `tracing`'s events reach it as a [`Visit`]or, the access
/// line ([`access`]) through the same methods, so that both give the same bytes.
struct Fields<'a> {
    json: bool,
    line: &'a mut String,
    message: &'a mut String,
    /// A JSON field's `Debug` text before it is escaped.
    text: &'a mut String,
    has_message: bool,
}

// Numbers and plain strings are written without `core::fmt`: on the access line, the
// formatting machinery for a float, an integer and a `Debug`-escaped string cost more
// instructions than the rest of the request's own code (callgrind, docs/performance.md).
impl Fields<'_> {
    fn key(&mut self, name: &str) {
        if self.json {
            self.line.push(',');
            push_json_str(self.line, name);
            self.line.push(':');
        } else {
            self.line.push(' ');
            self.line.push_str(name);
            self.line.push('=');
        }
    }

    fn message_str(&mut self, value: &str) {
        self.message.push_str(value);
        self.has_message = true;
    }

    /// A string field: quoted as `Debug` quotes it in text, a JSON string in JSON.
    fn str(&mut self, name: &str, value: &str) {
        if self.json {
            self.key(name);
            push_json_str(self.line, value);
        } else if value.bytes().all(plain) {
            // What `{value:?}` would print, without escaping each character.
            self.key(name);
            self.line.push('"');
            self.line.push_str(value);
            self.line.push('"');
        } else {
            let _ = write!(self.line, " {name}={value:?}");
        }
    }

    /// A field recorded with `%`, given its `Display` text: as it is in text, a JSON string in
    /// JSON.
    fn display(&mut self, name: &str, text: &str) {
        self.key(name);
        if self.json {
            push_json_str(self.line, text);
        } else {
            self.line.push_str(text);
        }
    }

    fn u64(&mut self, name: &str, value: u64) {
        self.key(name);
        self.line.push_str(itoa::Buffer::new().format(value));
    }

    fn f64(&mut self, name: &str, value: f64) {
        self.key(name);
        if value.is_finite() {
            push_finite(self.line, value);
        } else if self.json {
            self.line.push_str("null");
        } else {
            let _ = write!(self.line, "{value:?}");
        }
    }
}

impl Visit for Fields<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.u64(field.name(), value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field.name());
        self.line.push_str(itoa::Buffer::new().format(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.f64(field.name(), value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field.name());
        self.line.push_str(if value { "true" } else { "false" });
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message_str(value);
        } else {
            self.str(field.name(), value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
            self.has_message = true;
        } else if self.json {
            self.text.clear();
            let _ = write!(self.text, "{value:?}");
            self.key(field.name());
            push_json_str(self.line, self.text);
        } else {
            // The key pushed as text and only the value formatted: one argument for
            // `core::fmt` where three cost twice as many instructions.
            self.key(field.name());
            let _ = write!(self.line, "{value:?}");
        }
    }
}

/// A finite float as `Debug` prints it (`0.05`, `1.0`, `12.5`). Durations in milliseconds
/// rounded to hundredths, every access line's case, are written digit by digit; `ryu` (the
/// same text as `Debug`, faster) takes the rest.
fn push_finite(line: &mut String, value: f64) {
    let hundredths = (value * 100.0).round();
    // Below 1e12 the nearest double to k/100 prints as k/100 with trailing zeros dropped:
    // no shorter decimal lies within half a unit in the last place of it.
    if value.is_sign_positive() && hundredths < 1e12 && hundredths / 100.0 == value {
        // The range check makes the cast exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let k = hundredths as u64;
        line.push_str(itoa::Buffer::new().format(k / 100));
        line.push('.');
        let (tens, ones) = (k / 10 % 10, k % 10);
        line.push(char::from(b'0' + u8::try_from(tens).unwrap_or(0)));
        if ones != 0 {
            line.push(char::from(b'0' + u8::try_from(ones).unwrap_or(0)));
        }
        return;
    }
    line.push_str(ryu::Buffer::new().format_finite(value));
}

/// A byte that `Debug` prints as itself inside a quoted string.
fn plain(b: u8) -> bool {
    b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' '
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threads_lines_are_written_when_it_ends_and_its_buffer_forgotten() {
        let pending = std::thread::spawn(|| {
            let _ = Buffered.write(b"(telemetry test: a line written as its thread ended)\n");
            LINES.with(|lines| Arc::clone(&lines.0))
        })
        .join()
        .unwrap();
        if FLUSH_IMMEDIATELY.load(std::sync::atomic::Ordering::Relaxed) {
            return; // no buffers in this mode
        }
        assert!(
            locked(&pending).is_empty(),
            "written out when the thread ended"
        );
        assert!(
            !locked(&THREADS).iter().any(|p| Arc::ptr_eq(p, &pending)),
            "an ended thread's buffer stays registered"
        );
    }

    #[test]
    fn flush_writes_the_lines_of_threads_that_are_still_running() {
        let (logged, wait) = std::sync::mpsc::channel();
        let (done, finish) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _ = Buffered.write(b"(telemetry test: a line flushed from a running thread)\n");
            logged
                .send(LINES.with(|lines| Arc::clone(&lines.0)))
                .unwrap();
            finish.recv().unwrap();
        });
        let pending = wait.recv().unwrap();
        if !FLUSH_IMMEDIATELY.load(std::sync::atomic::Ordering::Relaxed) {
            assert!(
                locked(&THREADS).iter().any(|p| Arc::ptr_eq(p, &pending)),
                "a running thread's buffer is registered"
            );
            flush();
            assert!(
                locked(&pending).is_empty(),
                "flush wrote the running thread's lines"
            );
        }
        done.send(()).unwrap();
        thread.join().unwrap();
    }

    #[test]
    fn plain_strings_are_written_as_debug_would_write_them() {
        for s in [
            "GET",
            "/plate-lookup/{plate}",
            "a b",
            "x:y=1",
            "ANY /{proxy+}",
        ] {
            assert!(s.bytes().all(plain), "{s}");
            assert_eq!(format!("\"{s}\""), format!("{s:?}"));
        }
        // Anything Debug would escape takes the slow path.
        for s in ["a\"b", "a\\b", "bløtt", "a\nb", "tab\there", "\u{7f}"] {
            assert!(!s.bytes().all(plain), "{s:?}");
        }
    }

    #[test]
    fn floats_are_written_as_debug_would_write_them() {
        let check = |v: f64| {
            let mut line = String::new();
            push_finite(&mut line, v);
            assert_eq!(line, format!("{v:?}"));
        };
        for v in [
            0.0,
            -0.0,
            0.05,
            0.5,
            1.0,
            12.34,
            1234.5,
            0.1 + 0.2,
            1e-7,
            1e16,
            1e12,
            99_999.99,
            -0.05,
            -12.5,
            0.005,
            0.015,
        ] {
            check(v);
        }
        // Every duration an access line can carry below 20 minutes, in hundredths of a ms.
        for k in 0..120_000_000_u64 / 997 {
            let k = k * 997;
            #[allow(clippy::cast_precision_loss)]
            check((k as f64) / 100.0);
        }
        for ms in [0.000_4_f64, 0.123_456, 7.777_7, 59_999.994_9] {
            check((ms * 1e5).round() / 100.0);
            check(ms);
        }
    }

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds_and_follow_the_second() {
        // 2026-12-01T09:30:00Z
        let at = |secs, millis| {
            let mut line = String::new();
            Timestamp { secs, millis }.push(&mut line);
            line
        };
        assert_eq!(at(1_796_117_400, 7), "2026-12-01T09:30:00.007Z");
        assert_eq!(at(1_796_117_400, 999), "2026-12-01T09:30:00.999Z");
        // The cached second is replaced, not reused, when the second changes.
        assert_eq!(at(1_796_117_401, 0), "2026-12-01T09:30:01.000Z");
        assert_eq!(
            at(1_796_117_400 + 86_400 * 31, 120),
            "2027-01-01T09:30:00.120Z"
        );
    }

    /// Formats each event as [`LineLayer`] does, at a fixed time, and keeps the lines.
    struct Capture {
        layer: LineLayer,
        lines: Arc<Mutex<Vec<String>>>,
    }

    const AT: Timestamp = Timestamp {
        secs: 1_796_117_400,
        millis: 7,
    };

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            let mut scratch = Scratch::default();
            let meta = event.metadata();
            self.layer
                .compose(*meta.level(), meta.target(), &AT, &mut scratch, |fields| {
                    event.record(fields);
                });
            locked(&self.lines).push(scratch.line);
        }
    }

    /// `access` as the direct path writes it, at [`AT`], in the current request's scope.
    fn composed(access: &Access<'_>, json: bool) -> String {
        let mut scratch = Scratch::default();
        LineLayer { json, color: false }.compose(
            tracing::Level::INFO,
            ACCESS_TARGET,
            &AT,
            &mut scratch,
            |fields| access.record(fields),
        );
        scratch.line
    }

    #[test]
    fn the_access_line_written_directly_is_the_line_its_event_gives() {
        let paths = [
            ("/health", 0.05),
            ("/plate-lookup/EC*****", 1234.5),
            ("/a b\"c/\u{f8}\\", 0.0),
            ("/x", f64::NAN),
        ];
        for json in [false, true] {
            for (path, duration_ms) in paths {
                let access = Access {
                    function: "plate-lookup",
                    method: "GET",
                    path,
                    status: 404,
                    duration_ms,
                };
                let layer = LineLayer { json, color: false };
                let lines = Arc::default();
                let subscriber = tracing_subscriber::registry().with(Capture {
                    layer,
                    lines: Arc::clone(&lines),
                });
                let id = http::HeaderValue::from_static("rid-7");
                in_request_sync(id.clone(), || {
                    tracing::subscriber::with_default(subscriber, || access.event());
                });
                let direct = in_request_sync(id, || composed(&access, json));
                let from_event = locked(&lines).pop().expect("the event was logged");
                assert_eq!(direct, from_event, "json: {json}");
                assert!(direct.contains("rid-7"), "{direct}");
            }
        }
        // The text line as it has always looked.
        let access = Access {
            function: "health",
            method: "GET",
            path: "/health",
            status: 200,
            duration_ms: 0.05,
        };
        assert_eq!(
            composed(&access, false),
            "2026-12-01T09:30:00.007Z  INFO access function=\"health\" method=GET path=/health \
             status=200 duration_ms=0.05\n"
        );
    }

    #[test]
    fn the_access_line_is_written_directly_exactly_when_our_subscriber_would_log_its_event() {
        let line = Access {
            function: "health",
            method: "GET",
            path: "/health",
            status: 200,
            duration_ms: 0.05,
        };
        for directives in [
            "info",
            "warn",
            "debug",
            "info,elbatt::http=warn",
            "warn,elbatt=debug",
            "off,elbatt::http=info",
            // Directives on a field: `Targets::would_enable` ignores them, the event does not.
            "info,elbatt::http[{status}]=warn",
            "info,[{duration_ms}]=off",
            "warn,[{function}]=info",
            "info,elbatt::http[{absent}]=warn",
        ] {
            let filter = || directives.parse::<Targets>().expect("a valid RUST_LOG");
            // Whether the event is logged, asked of a subscriber that records what it logs.
            let lines = Arc::default();
            let recording = tracing_subscriber::registry().with(filter()).with(Capture {
                layer: LineLayer {
                    json: false,
                    color: false,
                },
                lines: Arc::clone(&lines),
            });
            tracing::subscriber::with_default(recording, || line.event());
            let logged = !locked(&lines).is_empty();
            let ours = tracing_subscriber::registry()
                .with(filter())
                .with(LineLayer {
                    json: true,
                    color: false,
                });
            let direct = tracing::subscriber::with_default(ours, direct_writer);
            assert_eq!(direct.is_some(), logged, "RUST_LOG={directives}");
            assert!(
                direct.is_none_or(|layer| layer.json),
                "our layer's own settings"
            );
        }
        // Any other subscriber gets the event.
        let other = tracing_subscriber::fmt().finish();
        assert!(tracing::subscriber::with_default(other, direct_writer).is_none());
    }

    #[test]
    fn the_json_access_line_is_one_flat_object() {
        let access = Access {
            function: "plate-lookup",
            method: "GET",
            path: "/plate-lookup/EC*****",
            status: 429,
            duration_ms: 12.5,
        };
        assert_eq!(
            in_request_sync(http::HeaderValue::from_static("rid-9"), || {
                composed(&access, true)
            }),
            "{\"timestamp\":\"2026-12-01T09:30:00.007Z\",\"level\":\"info\",\"message\":\"access\",\
             \"request_id\":\"rid-9\",\"target\":\"elbatt::http\",\"function\":\"plate-lookup\",\
             \"method\":\"GET\",\"path\":\"/plate-lookup/EC*****\",\"status\":429,\"duration_ms\":12.5}\n"
        );
    }

    #[tokio::test]
    async fn the_request_id_is_seen_inside_the_request_and_not_outside() {
        assert!(current_request_id().is_none());
        let seen = in_request(http::HeaderValue::from_static("req-1"), async {
            tokio::task::yield_now().await;
            current_request_id()
        })
        .await;
        assert_eq!(seen.as_ref().map(|v| v.as_bytes()), Some(&b"req-1"[..]));
        assert!(current_request_id().is_none());
    }
}
