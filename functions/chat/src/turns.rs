//! Resumable turns (`docs/api.md`, "Resume a stream"; `docs/state.md`, "Resumable streams").
//!
//! Every event of a turn is numbered (`seq` 1, 2, 3… within the turn, the turn named by a random
//! id) and encoded once ([`crate::sse::encode`]) into a [`Sequenced`], which SSE and the
//! WebSocket both send. A turn of a stored conversation keeps its events, within
//! `CHAT_RESUME_MAX_EVENTS` and `CHAT_RESUME_MAX_BYTES`, in two places:
//! - the instance's [`Hub`], while the turn runs: a follower on the same instance reads the
//!   turn's log as it grows (one shared log per turn, a cursor per follower, so a slow follower
//!   costs no memory);
//! - the store, in batches (`CHAT_RESUME_FLUSH_SECS` apart, and at once for `vehicle`, `done`
//!   and `error`), so a reconnect that lands on another instance replays from the database and
//!   then follows it by polling until the turn ends. They expire `CHAT_RESUME_TTL_SECS` after
//!   the turn ends, and go with their conversation.
//!
//! A stored turn goes on when its client leaves, until `done` or the turn timeout, so its answer
//! is stored either way. A stateless turn (no store) keeps nothing and stops when its client
//! leaves: there is nobody who could come back for it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use elbatt::config::{ConfigError, Env, VarSpec, var};
use elbatt_store::events::READ_PAGE;
use elbatt_store::{ConversationId, Store, StoreError, TurnEventRecord, TurnRead, TurnWrite};
use tokio::sync::{mpsc, watch};

use crate::api::ChatError;
use crate::assistant::TurnEvent;
use crate::conversation::STORE_TIMEOUT;

pub const CHAT_RESUME_MAX_EVENTS: VarSpec = var(
    "CHAT_RESUME_MAX_EVENTS",
    "4000",
    "events of one turn kept for a reconnect; a longer turn cannot be resumed (410)",
);
pub const CHAT_RESUME_MAX_BYTES: VarSpec = var(
    "CHAT_RESUME_MAX_BYTES",
    "262144",
    "bytes of event data of one turn kept for a reconnect",
);
pub const CHAT_RESUME_TTL_SECS: VarSpec = var(
    "CHAT_RESUME_TTL_SECS",
    "600",
    "how long a turn's events are kept after it ends",
);
pub const CHAT_RESUME_FLUSH_SECS: VarSpec = var(
    "CHAT_RESUME_FLUSH_SECS",
    "0.15",
    "longest a streamed event waits before its batch is written to the store",
);

/// The variables this module reads.
pub const VARIABLES: &[VarSpec] = &[
    CHAT_RESUME_MAX_EVENTS,
    CHAT_RESUME_MAX_BYTES,
    CHAT_RESUME_TTL_SECS,
    CHAT_RESUME_FLUSH_SECS,
];

/// How often a follower on another instance asks the store for new events.
pub const POLL_EVERY: Duration = Duration::from_millis(200);
/// A follower on another instance gives up on a turn that has not ended this long after its
/// timeout (its instance died mid-turn: nothing will ever end it).
const FOLLOW_SLACK: Duration = Duration::from_secs(10);

/// Bounds and timing of kept events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeConfig {
    pub max_events: usize,
    pub max_bytes: usize,
    pub ttl: Duration,
    pub flush_every: Duration,
}

impl Default for ResumeConfig {
    fn default() -> Self {
        ResumeConfig {
            max_events: 4000,
            max_bytes: 262_144,
            ttl: Duration::from_secs(600),
            flush_every: Duration::from_millis(150),
        }
    }
}

impl ResumeConfig {
    /// # Errors
    /// A variable is malformed.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(ResumeConfig {
            max_events: env.value(&CHAT_RESUME_MAX_EVENTS)?,
            max_bytes: env.value(&CHAT_RESUME_MAX_BYTES)?,
            ttl: env.duration(&CHAT_RESUME_TTL_SECS)?,
            flush_every: env.duration(&CHAT_RESUME_FLUSH_SECS)?,
        })
    }
}

/// One encoded event of a turn, as SSE and the WebSocket send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequenced {
    /// 1, 2, 3… within the turn.
    pub seq: u64,
    /// The turn's id (opaque to clients).
    pub turn: String,
    /// `delta`, `vehicle`, `done` or `error`.
    pub name: &'static str,
    /// The event's JSON data.
    pub data: String,
}

