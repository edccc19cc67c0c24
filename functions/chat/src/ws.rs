//! `/api/ws`: chat over one WebSocket, on the runner and the `elbatt-api` container only (a
//! Scaleway Functions zip buffers whole responses; Lambda cannot upgrade). The protocol, an
//! example session, limits and close codes are in `docs/websocket.md`.
//!
//! Client → server (JSON text frames): `{"type":"chat", …POST /chat's fields…}` and
//! `{"type":"resume","conversation_id","since_seq","turn"?}`. Server → client: `turn` (which
//! turn the following events belong to), `event` (the SSE events with their `turn` and `seq`)
//! and `error` (a refused client frame; the socket stays open).
//!
//! Each socket is one task: the server's connection task runs [`Socket::run`] after the `101`
//! (`elbatt::runtime::upgrade`), so nothing here spawns. Every bound is per socket:
//! - frames and messages from the client: at most `CHAT_MAX_BODY_BYTES` (close `1009`);
//! - events waiting for the client: at most `WS_SEND_BUFFER_BYTES`. A reader that falls that
//!   far behind is closed (`1013`) rather than buffered for: its stored turn goes on and the
//!   client resumes it with `since_seq`; a stateless turn stops;
//! - a peer that sends nothing, not even a pong, between two pings (`WS_PING_SECS`) is closed;
//! - open sockets per process: `WS_MAX_SOCKETS` (`503` at the upgrade).
//!
//! The `Origin` allow-list is checked by the router before any upgrade (`403`); the rate limit
//! and the daily budget are `/chat`'s own ([`Chat::start`], [`Chat::admit`]), per chat frame.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use elbatt::config::{ConfigError, Env, VarSpec, var};
use elbatt::context::Context;
use elbatt::http::{
    ApiError, Function, HttpError, REQUEST_ID, Request, Response, X_FORWARDED_FOR, error_response,
};
use elbatt::runtime::upgrade::{Session, Upgraded, switching_protocols};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::Chat;
use crate::api::ChatError;
use crate::turns::{Sequenced, Since, Subscription};

pub const WS_MAX_SOCKETS: VarSpec = var(
    "WS_MAX_SOCKETS",
    "1000",
    "open WebSockets at /api/ws at most per process; more are refused with 503 at the upgrade",
);
pub const WS_PING_SECS: VarSpec = var(
    "WS_PING_SECS",
    "20",
    "how often /api/ws pings each socket; a peer that sends nothing, not even a pong, between two pings is closed",
);
pub const WS_SEND_BUFFER_BYTES: VarSpec = var(
    "WS_SEND_BUFFER_BYTES",
    "262144",
    "event bytes one WebSocket may have waiting for a slow reader; beyond it the socket is closed (1013) and a stored turn goes on, resumable",
);

/// What `/api/ws` reads besides chat's own variables (its frame limit is `CHAT_MAX_BODY_BYTES`).
pub const VARIABLES: &[VarSpec] = &[WS_MAX_SOCKETS, WS_PING_SECS, WS_SEND_BUFFER_BYTES];

/// How long a closing socket waits for its close frame to go out and the peer's to come back.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// The kernel's buffer for a socket's unsent bytes (Linux doubles it for its bookkeeping).
/// Left to autotuning, a stalled reader's socket could hold 4 MB there, outside the outbox's
/// bound; events come at reading speed, so a small buffer costs a reader that keeps up nothing.
const KERNEL_SEND_BUFFER_BYTES: usize = 32 * 1024;
/// tungstenite's read buffer, allocated up front for every socket: its default (128 KiB) would
/// make an idle socket cost that much; client frames are small JSON.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// The socket limits, read once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsConfig {
    pub max_sockets: usize,
    pub ping_every: Duration,
    pub send_buffer_bytes: usize,
    /// A client frame or message at most (chat's `CHAT_MAX_BODY_BYTES`: a chat frame is a
    /// `/chat` body).
    pub max_frame_bytes: usize,
}

