//! LLM debug logs (docs/llm-debug-logs.md): with `LLM_DEBUG_DIR` set, every model call's
//! request, response and stream transcript are written to files per conversation and turn,
//! redacted, bounded in total size and age, never served over HTTP.
//!
//! Why it looks like this (the sibling system's logger had no redaction, no retention and was
//! browsable over HTTP):
//! - **Off the request path.** A call hands one record to a bounded queue (count and bytes)
//!   read by one writer thread, started on the first record; a full queue drops the record and
//!   counts it, so a slow disk never holds a turn up. Redaction, formatting and file I/O all
//!   happen on that thread. With the logs off a call pays one `Option` check.
//! - **No capability on disk.** A conversation id is a bearer capability (whoever has it reads
//!   the conversation), so folders are named `c-` + the first 16 hex digits of its SHA-256:
//!   unkeyed, because the id's 244 random bits already make it irreversible, and an operator
//!   holding an id a user gave them can still find its folder (`printf %s "$ID" | sha256sum`).
//!   Turns are named by their start time (UTC) and a process sequence number: no client text
//!   ever becomes part of a path, so nothing needs sanitising.
//! - **Redaction before writing.** Every configured secret — the LLM and Statens vegvesen keys,
//!   the admin and edit tokens, every other secret the function declares, the password inside
//!   `DATABASE_URL` — is collected once at start and replaced (whole, JSON-escaped, and any 8
//!   characters of it through `elbatt::outbound::redact`, which also removes key-like words and
//!   the credential after `Bearer`/`Authorization:`). The `Authorization` header is never
//!   recorded at all. A secret a streamed reply spreads over several chunks cannot be seen in any
//!   one chunk: when the joined text of a call's chunks needs redacting, the transcript keeps
//!   the chunks' shape and drops their text (the response file has the whole, redacted text).
//! - **Bounds.** Files older than `LLM_DEBUG_MAX_AGE_SECS` and, past `LLM_DEBUG_MAX_BYTES` in
//!   total, the oldest files are removed after every write and once a minute (the folder is
//!   rescanned then, so files of an earlier run or another process count too). Folders 0700,
//!   files 0600.
//! - **Never on a platform that cannot keep them.** The Lambda runtime (`AWS_LAMBDA_RUNTIME_API`)
//!   and Scaleway Functions zips (built without this crate's default `debug-log` feature, see
//!   scripts/function-zip/generate.py) ignore `LLM_DEBUG_DIR` with a warning at start.

use std::collections::VecDeque;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use elbatt::config::{ConfigError, Env, VarSpec, optional, var};
use elbatt::http::Function;
use elbatt::outbound::redact::{self, REDACTED};
use serde_json::{Value, json};

use super::LlmError;
use super::stream::Completion;
use super::wire::ChatRequest;

pub const LLM_DEBUG_DIR: VarSpec = optional(
    "LLM_DEBUG_DIR",
    "write every model call's request, response and stream, redacted, per conversation and turn under this directory (runner and container only; never served; holds personal data: docs/llm-debug-logs.md)",
);
pub const LLM_DEBUG_MAX_BYTES: VarSpec = var(
    "LLM_DEBUG_MAX_BYTES",
    "104857600",
    "total size of the LLM debug logs; the oldest files are removed first",
);
pub const LLM_DEBUG_MAX_AGE_SECS: VarSpec = var(
    "LLM_DEBUG_MAX_AGE_SECS",
    "259200",
    "LLM debug log files older than this are removed (default 3 days)",
);

/// The debug logs' variables.
pub const VARIABLES: &[VarSpec] = &[LLM_DEBUG_DIR, LLM_DEBUG_MAX_BYTES, LLM_DEBUG_MAX_AGE_SECS];

/// Secrets collected even when no `VarSpec` of this function declares them (the store's and
/// the scenarios' may be read by other crates).
const SECRET_NAMES: [&str; 6] = [
    "OPENAI_API_KEY",
    "LLM_API_KEY",
    "VEGVESEN_API_KEY",
    "ADMIN_TOKEN",
    "PUBLISHED_EDIT_TOKEN",
    "DATABASE_URL",
];