impl Sequenced {
    /// Whether nothing follows it (`done`, `error`).
    pub fn is_last(&self) -> bool {
        matches!(self.name, "done" | "error")
    }
}

/// The one static name of a stored event's name (the store keeps text).
fn known_name(name: &str) -> &'static str {
    match name {
        "delta" => "delta",
        "vehicle" => "vehicle",
        "done" => "done",
        _ => "error",
    }
}

/// Where a resume starts: after event `seq` of `turn` (the conversation's latest turn when
/// `None`). `Last-Event-ID: <turn>:<seq>`, `?since=<turn>:<seq>` or `?since=<seq>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    pub turn: Option<String>,
    pub seq: u64,
}

impl Since {
    /// From the beginning of the latest turn.
    pub fn start() -> Since {
        Since { turn: None, seq: 0 }
    }

    /// `<turn>:<seq>` or `<seq>`; `None` when malformed.
    pub fn parse(raw: &str) -> Option<Since> {
        let raw = raw.trim();
        let (turn, seq) = match raw.rsplit_once(':') {
            Some((turn, seq)) => (Some(turn), seq),
            None => (None, raw),
        };
        let turn = match turn {
            Some(t) if is_turn_id(t) => Some(t.to_owned()),
            Some(_) => return None,
            None => None,
        };
        let seq = if seq.bytes().all(|b| b.is_ascii_digit()) && !seq.is_empty() && seq.len() <= 19 {
            seq.parse().ok()?
        } else {
            return None;
        };
        Some(Since { turn, seq })
    }
}

/// Turn ids are 16 lowercase hex digits (about 60 random bits, from the store's id generator:
/// unique within a conversation, whose own id is the capability).
fn new_turn_id() -> String {
    let mut id = ConversationId::generate().to_string();
    id.truncate(16);
    id
}

fn is_turn_id(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A stream of a turn's events: the one that started it (live), or a resume (replay, then
/// live). Dropping it is how a client leaves.
#[derive(Debug)]
pub struct Subscription {
    /// The stored conversation (`None`: stateless).
    pub conversation_id: Option<String>,
    pub turn: String,
    /// Whether a reconnect can resume this turn (its events are kept).
    pub resumable: bool,
    source: Source,
}

#[derive(Debug)]
enum Source {
    /// The client that started the turn: every event, whatever the bounds.
    Direct(mpsc::UnboundedReceiver<Sequenced>),
    /// The instance's own log of a running turn.
    Log {
        log: Arc<TurnLog>,
        changed: watch::Receiver<()>,
        next: u64,
    },
    /// The store, polled (another instance runs or ran the turn).
    Store(Box<StoreFollow>),
}

#[derive(Debug)]
struct StoreFollow {
    store: Arc<Store>,
    conversation: ConversationId,
    next: u64,
    ready: VecDeque<Sequenced>,
    /// After this (ms since the epoch) a turn that has not ended is given up.
    give_up_at_ms: i64,
    ended: bool,
}

impl Subscription {
    /// The next event; `None` after `done`/`error` (or when a turn can no longer be followed).
    pub async fn next(&mut self) -> Option<Sequenced> {
        let turn = self.turn.clone();
        match &mut self.source {
            Source::Direct(rx) => rx.recv().await,
            Source::Log { log, changed, next } => loop {
                changed.borrow_and_update();
                match log.get(*next) {
                    Read::Event(ev) => {
                        *next += 1;
                        return Some(ev);
                    }
                    Read::End => return None,
                    Read::Wait => {
                        if changed.changed().await.is_err() {
                            // The log can no longer change: read what it has, then end.
                            return match log.get(*next) {
                                Read::Event(ev) => {
                                    *next += 1;
                                    Some(ev)
                                }
                                _ => None,
                            };
                        }
                    }
                }
            },
            Source::Store(follow) => follow.next(&turn).await,
        }
    }
}

impl StoreFollow {
    async fn next(&mut self, turn: &str) -> Option<Sequenced> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                return Some(ev);
            }
            if self.ended {
                return None;
            }
            let read = bounded(async {
                self.store
                    .backend()
                    .await?
                    .turn_read(
                        &self.conversation,
                        Some(turn),
                        i64::try_from(self.next.saturating_sub(1)).unwrap_or(i64::MAX),
                        READ_PAGE,
                        elbatt_store::now_ms(),
                    )
                    .await
            })
            .await;
            let read = match read {
                Ok(Some(read)) => read,
                // Expired or erased meanwhile.
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(error = %e, "resume: the store failed while following a turn");
                    return None;
                }
            };
            let got = self.take(turn, &read);
            if !got {
                let finished = read.head.ended_at_ms.is_some()
                    && read.head.last_seq < i64::try_from(self.next).unwrap_or(i64::MAX);
                if finished || read.head.dropped > 0 {
                    return None;
                }
                if elbatt_store::now_ms() > self.give_up_at_ms {
                    tracing::warn!("resume: the turn never ended; its instance is gone");
                    return None;
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
    }

    /// Queues the events of `read` from `next` on; whether there were any.
    fn take(&mut self, turn: &str, read: &TurnRead) -> bool {
        let mut got = false;
        for e in &read.events {
            let seq = u64::try_from(e.seq).unwrap_or(0);
            if seq != self.next {
                // A gap (events over the bounds are not kept): stop rather than skip.
                self.ended = true;
                break;
            }
            let ev = Sequenced {
                seq,
                turn: turn.to_owned(),
                name: known_name(&e.name),
                data: e.data.clone(),
            };
            self.next += 1;
            if ev.is_last() {
                self.ended = true;
            }
            self.ready.push_back(ev);
            got = true;
            if self.ended {
                break;
            }
        }
        got
    }
}