impl WsConfig {
    /// # Errors
    /// A variable does not parse or is out of range.
    pub fn from_env(env: &Env, max_frame_bytes: usize) -> Result<WsConfig, ConfigError> {
        let max_sockets: usize = env.value(&WS_MAX_SOCKETS)?;
        if max_sockets == 0 {
            return Err(ConfigError::new(WS_MAX_SOCKETS.name, "must be at least 1"));
        }
        let ping_every = env.duration(&WS_PING_SECS)?;
        if ping_every < Duration::from_millis(100) {
            return Err(ConfigError::new(
                WS_PING_SECS.name,
                "must be at least 0.1 seconds",
            ));
        }
        let send_buffer_bytes: usize = env.value(&WS_SEND_BUFFER_BYTES)?;
        if send_buffer_bytes < 1024 {
            return Err(ConfigError::new(
                WS_SEND_BUFFER_BYTES.name,
                "must be at least 1024 bytes",
            ));
        }
        Ok(WsConfig {
            max_sockets,
            ping_every,
            send_buffer_bytes,
            max_frame_bytes,
        })
    }
}

/// The `/api/ws` endpoint: the WebSocket handshake, then [`Socket::run`] per socket.
#[derive(Debug, Clone)]
pub struct WebSocket {
    chat: Chat,
    cfg: WsConfig,
    open: Arc<AtomicUsize>,
}

/// The `Chat` a context built, so that `/api/ws` shares `/chat`'s rate limiter, budget and
/// turns instead of building a second set.
#[derive(Debug, Clone, Default)]
struct Built(Arc<OnceLock<Chat>>);

/// Called by [`Chat::from_context`]: remembers the process's chat for [`WebSocket`].
pub(crate) fn remember(ctx: &Context, chat: &Chat) {
    let _ = ctx.shared(|_| Built::default()).0.set(chat.clone());
}

impl WebSocket {
    pub fn new(chat: Chat, cfg: WsConfig) -> Self {
        WebSocket {
            chat,
            cfg,
            open: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Open sockets now.
    pub fn open_sockets(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    fn upgrade(&self, req: &Request) -> Result<Response, ApiError> {
        let headers = req.headers();
        let accept = handshake(headers)?;
        let Some(slot) = OpenSocket::claim(&self.open, self.cfg.max_sockets) else {
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_sockets",
                format!(
                    "this server has {} WebSockets open, its limit (WS_MAX_SOCKETS); try again",
                    self.cfg.max_sockets
                ),
            );
            err.retry_after = Some("5".to_owned());
            return Err(err);
        };
        let socket = Socket {
            chat: self.chat.clone(),
            cfg: self.cfg,
            client: client_headers(headers),
            _slot: slot,
        };
        let session: Session = Box::new(move |io| Box::pin(socket.run(io)));
        let mut out = HeaderMap::new();
        out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        out.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        out.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        Ok(switching_protocols(out, session))
    }
}

impl Function for WebSocket {
    const NAME: &'static str = "ws";
    const METHODS: &'static [Method] = &[Method::GET];
    const VARIABLES: &'static [&'static [VarSpec]] = &[VARIABLES];
    type Error = ApiError;

    /// The chat of the same context (`/chat`'s, when the runner built that first).
    fn from_context(ctx: &Context) -> Result<Self, ConfigError> {
        let built = ctx.shared(|_| Built::default());
        let chat = match built.0.get() {
            Some(chat) => chat.clone(),
            None => Chat::from_context(ctx)?,
        };
        let cfg = WsConfig::from_env(ctx.env(), chat.cfg.limits.max_body_bytes)?;
        Ok(WebSocket::new(chat, cfg))
    }

    async fn call(&self, req: Request) -> Result<Response, ApiError> {
        match self.upgrade(&req) {
            Err(e) if e.status == StatusCode::UPGRADE_REQUIRED => {
                let mut resp = error_response(&e, elbatt::http::request_id(&req));
                let h = resp.headers_mut();
                h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                h.insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
                Ok(resp)
            }
            other => other,
        }
    }

    fn status(&self) -> String {
        format!(
            "ready: at most {} sockets, {} KiB waiting per socket",
            self.cfg.max_sockets,
            self.cfg.send_buffer_bytes / 1024
        )
    }
}

/// Checks an opening handshake (RFC 6455 §4.2.1) and returns its `Sec-WebSocket-Accept`.
///
/// # Errors
/// `426` for a plain request or another protocol version, `400` for a malformed key.
pub fn handshake(headers: &HeaderMap) -> Result<HeaderValue, ApiError> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(header::UPGRADE, "websocket") || !has_token(header::CONNECTION, "upgrade") {
        return Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "websocket_expected",
            "this path speaks WebSocket only: send an opening handshake (Upgrade: websocket)",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "websocket_version",
            "only WebSocket version 13 is spoken (Sec-WebSocket-Version: 13)",
        ));
    }
    // 16 random bytes in base64: 24 characters ending in "==".
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(HeaderValue::as_bytes)
        .filter(|k| {
            k.len() == 24
                && k.ends_with(b"==")
                && k[..22]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
        })
        .ok_or_else(|| ApiError::bad_request("Sec-WebSocket-Key must be 16 bytes in base64"))?;
    HeaderValue::from_str(&derive_accept_key(key))
        .map_err(|_| ApiError::bad_request("Sec-WebSocket-Key must be 16 bytes in base64"))
}