/// Shorter secrets are not replaced: a 3-letter "secret" would blank ordinary words.
const MIN_SECRET_CHARS: usize = 4;
/// Records waiting for the writer, at most.
const QUEUE_RECORDS: usize = 256;
/// Bytes of records waiting for the writer, at most (a record is a few KiB; a transcript can
/// reach the 4 MiB stream cap).
const QUEUE_BYTES: usize = 16 * 1024 * 1024;
/// How often the writer enforces the bounds when idle (and rescans the folder).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Where and how much: read once at start. `Some` only on a platform that may write.
#[derive(Clone)]
pub struct DebugConfig {
    dir: PathBuf,
    max_bytes: u64,
    max_age: Duration,
    secrets: Arc<Vec<String>>,
}

impl std::fmt::Debug for DebugConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebugConfig")
            .field("dir", &self.dir)
            .field("max_bytes", &self.max_bytes)
            .field("max_age", &self.max_age)
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl DebugConfig {
    /// The settings, with the directory created (0700). Also registers every configured secret
    /// with `elbatt::outbound::redact`, logs on or off, so upstream text echoing one is redacted
    /// in log lines too.
    ///
    /// # Errors
    /// A malformed bound, or a directory that cannot be created; the error names the variable.
    pub fn from_env(env: &Env) -> Result<Option<DebugConfig>, ConfigError> {
        let secrets = collect_secrets(env);
        for s in &secrets {
            redact::register_secret(s);
        }
        let max_bytes: u64 = env.value(&LLM_DEBUG_MAX_BYTES)?;
        let max_age = env.duration(&LLM_DEBUG_MAX_AGE_SECS)?;
        if max_bytes == 0 {
            return Err(ConfigError::new(
                LLM_DEBUG_MAX_BYTES.name,
                "must be at least 1",
            ));
        }
        let Some(dir) = env.get(LLM_DEBUG_DIR.name) else {
            return Ok(None);
        };
        if !cfg!(feature = "debug-log") {
            tracing::warn!(
                "LLM_DEBUG_DIR is ignored: Scaleway Functions builds never write LLM debug logs"
            );
            return Ok(None);
        }
        if elbatt::runtime::Mode::detect(env) == elbatt::runtime::Mode::Lambda {
            tracing::warn!(
                "LLM_DEBUG_DIR is ignored: the Lambda runtime never writes LLM debug logs"
            );
            return Ok(None);
        }
        let dir = PathBuf::from(dir.trim());
        create_private_dir(&dir).map_err(|e| {
            ConfigError::new(
                LLM_DEBUG_DIR.name,
                format!("cannot create {}: {e}", dir.display()),
            )
        })?;
        tracing::info!(
            dir = %dir.display(),
            max_bytes,
            max_age_secs = max_age.as_secs(),
            "LLM debug logs on: every model call is written there (redacted; holds personal data)"
        );
        Ok(Some(DebugConfig {
            dir,
            max_bytes,
            max_age,
            secrets: Arc::new(secrets),
        }))
    }
}

/// Every configured secret's value: the secrets this function and the server (`METRICS_TOKEN`)
/// declare plus [`SECRET_NAMES`];
/// of a URL (`DATABASE_URL`) only its password, since the whole URL would make ordinary
/// words (`postgres`, the host) count as fragments of a secret.
fn collect_secrets(env: &Env) -> Vec<String> {
    let declared = <crate::Chat as Function>::VARIABLES
        .iter()
        .chain([elbatt::config::VARIABLES, elbatt::metrics::VARIABLES].iter())
        .flat_map(|vars| vars.iter())
        .filter(|v| v.secret)
        .map(|v| v.name);
    let mut out: Vec<String> = Vec::new();
    for name in declared.chain(SECRET_NAMES) {
        let Some(value) = env.get(name).map(str::trim) else {
            continue;
        };
        let value = match value.split_once("://") {
            Some((_, rest)) => match url_password(rest) {
                Some(p) => p,
                None => continue,
            },
            None => value.to_owned(),
        };
        if value.chars().count() >= MIN_SECRET_CHARS && !out.contains(&value) {
            out.push(value);
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// The password of `user:password@host/…` (what follows `scheme://`), percent-decoded, or a
/// `password=` query parameter.
fn url_password(rest: &str) -> Option<String> {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let from_userinfo = authority
        .rsplit_once('@')
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, p)| p);
    let from_query = rest
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("password=")));
    from_userinfo
        .or(from_query)
        .filter(|p| !p.is_empty())
        .map(percent_decode)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || -> Option<u8> {
            let h = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            u8::from_str_radix(h, 16).ok()
        };
        match (bytes[i], hex()) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // An existing directory (a volume mounted 0755) is tightened too.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