async fn bounded<T>(
    f: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(STORE_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("no answer in time".into())))
}

/// A running turn's kept events, shared by its followers on this instance.
#[derive(Debug)]
pub struct TurnLog {
    conversation_id: String,
    turn: String,
    started_at_ms: i64,
    state: Mutex<LogState>,
    changed: watch::Sender<()>,
}

#[derive(Debug, Default)]
struct LogState {
    events: Vec<Sequenced>,
    ended: bool,
    dropped: u64,
}

enum Read {
    Event(Sequenced),
    Wait,
    End,
}

impl TurnLog {
    fn get(&self, seq: u64) -> Read {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let index = usize::try_from(seq.saturating_sub(1)).unwrap_or(usize::MAX);
        match state.events.get(index) {
            Some(ev) if seq > 0 => Read::Event(ev.clone()),
            // Over the bounds: what follows is not kept, so the follower cannot go on.
            _ if state.ended || state.dropped > 0 => Read::End,
            _ => Read::Wait,
        }
    }

    fn push(&self, ev: Option<Sequenced>, ended: bool) {
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            match ev {
                Some(ev) => state.events.push(ev),
                None if !ended => state.dropped += 1,
                None => {}
            }
            state.ended |= ended;
        }
        self.changed.send_replace(());
    }

    fn dropped(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .dropped
            > 0
    }
}

/// The running stored turns of this instance, by conversation.
#[derive(Debug, Default)]
pub struct Hub {
    turns: Mutex<HashMap<String, Vec<Arc<TurnLog>>>>,
}

impl Hub {
    fn insert(&self, log: Arc<TurnLog>) {
        self.turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(log.conversation_id.clone())
            .or_default()
            .push(log);
    }

    fn remove(&self, log: &TurnLog) {
        let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = turns.get_mut(&log.conversation_id) {
            list.retain(|l| l.turn != log.turn);
            if list.is_empty() {
                turns.remove(&log.conversation_id);
            }
        }
    }

    /// The turn `turn` of the conversation, or its latest running one.
    fn find(&self, conversation_id: &str, turn: Option<&str>) -> Option<Arc<TurnLog>> {
        let turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
        let list = turns.get(conversation_id)?;
        match turn {
            Some(t) => list.iter().find(|l| l.turn == t).cloned(),
            None => list.iter().max_by_key(|l| l.started_at_ms).cloned(),
        }
    }

    /// Running turns on this instance (for tests and metrics).
    pub fn running(&self) -> usize {
        self.turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(Vec::len)
            .sum()
    }
}

/// Where the turn's events go besides the hub and the store: the client that started it.
#[derive(Debug)]
pub enum Tap {
    /// Encoded events (SSE, WebSocket).
    Sequenced(mpsc::UnboundedSender<Sequenced>),
    /// The events themselves (`stream: false` collects them into one JSON body).
    Raw(mpsc::UnboundedSender<TurnEvent>),
}