/// The only request headers a socket keeps for its lifetime: who the client is (the rate
/// limit's key) and the request id (its error events name it).
fn client_headers(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for v in headers.get_all(X_FORWARDED_FOR) {
        kept.append(X_FORWARDED_FOR, v.clone());
    }
    if let Some(id) = headers.get(REQUEST_ID) {
        kept.insert(REQUEST_ID, id.clone());
    }
    kept
}

/// One of the process's `WS_MAX_SOCKETS` places, held for the socket's life.
#[derive(Debug)]
struct OpenSocket(Arc<AtomicUsize>);

impl OpenSocket {
    fn claim(open: &Arc<AtomicUsize>, max: usize) -> Option<OpenSocket> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| OpenSocket(Arc::clone(open)))
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A frame a client sent, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// `POST /chat`'s JSON body (without `type`), decoded by [`Chat::start`].
    Chat(Vec<u8>),
    Resume {
        conversation_id: String,
        since: Since,
    },
}

/// A refused client frame, as its `error` frame says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    fn of(e: &ChatError) -> Refusal {
        Refusal {
            code: e.code(),
            message: e.public_message(),
            retry_after_secs: e.retry_after().and_then(|s| s.parse().ok()),
        }
    }

    /// `{"type":"error","error":{"code","message","retry_after_secs"?}}`
    pub fn frame(&self) -> String {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(secs) = self.retry_after_secs {
            error["retry_after_secs"] = secs.into();
        }
        serde_json::json!({ "type": "error", "error": error }).to_string()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResumeFrame {
    conversation_id: String,
    since_seq: u64,
    #[serde(default)]
    turn: Option<String>,
}

impl ClientFrame {
    /// Decodes one text frame.
    ///
    /// # Errors
    /// Not a JSON object, an unknown `type`, or a malformed `resume`.
    pub fn parse(text: &str) -> Result<ClientFrame, Refusal> {
        let bad = |e: serde_json::Error| Refusal::new("bad_json", format!("not a frame: {e}"));
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(bad)?;
        let kind = match object.remove("type") {
            Some(serde_json::Value::String(kind)) => kind,
            _ => {
                return Err(Refusal::new(
                    "bad_frame",
                    "a frame needs \"type\": \"chat\" or \"resume\"",
                ));
            }
        };
        match kind.as_str() {
            "chat" => serde_json::to_vec(&object)
                .map(ClientFrame::Chat)
                .map_err(bad),
            "resume" => {
                let frame: ResumeFrame =
                    serde_json::from_value(serde_json::Value::Object(object)).map_err(bad)?;
                let raw = match &frame.turn {
                    Some(turn) => format!("{turn}:{}", frame.since_seq),
                    None => frame.since_seq.to_string(),
                };
                let since = Since::parse(&raw).ok_or_else(|| Refusal::of(&ChatError::BadSince))?;
                let conversation_id = frame.conversation_id.trim().to_owned();
                if conversation_id.is_empty() {
                    return Err(Refusal::of(&ChatError::ConversationNotFound));
                }
                Ok(ClientFrame::Resume {
                    conversation_id,
                    since,
                })
            }
            other => Err(Refusal::new(
                "bad_frame",
                format!("unknown frame type {other:?}; send \"chat\" or \"resume\""),
            )),
        }
    }
}

/// `{"type":"event","event","turn","seq","data"}`: an SSE event as a frame (`data` is the
/// event's JSON as it is, not re-encoded).
pub fn event_frame(ev: &Sequenced) -> String {
    let turn = serde_json::Value::from(ev.turn.as_str());
    format!(
        r#"{{"type":"event","event":"{}","turn":{turn},"seq":{},"data":{}}}"#,
        ev.name, ev.seq, ev.data
    )
}

/// `{"type":"turn","turn","conversation_id","resumable"}`: which turn follows, and (before any
/// of its events) where to resume it from.
fn turn_frame(sub: &Subscription) -> String {
    serde_json::json!({
        "type": "turn",
        "turn": sub.turn,
        "conversation_id": sub.conversation_id,
        "resumable": sub.resumable,
    })
    .to_string()
}

/// Frames waiting for the client, bounded in bytes.
#[derive(Debug)]
struct Outbox {
    frames: VecDeque<Message>,
    bytes: usize,
    limit: usize,
    /// tungstenite has bytes of its own to send (a pong, a close reply).
    flush: bool,
}

impl Outbox {
    fn new(limit: usize) -> Outbox {
        Outbox {
            frames: VecDeque::new(),
            bytes: 0,
            limit,
            flush: false,
        }
    }

    /// Queues a frame; `false` (and nothing queued) when it would go over the bound.
    fn push(&mut self, text: String) -> bool {
        if self.bytes + text.len() > self.limit {
            return false;
        }
        self.bytes += text.len();
        self.frames.push_back(Message::Text(text.into()));
        true
    }

    /// Queues a frame read at the reader's pace (only while [`Outbox::half_empty`]), so
    /// never more than half the bound plus one event.
    fn push_paced(&mut self, text: String) {
        self.bytes += text.len();
        self.frames.push_back(Message::Text(text.into()));
    }

    fn half_empty(&self) -> bool {
        self.bytes <= self.limit / 2
    }

    fn control(&mut self, msg: Message) {
        self.frames.push_back(msg);
    }

    fn pending(&self) -> bool {
        self.flush || !self.frames.is_empty()
    }

    /// Hands queued frames to tungstenite while the socket takes them, then flushes.
    /// Cancel-safe: a frame leaves the queue only in the same poll that tungstenite takes it.
    async fn drain<S>(
        &mut self,
        tx: &mut SplitSink<WebSocketStream<S>, Message>,
    ) -> Result<(), WsError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        std::future::poll_fn(|cx| {
            use std::task::Poll;
            while !self.frames.is_empty() {
                match tx.poll_ready_unpin(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
                if let Some(msg) = self.frames.pop_front() {
                    if let Message::Text(t) = &msg {
                        self.bytes -= t.len();
                    }
                    tx.start_send_unpin(msg)?;
                }
            }
            match tx.poll_flush_unpin(cx) {
                Poll::Ready(r) => {
                    self.flush = false;
                    Poll::Ready(r)
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }
}

/// One open socket.
struct Socket {
    chat: Chat,
    cfg: WsConfig,
    client: HeaderMap,
    _slot: OpenSocket,
}

/// Why a socket ends.
enum End {
    /// The peer closed, or the connection broke: nothing more to say.
    Gone,
    /// We close with this code and reason.
    Close(CloseCode, String),
}

impl Socket {
    async fn run(self, io: Upgraded<'_>) {
        let _gauge = elbatt::metrics::socket_opened();
        let mut shutdown = io.shutdown();
        if let Err(e) = io.set_send_buffer(KERNEL_SEND_BUFFER_BYTES) {
            tracing::debug!(error = %e, "websocket: send buffer not set");
        }
        let mut config = WebSocketConfig::default();
        config.read_buffer_size = READ_BUFFER_BYTES;
        // Frames go to the socket as they come; the bound on what waits is the outbox's.
        config.write_buffer_size = 0;
        config.max_write_buffer_size = self.cfg.send_buffer_bytes + self.cfg.max_frame_bytes;
        config.max_frame_size = Some(self.cfg.max_frame_bytes);
        config.max_message_size = Some(self.cfg.max_frame_bytes);
        let opened = std::time::Instant::now();
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        let (mut tx, mut rx) = ws.split();
        let mut out = Outbox::new(self.cfg.send_buffer_bytes);
        let mut sub: Option<Following> = None;
        let mut heard = true;
        let mut ping = tokio::time::interval_at(
            tokio::time::Instant::now() + self.cfg.ping_every,
            self.cfg.ping_every,
        );
        // A tick held up (by a slow store while a frame is handled) must not come twice in a
        // row: the second would find the first ping unanswered and close a healthy socket.
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let end = loop {
            tokio::select! {
                incoming = rx.next() => {
                    let msg = match incoming {
                        None => break End::Gone,
                        Some(Err(e)) => break closing_for(&e, self.cfg.max_frame_bytes),
                        Some(Ok(msg)) => msg,
                    };
                    heard = true;
                    match msg {
                        Message::Text(text) => {
                            let reply = self.on_frame(text.as_str(), &mut sub).await;
                            if reply.is_some_and(|reply| !out.push(reply)) {
                                break slow_reader();
                            }
                        }
                        Message::Binary(_) => {
                            break End::Close(CloseCode::Unsupported, "send JSON text frames".into());
                        }
                        // tungstenite queued the answer (a pong, the close reply): send it.
                        Message::Ping(_) | Message::Close(_) => out.flush = true,
                        Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
                ev = next_event(&mut sub), if sub.as_ref().is_some_and(|f| f.live || out.half_empty()) => match ev {
                    Some(ev) => {
                        let last = ev.is_last();
                        let live = sub.as_ref().is_some_and(|f| f.live);
                        if live && !out.push(event_frame(&ev)) {
                            break slow_reader();
                        }
                        if !live {
                            out.push_paced(event_frame(&ev));
                        }
                        if last {
                            sub = None;
                        }
                    }
                    None => sub = None,
                },
                sent = out.drain(&mut tx), if out.pending() => {
                    if let Err(e) = sent {
                        tracing::debug!(error = %e, "websocket: send failed");
                        break End::Gone;
                    }
                }
                _ = ping.tick() => {
                    if !heard {
                        break End::Close(CloseCode::Away, "no answer to ping".into());
                    }
                    heard = false;
                    out.control(Message::Ping(Default::default()));
                }
                () = shutdown.requested() => {
                    break End::Close(CloseCode::Restart, "server restarting; reconnect and resume".into());
                }
            }
        };
        // Whatever waited is dropped at once: a stored turn can be resumed, and a socket that
        // is closing must not hold it.
        drop(sub);
        drop(out);
        // One line per socket, for whoever wonders why clients reconnect (1013: slow readers).
        tracing::info!(
            close_code = match &end {
                End::Gone => None,
                End::Close(code, _) => Some(u16::from(*code)),
            },
            open_secs = opened.elapsed().as_secs(),
            "websocket closed"
        );
        close(tx, rx, end).await;
    }

    /// Handles one text frame; returns what to answer at once (an error or a `turn` frame).
    async fn on_frame(&self, text: &str, sub: &mut Option<Following>) -> Option<String> {
        let frame = match ClientFrame::parse(text) {
            Ok(frame) => frame,
            Err(refused) => return Some(refused.frame()),
        };
        if sub.is_some() {
            return Some(
                Refusal::new(
                    "turn_in_progress",
                    "wait for this turn's done (or error) before sending another frame",
                )
                .frame(),
            );
        }
        let live = matches!(frame, ClientFrame::Chat(_));
        let started = match frame {
            ClientFrame::Chat(body) => self.chat.start(&self.client, &body).await,
            ClientFrame::Resume {
                conversation_id,
                since,
            } => match self.chat.admit(&self.client).await {
                Ok(()) => self.chat.resume(&conversation_id, since).await,
                Err(e) => Err(e),
            },
        };
        match started {
            Ok(s) => {
                let frame = turn_frame(&s);
                *sub = Some(Following { sub: s, live });
                Some(frame)
            }
            Err(e) => Some(Refusal::of(&e).frame()),
        }
    }
}

/// The turn a socket follows, and how it must be read.
struct Following {
    sub: Subscription,
    /// Started on this socket: its events are handed over as the turn makes them, whether or
    /// not anyone reads them, so they must be taken as they come, and a reader that falls a
    /// whole outbox behind is closed. A resume reads the turn's kept events instead, at the
    /// reader's pace (replay of a long turn must not look like a slow reader).
    live: bool,
}

async fn next_event(sub: &mut Option<Following>) -> Option<Sequenced> {
    match sub {
        Some(f) => f.sub.next().await,
        None => std::future::pending().await,
    }
}

fn slow_reader() -> End {
    End::Close(
        CloseCode::Again,
        "reader too slow: send buffer full; reconnect and resume with since_seq".into(),
    )
}

/// The close a read error calls for.
fn closing_for(e: &WsError, limit: usize) -> End {
    match e {
        WsError::Capacity(_) => End::Close(
            CloseCode::Size,
            format!("frame or message over {limit} bytes (CHAT_MAX_BODY_BYTES)"),
        ),
        WsError::Utf8(_) => End::Close(CloseCode::Invalid, "text frame is not UTF-8".into()),
        WsError::Protocol(p) => {
            tracing::debug!(error = %p, "websocket: protocol error");
            End::Close(CloseCode::Protocol, "protocol error".into())
        }
        _ => End::Gone,
    }
}

/// Sends our close frame (if any) and waits a little for the peer's, then lets go.
async fn close<S>(
    mut tx: SplitSink<WebSocketStream<S>, Message>,
    mut rx: SplitStream<WebSocketStream<S>>,
    end: End,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let goodbye = async {
        match end {
            End::Gone => {
                // A close reply tungstenite queued, if the peer closed first.
                let _ = tx.flush().await;
            }
            End::Close(code, reason) => {
                tracing::debug!(code = u16::from(code), %reason, "websocket: closing");
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                if tx.send(Message::Close(Some(frame))).await.is_ok() {
                    while let Some(Ok(_)) = rx.next().await {}
                }
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, goodbye).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_frame_is_post_chats_body_without_its_type() {
        let f = ClientFrame::parse(r#"{"type":"chat","message":"Hei","conversation_id":"c1"}"#)
            .unwrap();
        let ClientFrame::Chat(body) = f else {
            panic!("{f:?}")
        };
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"message": "Hei", "conversation_id": "c1"})
        );
    }

    #[test]
    fn a_resume_frame_names_a_conversation_and_a_sequence_number() {
        let f = ClientFrame::parse(r#"{"type":"resume","conversation_id":"c1","since_seq":4}"#)
            .unwrap();
        assert_eq!(
            f,
            ClientFrame::Resume {
                conversation_id: "c1".into(),
                since: Since { turn: None, seq: 4 }
            }
        );
        let t = ClientFrame::parse(
            r#"{"type":"resume","conversation_id":"c1","since_seq":0,"turn":"0123456789abcdef"}"#,
        )
        .unwrap();
        assert!(matches!(
            t,
            ClientFrame::Resume {
                since: Since {
                    turn: Some(_),
                    seq: 0
                },
                ..
            }
        ));
    }

    #[test]
    fn malformed_frames_are_refused_with_a_code() {
        for (text, code) in [
            ("", "bad_json"),
            ("[1]", "bad_json"),
            (r#"{"message":"Hei"}"#, "bad_frame"),
            (r#"{"type":"shout"}"#, "bad_frame"),
            (r#"{"type":5}"#, "bad_frame"),
            (r#"{"type":"resume","conversation_id":"c1"}"#, "bad_json"),
            (
                r#"{"type":"resume","conversation_id":"c1","since_seq":-1}"#,
                "bad_json",
            ),
            (
                r#"{"type":"resume","conversation_id":"c1","since_seq":1,"x":1}"#,
                "bad_json",
            ),
            (
                r#"{"type":"resume","conversation_id":"c1","since_seq":1,"turn":"nope"}"#,
                "bad_since",
            ),
            (
                r#"{"type":"resume","conversation_id":" ","since_seq":1}"#,
                "conversation_not_found",
            ),
        ] {
            assert_eq!(ClientFrame::parse(text).unwrap_err().code, code, "{text}");
        }
        let frame: serde_json::Value =
            serde_json::from_str(&ClientFrame::parse("{").unwrap_err().frame()).unwrap();
        assert_eq!(frame["type"], "error");
        assert_eq!(frame["error"]["code"], "bad_json");
    }

    #[test]
    fn an_event_frame_carries_the_sse_data_as_json() {
        let ev = Sequenced {
            seq: 3,
            turn: "0123456789abcdef".into(),
            name: "delta",
            data: r#"{"text":"Hei \"du\""}"#.into(),
        };
        let v: serde_json::Value = serde_json::from_str(&event_frame(&ev)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"event","event":"delta","turn":"0123456789abcdef","seq":3,
                "data":{"text":"Hei \"du\""}})
        );
    }

    #[test]
    fn the_outbox_refuses_what_would_go_over_its_bound() {
        let mut out = Outbox::new(10);
        assert!(out.push("12345".into()));
        assert!(out.push("12345".into()));
        assert!(!out.push("1".into()));
        assert_eq!(out.bytes, 10);
        assert_eq!(out.frames.len(), 2);
    }

    #[test]
    fn the_socket_cap_is_held_until_each_socket_ends() {
        let open = Arc::new(AtomicUsize::new(0));
        let a = OpenSocket::claim(&open, 2).unwrap();
        let b = OpenSocket::claim(&open, 2).unwrap();
        assert!(OpenSocket::claim(&open, 2).is_none());
        drop(a);
        let c = OpenSocket::claim(&open, 2);
        assert!(c.is_some());
        drop((b, c));
        assert_eq!(open.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_handshake_answers_rfc_6455s_example_key() {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert_eq!(handshake(&h).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let mut old = h.clone();
        old.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert_eq!(
            handshake(&old).unwrap_err().status,
            StatusCode::UPGRADE_REQUIRED
        );
        let mut bad = h.clone();
        bad.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("short"));
        assert_eq!(handshake(&bad).unwrap_err().status, StatusCode::BAD_REQUEST);
        let mut plain = h;
        plain.remove(header::UPGRADE);
        assert_eq!(handshake(&plain).unwrap_err().code, "websocket_expected");
    }

    #[test]
    fn limits_out_of_range_name_their_variable() {
        let cfg = |k: &str, v: &str| WsConfig::from_env(&Env::from_pairs([(k, v)]), 1024);
        assert_eq!(
            cfg("WS_MAX_SOCKETS", "0").unwrap_err().var,
            "WS_MAX_SOCKETS"
        );
        assert_eq!(cfg("WS_PING_SECS", "0").unwrap_err().var, "WS_PING_SECS");
        assert_eq!(
            cfg("WS_SEND_BUFFER_BYTES", "10").unwrap_err().var,
            "WS_SEND_BUFFER_BYTES"
        );
        let d = WsConfig::from_env(&Env::default(), 1024).unwrap();
        assert_eq!((d.max_sockets, d.send_buffer_bytes), (1000, 262_144));
    }
}