tokio::task_local! {
    static TURN: TurnTag;
}

/// Which conversation and turn the model calls of the current task belong to.
#[derive(Debug)]
struct TurnTag {
    conversation: Option<String>,
    started: SystemTime,
    seq: u64,
    calls: AtomicU32,
}

/// Runs `turn` (one chat turn: the assistant's model calls) as turn of `conversation_id`
/// (`None`: stateless), so each model call's debug files land in that turn's folder. The tag is
/// a task-local: it reaches the client through the assistant without a parameter on every
/// function between them. Costs one small allocation when the logs are off.
pub fn in_turn<F: Future>(
    conversation_id: Option<String>,
    turn: F,
) -> impl Future<Output = F::Output> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    TURN.scope(
        TurnTag {
            conversation: conversation_id,
            started: SystemTime::now(),
            seq: SEQ.fetch_add(1, Ordering::Relaxed) + 1,
            calls: AtomicU32::new(0),
        },
        turn,
    )
}

/// The debug log of one chat instance: its settings and the writer thread's queue.
#[derive(Debug, Clone)]
pub struct DebugLog {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    cfg: Arc<DebugConfig>,
    /// Started with the first record; `None` when the thread could not be started.
    queue: OnceLock<Option<SyncSender<Box<Entry>>>>,
    /// Bytes of records waiting for the writer.
    queued_bytes: Arc<AtomicUsize>,
    dropped: AtomicU64,
}

impl DebugLog {
    pub fn new(cfg: DebugConfig) -> DebugLog {
        DebugLog {
            shared: Arc::new(Shared {
                cfg: Arc::new(cfg),
                queue: OnceLock::new(),
                queued_bytes: Arc::new(AtomicUsize::new(0)),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// Records dropped because the queue was full (or the writer gone).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Starts the record of one model call (one HTTP request to the provider).
    pub(crate) fn start(
        &self,
        url: &str,
        extra_headers: &[(String, String)],
        request: &ChatRequest,
    ) -> CallRecord {
        let (conversation, turn_started, turn_seq, call) = TURN
            .try_with(|t| {
                (
                    t.conversation.clone(),
                    Some(t.started),
                    t.seq,
                    t.calls.fetch_add(1, Ordering::Relaxed) + 1,
                )
            })
            .unwrap_or((None, None, 0, 1));
        let mut request_headers = vec![
            // The header is recorded without its value: the key never enters a record.
            ("authorization".to_owned(), format!("Bearer {REDACTED}")),
            ("accept".to_owned(), "text/event-stream".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ];
        request_headers.extend(extra_headers.iter().cloned());
        CallRecord {
            shared: Arc::clone(&self.shared),
            started: Instant::now(),
            entry: Some(Box::new(Entry {
                conversation,
                turn_started,
                turn_seq,
                call,
                started: SystemTime::now(),
                elapsed: Duration::ZERO,
                url: url.to_owned(),
                request_headers,
                request_body: serde_json::to_string(request).unwrap_or_default(),
                status: None,
                response_headers: Vec::new(),
                body: Vec::new(),
                transcript: Vec::new(),
                outcome: Outcome::Abandoned,
            })),
        }
    }
}

/// One model call as recorded; redacted and written by the writer thread.
#[derive(Debug)]
struct Entry {
    conversation: Option<String>,
    /// `None`: a call outside any turn.
    turn_started: Option<SystemTime>,
    turn_seq: u64,
    call: u32,
    started: SystemTime,
    elapsed: Duration,
    url: String,
    request_headers: Vec<(String, String)>,
    request_body: String,
    status: Option<u16>,
    response_headers: Vec<(String, String)>,
    /// An error body, or a whole JSON answer from a server that ignored `stream: true`.
    body: Vec<u8>,
    /// The SSE body as received.
    transcript: Vec<u8>,
    outcome: Outcome,
}

#[derive(Debug)]
enum Outcome {
    Answered(Box<Completion>),
    Failed(String),
    /// The call's future was dropped before it ended.
    Abandoned,
}

impl Entry {
    fn size(&self) -> usize {
        self.request_body.len() + self.body.len() + self.transcript.len() + 1024
    }
}

/// The record of one model call in progress; sent to the writer when finished or dropped.
#[derive(Debug)]
pub(crate) struct CallRecord {
    shared: Arc<Shared>,
    started: Instant,
    entry: Option<Box<Entry>>,
}

impl CallRecord {
    pub(crate) fn response_head(&mut self, status: u16, headers: &http::HeaderMap) {
        if let Some(e) = &mut self.entry {
            e.status = Some(status);
            e.response_headers = headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
        }
    }

    pub(crate) fn body(&mut self, bytes: &[u8]) {
        if let Some(e) = &mut self.entry {
            e.body.extend_from_slice(bytes);
        }
    }

    /// Where the stream's bytes are copied as they arrive.
    pub(crate) fn transcript(&mut self) -> Option<&mut Vec<u8>> {
        self.entry.as_mut().map(|e| &mut e.transcript)
    }

    pub(crate) fn finish(mut self, result: &Result<Completion, LlmError>) {
        if let Some(e) = &mut self.entry {
            e.outcome = match result {
                Ok(c) => Outcome::Answered(Box::new(c.clone())),
                Err(err) => Outcome::Failed(err.to_string()),
            };
        }
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        let Some(mut entry) = self.entry.take() else {
            return;
        };
        entry.elapsed = self.started.elapsed();
        self.shared.send(entry);
    }
}

impl Shared {
    fn send(&self, entry: Box<Entry>) {
        let size = entry.size();
        let queue = self.queue.get_or_init(|| self.start_writer());
        let accepted = match queue {
            Some(tx)
                if self.queued_bytes.fetch_add(size, Ordering::AcqRel) + size <= QUEUE_BYTES =>
            {
                match tx.try_send(entry) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                        self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
                        false
                    }
                }
            }
            Some(_) => {
                self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
                false
            }
            None => false,
        };
        if !accepted {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped == 1 || dropped % 100 == 0 {
                tracing::warn!(
                    dropped_total = dropped,
                    "LLM debug log queue full: a model call was not written"
                );
            }
        }
    }

    fn start_writer(&self) -> Option<SyncSender<Box<Entry>>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_RECORDS);
        let cfg = Arc::clone(&self.cfg);
        let queued = Arc::clone(&self.queued_bytes);
        let spawned = std::thread::Builder::new()
            .name("llm-debug".to_owned())
            .spawn(move || Writer::new(cfg).run(&rx, &queued));
        match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::warn!(error = %e, "LLM debug logs off: cannot start the writer thread");
                None
            }
        }
    }
}