impl Tap {
    fn send(&self, ev: &TurnEvent, seq: &Sequenced) -> bool {
        match self {
            Tap::Sequenced(tx) => tx.send(seq.clone()).is_ok(),
            Tap::Raw(tx) => tx.send(ev.clone()).is_ok(),
        }
    }
}

/// Runs turns: numbers and encodes their events, keeps them (hub and store) and answers
/// resumes.
#[derive(Debug)]
pub struct Turns {
    pub(crate) hub: Hub,
    cfg: ResumeConfig,
    store: Arc<Store>,
    turn_timeout: Duration,
}

/// What [`Turns::launch`] needs to know of a turn.
#[derive(Debug)]
pub struct Launch {
    /// The stored conversation; `None`: stateless (nothing kept, stops when the client leaves).
    pub conversation_id: Option<String>,
    /// For the `error` event's body.
    pub request_id: Option<String>,
}

impl Turns {
    pub fn new(cfg: ResumeConfig, store: Arc<Store>, turn_timeout: Duration) -> Turns {
        Turns {
            hub: Hub::default(),
            cfg,
            store,
            turn_timeout,
        }
    }

    pub fn config(&self) -> &ResumeConfig {
        &self.cfg
    }

    /// Takes over a turn's events (`from`, as `conversation::record` passes them on): numbers,
    /// encodes, keeps and passes them to `tap`. Returns the turn id.
    pub fn launch(
        self: &Arc<Self>,
        launch: Launch,
        from: mpsc::UnboundedReceiver<TurnEvent>,
        tap: Tap,
    ) -> String {
        let turn = new_turn_id();
        let log = launch.conversation_id.as_ref().map(|c| {
            let log = Arc::new(TurnLog {
                conversation_id: c.clone(),
                turn: turn.clone(),
                started_at_ms: elbatt_store::now_ms(),
                state: Mutex::new(LogState::default()),
                changed: watch::Sender::new(()),
            });
            self.hub.insert(Arc::clone(&log));
            log
        });
        let this = Arc::clone(self);
        let id = turn.clone();
        tokio::spawn(async move { this.produce(turn, launch, log, from, tap).await });
        id
    }

    async fn produce(
        self: Arc<Self>,
        turn: String,
        launch: Launch,
        log: Option<Arc<TurnLog>>,
        mut from: mpsc::UnboundedReceiver<TurnEvent>,
        tap: Tap,
    ) {
        let resumable = log.is_some();
        let mut writer = log.as_ref().map(|log| {
            let (tx, rx) = mpsc::unbounded_channel();
            let w = Writer {
                store: Arc::clone(&self.store),
                conversation_id: log.conversation_id.clone(),
                turn: turn.clone(),
                started_at_ms: log.started_at_ms,
                cfg: self.cfg,
                turn_timeout: self.turn_timeout,
            };
            (tx, tokio::spawn(w.run(rx)))
        });
        let mut tap = Some(tap);
        let (mut seq, mut kept_bytes, mut kept_events) = (0u64, 0usize, 0usize);
        // The assistant ends every turn by the turn timeout; this is the backstop.
        let deadline = tokio::time::Instant::now() + self.turn_timeout + FOLLOW_SLACK;
        loop {
            let ev = match tokio::time::timeout_at(deadline, from.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(_) => TurnEvent::Error(ChatError::Timeout),
            };
            seq += 1;
            let (name, data) = crate::sse::encode(&ev, launch.request_id.as_deref(), resumable);
            let sequenced = Sequenced {
                seq,
                turn: turn.clone(),
                name,
                data,
            };
            let last = sequenced.is_last();
            let mut kept = None;
            if let (Some(log), Some((tx, _))) = (&log, &writer) {
                if matches!(&ev, TurnEvent::Done(d) if d.conversation_id.is_none()) {
                    // Not stored (erased during the turn, or the store failed): its events must
                    // not outlive it.
                    let _ = tx.send(WriterMsg::Forget);
                }
                let fits = kept_events < self.cfg.max_events
                    && kept_bytes + sequenced.data.len() <= self.cfg.max_bytes
                    && !log.dropped();
                if fits {
                    kept_events += 1;
                    kept_bytes += sequenced.data.len();
                    let _ = tx.send(WriterMsg::Event(TurnEventRecord {
                        seq: i64::try_from(seq).unwrap_or(i64::MAX),
                        name: name.to_owned(),
                        data: sequenced.data.clone(),
                    }));
                    kept = Some(sequenced.clone());
                } else {
                    let _ = tx.send(WriterMsg::Dropped);
                }
            }
            if last {
                // The last event reaches nobody before every event is in the store: `done` says
                // the turn is durable, and an erasure that follows it finds everything.
                if let Some((tx, handle)) = writer.take() {
                    drop(tx);
                    let _ = handle.await;
                }
            }
            if let Some(log) = &log {
                log.push(kept, last);
            }
            if let Some(t) = &tap {
                if !t.send(&ev, &sequenced) {
                    if !resumable {
                        // Stateless: nobody can come back for it. Dropping `from` stops it.
                        return;
                    }
                    tracing::info!("chat: the client left; the turn goes on and is stored");
                    tap = None;
                }
            }
            if last {
                break;
            }
        }
        drop(from);
        if let Some((tx, handle)) = writer {
            // Ended without `done`/`error` (the backstop): the last batch, then forget.
            drop(tx);
            let _ = handle.await;
        }
        if let Some(log) = log {
            // Everything is in the store before the hub forgets the turn: a resume that misses
            // the hub finds it there.
            log.push(None, true);
            self.hub.remove(&log);
        }
    }