/// The writer thread: redacts, writes, enforces the bounds. Ends when the instance is dropped.
struct Writer {
    cfg: Arc<DebugConfig>,
    files: Retention,
}

impl Writer {
    fn new(cfg: Arc<DebugConfig>) -> Writer {
        let files = Retention::scan(&cfg.dir);
        Writer { cfg, files }
    }

    fn run(mut self, rx: &Receiver<Box<Entry>>, queued: &AtomicUsize) {
        self.files.enforce(&self.cfg);
        let mut last_sweep = Instant::now();
        loop {
            match rx.recv_timeout(SWEEP_EVERY) {
                Ok(entry) => {
                    queued.fetch_sub(entry.size(), Ordering::AcqRel);
                    if let Err(e) = self.write(&entry) {
                        tracing::warn!(error = %e, "LLM debug log not written");
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if last_sweep.elapsed() >= SWEEP_EVERY {
                self.files = Retention::scan(&self.cfg.dir);
                last_sweep = Instant::now();
            }
            self.files.enforce(&self.cfg);
        }
    }

    fn write(&mut self, e: &Entry) -> std::io::Result<()> {
        let group = match &e.conversation {
            Some(id) => format!("c-{}", conversation_hash(id)),
            None if e.turn_started.is_some() => "stateless".to_owned(),
            None => "untagged".to_owned(),
        };
        let turn = format!(
            "{}-{}-{}",
            utc_stamp(e.turn_started.unwrap_or(e.started)),
            std::process::id(),
            e.turn_seq
        );
        let dir = self.cfg.dir.join(group).join(turn);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let secrets = Arc::clone(&self.cfg.secrets);
        let body: Value = serde_json::from_str(&e.request_body).unwrap_or(Value::Null);
        let mut request = json!({
            "headers": headers_json(&e.request_headers),
            "body": body,
        });
        scrub_json(&mut request, &secrets);
        // Our own setting, not upstream text: only whole secrets (the key-like rule would take
        // the port and path for a key).
        request["url"] = Value::String(replace_whole(&e.url, &secrets));
        self.file(
            &dir.join(format!("{:02}-request.json", e.call)),
            &pretty(&request),
        )?;
        let (outcome, error, completion) = match &e.outcome {
            Outcome::Answered(c) => ("answered", None, Some(completion_json(c))),
            Outcome::Failed(err) => ("failed", Some(err.as_str()), None),
            Outcome::Abandoned => ("abandoned", None, None),
        };
        let mut response = json!({
            "call": e.call,
            "started": utc_stamp(e.started),
            "elapsed_ms": e.elapsed.as_millis() as u64,
            "status": e.status,
            "headers": headers_json(&e.response_headers),
            "outcome": outcome,
            "error": error,
            "completion": completion,
            "body": (!e.body.is_empty()).then(|| String::from_utf8_lossy(&e.body).into_owned()),
        });
        scrub_json(&mut response, &secrets);
        self.file(
            &dir.join(format!("{:02}-response.json", e.call)),
            &pretty(&response),
        )?;
        if !e.transcript.is_empty() {
            let transcript = String::from_utf8_lossy(&e.transcript);
            self.file(
                &dir.join(format!("{:02}-stream.sse", e.call)),
                &scrub_transcript(&transcript, &secrets),
            )?;
        }
        Ok(())
    }

    /// Writes one file (0600), cut at the total bound, and counts it.
    fn file(&mut self, path: &Path, text: &str) -> std::io::Result<()> {
        let limit = usize::try_from(self.cfg.max_bytes).unwrap_or(usize::MAX);
        let text = if text.len() > limit {
            let mut cut = limit.saturating_sub(32);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}\n[cut at LLM_DEBUG_MAX_BYTES]\n", &text[..cut])
        } else {
            text.to_owned()
        };
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())?;
        self.files.add(path.to_owned(), text.len() as u64);
        Ok(())
    }
}

/// The folder name part of a conversation: 64 bits of its SHA-256, in hex.
pub fn conversation_hash(id: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn utc_stamp(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let format = time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
    );
    t.format(&format).unwrap_or_default()
}

fn headers_json(headers: &[(String, String)]) -> Value {
    Value::Array(
        headers
            .iter()
            .map(|(k, v)| {
                // Credentials a proxy or provider might send back are dropped whole.
                let sensitive = matches!(
                    k.to_ascii_lowercase().as_str(),
                    "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "x-api-key"
                );
                let v = if sensitive && !v.ends_with(REDACTED) {
                    REDACTED
                } else {
                    v
                };
                json!([k, v])
            })
            .collect(),
    )
}

fn completion_json(c: &Completion) -> Value {
    json!({
        "model": c.model,
        "text": c.text,
        "tool_calls": c.tool_calls.iter().map(|t| json!({
            "id": t.id, "name": t.name, "arguments": t.arguments,
        })).collect::<Vec<_>>(),
        "usage": c.usage,
        "finish_reason": c.finish_reason,
    })
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// `text` with every secret replaced: whole (as written and JSON-escaped), then through
/// `redact` (fragments of 8 characters, masked keys, key-like words, credentials after
/// `Bearer` and labels).
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let text = replace_whole(text, secrets);
    // `redact` tries every 8-character window of every secret on every word, allocating each:
    // 2.5 ms a call for two secrets. A window or tail it could match must occur in the text, so
    // a text holding none (nearly all) gets the key-like rules alone, with the same result.
    if secrets.iter().any(|s| holds_fragment(&text, s)) {
        redact::redact_with(&text, secrets)
    } else {
        redact::redact_with::<&str>(&text, &[])
    }
}

/// Whether `text` holds 8 characters in a row of `secret`, or its last 4: what `redact` looks
/// for (it ignores secrets shorter than 8 characters).
fn holds_fragment(text: &str, secret: &str) -> bool {
    let secret = secret.trim();
    let bounds: Vec<usize> = secret
        .char_indices()
        .map(|(i, _)| i)
        .chain([secret.len()])
        .collect();
    let chars = bounds.len() - 1;
    if chars < 8 {
        return false;
    }
    text.contains(&secret[bounds[chars - 4]..])
        || (0..=chars - 8).any(|i| text.contains(&secret[bounds[i]..bounds[i + 8]]))
}

/// Every string of `v` scrubbed; the value of a credential-named field (`api_key`, `token`,
/// `password`, …) replaced whole. String by string, so a secret's JSON escaping does not
/// matter and no rule reads across two fields.
fn scrub_json(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) => *s = scrub(s, secrets),
        Value::Array(items) => items.iter_mut().for_each(|x| scrub_json(x, secrets)),
        Value::Object(fields) => {
            for (k, x) in fields.iter_mut() {
                if x.is_string() && names_credential(k) {
                    *x = Value::String(REDACTED.to_owned());
                } else {
                    scrub_json(x, secrets);
                }
            }
        }
        _ => {}
    }
}