    /// Resumes the conversation's turn after `since`.
    ///
    /// # Errors
    /// No store (`400`), unknown conversation or turn (`404`), events no longer kept (`410`),
    /// the store down (`503`).
    pub async fn resume(
        &self,
        conversation_id: &str,
        since: Since,
    ) -> Result<Subscription, ChatError> {
        if !self.store.enabled() {
            return Err(ChatError::ConversationsDisabled);
        }
        let id = ConversationId::parse(conversation_id).ok_or(ChatError::ConversationNotFound)?;
        if let Some(log) = self.hub.find(id.as_str(), since.turn.as_deref()) {
            if log.dropped() {
                return Err(ChatError::ResumeExpired);
            }
            let changed = log.changed.subscribe();
            return Ok(Subscription {
                conversation_id: Some(id.to_string()),
                turn: log.turn.clone(),
                resumable: true,
                source: Source::Log {
                    log,
                    changed,
                    next: since.seq + 1,
                },
            });
        }
        let read = bounded(async {
            self.store
                .backend()
                .await?
                .turn_read(
                    &id,
                    since.turn.as_deref(),
                    i64::try_from(since.seq).unwrap_or(i64::MAX),
                    READ_PAGE,
                    elbatt_store::now_ms(),
                )
                .await
        })
        .await
        .map_err(|e| self.unavailable(&e))?;
        let Some(read) = read else {
            // The conversation is known but this turn's events are gone: read it instead.
            let known = bounded(async { self.store.backend().await?.conversation(&id).await })
                .await
                .map_err(|e| self.unavailable(&e))?;
            return Err(match known {
                Some(_) => ChatError::ResumeExpired,
                None => ChatError::ConversationNotFound,
            });
        };
        if read.head.dropped > 0 {
            return Err(ChatError::ResumeExpired);
        }
        let slack = i64::try_from((self.turn_timeout + FOLLOW_SLACK).as_millis()).unwrap_or(0);
        let mut follow = StoreFollow {
            store: Arc::clone(&self.store),
            conversation: id.clone(),
            next: since.seq + 1,
            ready: VecDeque::new(),
            give_up_at_ms: read.head.started_at_ms.saturating_add(slack),
            ended: false,
        };
        follow.take(&read.head.turn, &read);
        Ok(Subscription {
            conversation_id: Some(id.to_string()),
            turn: read.head.turn,
            resumable: true,
            source: Source::Store(Box::new(follow)),
        })
    }

    fn unavailable(&self, e: &StoreError) -> ChatError {
        self.store.mark(false, Some(e));
        ChatError::StoreUnavailable
    }
}

impl Subscription {
    /// The subscription of the client that starts a turn.
    pub(crate) fn direct(
        rx: mpsc::UnboundedReceiver<Sequenced>,
        conversation_id: Option<String>,
        turn: String,
    ) -> Subscription {
        Subscription {
            resumable: conversation_id.is_some(),
            conversation_id,
            turn,
            source: Source::Direct(rx),
        }
    }
}