fn names_credential(field: &str) -> bool {
    let field = field.to_ascii_lowercase();
    [
        "key",
        "apikey",
        "token",
        "secret",
        "password",
        "authorization",
    ]
    .iter()
    .any(|w| {
        field
            .strip_suffix(w)
            .is_some_and(|p| p.is_empty() || p.ends_with(['-', '_']))
    })
}

/// `text` with each secret, as written and JSON-escaped, replaced.
fn replace_whole(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        let escaped = serde_json::to_string(s).unwrap_or_default();
        let escaped = escaped.trim_matches('"');
        for form in [s.as_str(), escaped] {
            if !form.is_empty() && out.contains(form) {
                out = out.replace(form, REDACTED);
            }
        }
    }
    out
}

/// A stream transcript, scrubbed line by line; if the text its chunks carry needs redacting
/// only once joined (a secret spread over several chunks), that text is dropped from every
/// chunk.
fn scrub_transcript(transcript: &str, secrets: &[String]) -> String {
    let mut joined = String::new();
    let mut chunks: Vec<Option<Value>> = Vec::new();
    for line in transcript.lines() {
        let parsed = line
            .strip_prefix("data:")
            .and_then(|d| serde_json::from_str::<Value>(d.trim()).ok());
        if let Some(v) = &parsed {
            for_each_text(v, &mut |s| joined.push_str(s));
        }
        chunks.push(parsed);
    }
    let spread = scrub(&joined, secrets) != joined;
    let mut out = String::with_capacity(transcript.len());
    for (line, parsed) in transcript.lines().zip(chunks) {
        match parsed {
            Some(mut v) if spread => {
                blank_text(&mut v);
                out.push_str("data: ");
                out.push_str(&scrub(&v.to_string(), secrets));
            }
            _ => out.push_str(&scrub(line, secrets)),
        }
        out.push('\n');
    }
    if spread {
        out.push_str(&format!(
            ": the chunks' text is left out here ({REDACTED} in it once joined); see the response file\n"
        ));
    }
    out
}

/// The text pieces of a chunk: content, reasoning and tool-call argument deltas.
fn for_each_text(chunk: &Value, f: &mut dyn FnMut(&str)) {
    for choice in chunk["choices"].as_array().into_iter().flatten() {
        let delta = &choice["delta"];
        for key in ["content", "reasoning", "reasoning_content", "refusal"] {
            if let Some(s) = delta[key].as_str() {
                f(s);
            }
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            if let Some(s) = call["function"]["arguments"].as_str() {
                f(s);
            }
        }
    }
}

fn blank_text(chunk: &mut Value) {
    let Some(choices) = chunk.get_mut("choices").and_then(Value::as_array_mut) else {
        return;
    };
    for choice in choices {
        let Some(delta) = choice.get_mut("delta") else {
            continue;
        };
        for key in ["content", "reasoning", "reasoning_content", "refusal"] {
            if delta.get(key).is_some_and(Value::is_string) {
                delta[key] = Value::String(String::new());
            }
        }
        if let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) {
            for call in calls {
                if call["function"]
                    .get("arguments")
                    .is_some_and(Value::is_string)
                {
                    call["function"]["arguments"] = Value::String(String::new());
                }
            }
        }
    }
}

/// The files written so far, oldest first, and their total size.
#[derive(Debug, Default)]
struct Retention {
    root: PathBuf,
    files: VecDeque<(SystemTime, PathBuf, u64)>,
    total: u64,
}