enum WriterMsg {
    Event(TurnEventRecord),
    /// An event over the bounds: counted, not kept.
    Dropped,
    /// The turn was not stored: expire its events now (retention deletes what was written).
    Forget,
}

/// Writes a turn's events to the store in batches, one write at a time, in order.
struct Writer {
    store: Arc<Store>,
    conversation_id: String,
    turn: String,
    started_at_ms: i64,
    cfg: ResumeConfig,
    turn_timeout: Duration,
}

/// Turn-event writes (transactions) this process made: what batching saves is measured with it
/// (`docs/state.md`).
static WRITES: AtomicU64 = AtomicU64::new(0);

/// Turn-event writes so far (each one transaction: a head and a batch of events).
pub fn store_writes() -> u64 {
    WRITES.load(Ordering::Relaxed)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Writer {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<WriterMsg>) {
        let mut batch: Vec<TurnEventRecord> = Vec::new();
        let mut dropped = 0i64;
        let mut ended = false;
        let mut forget = false;
        // The head first: a reconnect on another instance finds the turn before its first event
        // is written.
        self.flush(&mut batch, dropped, false, false).await;
        while !ended {
            let first = match rx.recv().await {
                Some(m) => m,
                None => break,
            };
            let flush_at = tokio::time::Instant::now() + self.cfg.flush_every;
            let mut msg = Some(first);
            loop {
                match msg.take() {
                    Some(WriterMsg::Event(e)) => {
                        let urgent = e.name != "delta";
                        ended |= matches!(e.name.as_str(), "done" | "error");
                        batch.push(e);
                        if urgent {
                            break;
                        }
                    }
                    Some(WriterMsg::Dropped) => dropped += 1,
                    Some(WriterMsg::Forget) => forget = true,
                    None => {}
                }
                match tokio::time::timeout_at(flush_at, rx.recv()).await {
                    Ok(Some(m)) => msg = Some(m),
                    Ok(None) => {
                        ended = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if forget {
                batch.clear();
            }
            self.flush(&mut batch, dropped, ended, forget).await;
        }
        if !ended || !batch.is_empty() {
            self.flush(&mut batch, dropped, true, forget).await;
        }
    }

    /// One write: the head and `batch`. A failed batch stays for the next write (rows already
    /// written are skipped by the insert).
    async fn flush(
        &self,
        batch: &mut Vec<TurnEventRecord>,
        dropped: i64,
        ended: bool,
        forget: bool,
    ) {
        let now = elbatt_store::now_ms();
        let expires_at_ms = if forget {
            0
        } else if ended {
            now.saturating_add(ms(self.cfg.ttl))
        } else {
            // Running: kept at least until the turn must have ended, plus the TTL.
            self.started_at_ms
                .saturating_add(ms(self.turn_timeout + FOLLOW_SLACK))
                .saturating_add(ms(self.cfg.ttl))
        };
        let write = TurnWrite {
            conversation_id: &self.conversation_id,
            turn: &self.turn,
            started_at_ms: self.started_at_ms,
            ended_at_ms: ended.then_some(now),
            expires_at_ms,
            dropped,
            events: batch,
        };
        let written = bounded(async { self.store.backend().await?.turn_write(&write).await }).await;
        match written {
            Ok(()) => {
                WRITES.fetch_add(1, Ordering::Relaxed);
                batch.clear();
            }
            Err(e) => {
                self.store.mark(false, Some(&e));
                tracing::warn!(error = %e, "resume: turn events not written; retrying with the next batch");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn since_takes_a_turn_and_a_number_or_a_number() {
        let turn = "0123456789abcdef";
        assert_eq!(
            Since::parse(&format!("{turn}:7")),
            Some(Since {
                turn: Some(turn.into()),
                seq: 7
            })
        );
        assert_eq!(Since::parse(" 3 "), Some(Since { turn: None, seq: 3 }));
        for bad in [
            "",
            "x",
            ":3",
            "0123456789abcdef:",
            "0123456789ABCDEF:1",
            "abc:1",
            "-1",
            "1.5",
        ] {
            assert_eq!(Since::parse(bad), None, "{bad}");
        }
        assert!(is_turn_id(&new_turn_id()));
    }
}