impl Retention {
    /// The files under `root` (three levels: group, turn, file), oldest first.
    fn scan(root: &Path) -> Retention {
        let mut files = Vec::new();
        let mut dirs = vec![(root.to_owned(), 0)];
        while let Some((dir, depth)) = dirs.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if meta.is_dir() && depth < 2 {
                    dirs.push((entry.path(), depth + 1));
                } else if meta.is_file() {
                    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    files.push((modified, entry.path(), meta.len()));
                }
            }
        }
        // Same mtime: by name (a turn's files are numbered in call order).
        files.sort();
        Retention {
            root: root.to_owned(),
            total: files.iter().map(|f| f.2).sum(),
            files: files.into(),
        }
    }

    fn add(&mut self, path: PathBuf, len: u64) {
        self.total += len;
        self.files.push_back((SystemTime::now(), path, len));
    }

    /// Removes what is past the age, then the oldest until the total fits.
    fn enforce(&mut self, cfg: &DebugConfig) {
        let cutoff = SystemTime::now()
            .checked_sub(cfg.max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        while let Some((modified, _, len)) = self.files.front() {
            if *modified >= cutoff && self.total <= cfg.max_bytes {
                break;
            }
            self.total -= len;
            if let Some((_, path, _)) = self.files.pop_front() {
                self.remove(&path);
            }
        }
    }

    fn remove(&self, path: &Path) {
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(error = %e, "LLM debug log file not removed");
            }
            _ => {}
        }
        // The turn's and the conversation's folders go when empty (removing a folder that is
        // not empty fails, which is the check).
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.root || !d.starts_with(&self.root) || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_gives_only_its_password() {
        assert_eq!(
            url_password("elbatt:p%40ss%3Aw0rd@db.example:5432/elbatt?sslmode=require").as_deref(),
            Some("p@ss:w0rd")
        );
        assert_eq!(
            url_password("db.example/elbatt?user=u&password=hemmelig").as_deref(),
            Some("hemmelig")
        );
        assert_eq!(url_password("u@db.example/elbatt"), None);
        let env = Env::from_pairs([
            (
                "DATABASE_URL",
                "postgres://elbatt:fjellvann-passord@db.example/elbatt",
            ),
            ("ADMIN_TOKEN", "abc"),
            ("PUBLISHED_EDIT_TOKEN", "redigering-lang-nok"),
        ]);
        let secrets = collect_secrets(&env);
        assert_eq!(secrets, ["redigering-lang-nok", "fjellvann-passord"]);
    }

    #[test]
    fn secrets_are_scrubbed_whole_escaped_and_in_fragments() {
        let secrets = vec![
            "tre \"ord\" hemmelig".to_owned(),
            "fjellvann-passord".to_owned(),
        ];
        let text = r#"{"a":"tre \"ord\" hemmelig","b":"x fjellvann-passord y","c":"vann-pas"}"#;
        let out = scrub(text, &secrets);
        assert!(!out.contains("hemmelig"), "{out}");
        assert!(!out.contains("fjellvann"), "{out}");
        assert!(!out.contains("vann-pas"), "{out}");
        assert!(out.contains(REDACTED), "{out}");
    }

    #[test]
    fn a_secret_spread_over_chunks_is_left_out_of_the_transcript() {
        let secrets = vec!["fjellvann-passord".to_owned()];
        let chunk = |t: &str| {
            format!(
                "data: {}\n\n",
                json!({"choices":[{"index":0,"delta":{"content":t}}]})
            )
        };
        let transcript = [
            chunk("Passordet er fjell"),
            chunk("vann-pass"),
            chunk("ord."),
        ]
        .concat();
        let out = scrub_transcript(&transcript, &secrets);
        assert!(!out.contains("fjell"), "{out}");
        assert!(!out.contains("vann-pass"), "{out}");
        assert!(out.contains(r#""content":"""#), "{out}");
        // Harmless text is kept.
        let plain = [chunk("Hei"), chunk(" der")].concat();
        assert_eq!(scrub_transcript(&plain, &secrets), plain);
    }

    #[test]
    fn folders_name_a_hash_of_the_conversation_not_the_id() {
        let h = conversation_hash("abc");
        assert_eq!(h, "ba7816bf8f01cfea");
        assert_eq!(h.len(), 16);
    }

    #[test]
    fn the_lambda_runtime_never_writes() {
        let dir =
            std::env::temp_dir().join(format!("elbatt-llm-debug-lambda-{}", std::process::id()));
        let env = Env::from_pairs([
            ("LLM_DEBUG_DIR", dir.to_str().unwrap_or_default()),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
        ]);
        assert!(DebugConfig::from_env(&env).ok().flatten().is_none());
        assert!(!dir.exists());
    }

    #[test]
    #[cfg(not(feature = "debug-log"))]
    fn a_functions_build_never_writes() {
        let dir = std::env::temp_dir().join(format!("elbatt-llm-debug-zip-{}", std::process::id()));
        let env = Env::from_pairs([("LLM_DEBUG_DIR", dir.to_str().unwrap_or_default())]);
        assert!(DebugConfig::from_env(&env).ok().flatten().is_none());
        assert!(!dir.exists());
    }

    #[test]
    fn a_record_the_queue_cannot_take_is_dropped_and_counted_without_waiting() {
        let dir =
            std::env::temp_dir().join(format!("elbatt-llm-debug-drop-{}", std::process::id()));
        let log = DebugLog::new(DebugConfig {
            dir: dir.clone(),
            max_bytes: 1 << 20,
            max_age: Duration::from_secs(60),
            secrets: Arc::new(Vec::new()),
        });
        let request = ChatRequest::default();
        let mut record = log.start("http://127.0.0.1/v1/chat/completions", &[], &request);
        if let Some(t) = record.transcript() {
            t.resize(QUEUE_BYTES + 1, b'x');
        }
        let started = Instant::now();
        record.finish(&Err(LlmError::Truncated));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(log.dropped(), 1);
        let _ = fs::remove_dir_all(&dir);
    }

    /// The writer thread's work per model call (redaction, formatting, three files):
    /// `cargo test --release -p chat --lib llm::debug::tests::writer_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement: run it with --ignored --nocapture"]
    fn writer_cost_per_call() {
        const CALLS: u32 = 500;
        let dir =
            std::env::temp_dir().join(format!("elbatt-llm-debug-writer-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        create_private_dir(&dir).unwrap_or_default();
        let secrets: Vec<String> = ["fjordhest-blaabaer-nordlys", "admin-moltebaer-skiloype"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let cfg = Arc::new(DebugConfig {
            dir: dir.clone(),
            max_bytes: 1 << 30,
            max_age: Duration::from_secs(3600),
            secrets: Arc::new(secrets),
        });
        let request = ChatRequest {
            model: "gpt-4o-mini".to_owned(),
            messages: vec![
                super::super::wire::Message::system(
                    crate::config::DEFAULT_SYSTEM_PROMPT.to_owned(),
                ),
                super::super::wire::Message::user("Hvor lenge varer batterigarantien?".to_owned()),
            ],
            stream: true,
            ..ChatRequest::default()
        };
        let chunk = |t: &str| {
            format!(
                "data: {}\n\n",
                json!({"choices":[{"index":0,"delta":{"content":t}}]})
            )
        };
        let transcript: String = (0..40).map(|i| chunk(&format!("ord{i} "))).collect();
        let mut writer = Writer::new(Arc::clone(&cfg));
        let started = Instant::now();
        for call in 1..=CALLS {
            let entry = Entry {
                conversation: Some(format!("conversation-{call}")),
                turn_started: Some(SystemTime::now()),
                turn_seq: u64::from(call),
                call: 1,
                started: SystemTime::now(),
                elapsed: Duration::from_millis(5),
                url: "https://api.openai.com/v1/chat/completions".to_owned(),
                request_headers: vec![("authorization".to_owned(), format!("Bearer {REDACTED}"))],
                request_body: serde_json::to_string(&request).unwrap_or_default(),
                status: Some(200),
                response_headers: Vec::new(),
                body: Vec::new(),
                transcript: transcript.clone().into_bytes(),
                outcome: Outcome::Answered(Box::new(Completion {
                    text: "Et svar.".to_owned(),
                    ..Completion::default()
                })),
            };
            writer.write(&entry).unwrap_or_default();
            writer.files.enforce(&cfg);
        }
        let per_call = started.elapsed() / CALLS;
        let body: Value =
            serde_json::from_str(&serde_json::to_string(&request).unwrap_or_default())
                .unwrap_or(Value::Null);
        let t = Instant::now();
        for _ in 0..CALLS {
            let mut b = body.clone();
            scrub_json(&mut b, &cfg.secrets);
        }
        println!("scrub_json of the request: {:?}", t.elapsed() / CALLS);
        let t = Instant::now();
        for _ in 0..CALLS {
            scrub_transcript(&transcript, &cfg.secrets);
        }
        println!("scrub_transcript: {:?}", t.elapsed() / CALLS);
        println!(
            "writer: {per_call:?} per model call ({} bytes in total)",
            writer.files.total
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_debug_form_shows_no_secret() {
        let cfg = DebugConfig {
            dir: PathBuf::from("/x"),
            max_bytes: 1,
            max_age: Duration::from_secs(1),
            secrets: Arc::new(vec!["fjellvann-passord".to_owned()]),
        };
        assert!(!format!("{cfg:?}").contains("fjellvann"));
    }
}
