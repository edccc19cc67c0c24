//! Turn events as Server-Sent Events, and as one JSON body for `stream: false`.
//!
//! Events (named): `delta` `{"text"}` as text arrives; `vehicle` `{"plate","vehicle"|"error"}`
//! when a lookup finishes; `done` `{"mode","offline_reason"?,"model","usage","finish_reason",
//! "conversation_id"?,"resumable"}` at the end (the id once the turn is stored; `resumable`:
//! whether the turn's events are kept for a reconnect); `error`
//! `{"error":{"code","message","request_id"}}` if the turn fails after the stream began. Every
//! frame carries `id: <turn>:<seq>` (`crate::turns`). A `: ping` comment every 15 s keeps proxies
//! from closing a quiet stream.

use std::time::Duration;

use bytes::Bytes;
use elbatt::http::error_json;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::assistant::{DoneInfo, Mode, OfflineReason, TurnEvent, VehicleEvent};
use crate::llm::wire::Usage;
use crate::turns::{Sequenced, Subscription};

/// How often an idle stream gets a keep-alive comment.
pub const PING_EVERY: Duration = Duration::from_secs(15);

/// The one encoder of an event's name and JSON data, shared by SSE and the WebSocket
/// (`crate::turns::Sequenced` carries its result). `resumable` goes into `done`: whether this
/// turn's events are kept for `GET /chat/{id}/events`.
pub fn encode(
    event: &TurnEvent,
    request_id: Option<&str>,
    resumable: bool,
) -> (&'static str, String) {
    match event {
        TurnEvent::Text(t) => ("delta", json!({ "text": t }).to_string()),
        TurnEvent::Vehicle(v) => ("vehicle", serde_json::to_string(v).unwrap_or_default()),
        TurnEvent::Done(d) => {
            let mut data = serde_json::to_value(d).unwrap_or_default();
            if let Some(map) = data.as_object_mut() {
                map.insert("resumable".to_owned(), resumable.into());
            }
            ("done", data.to_string())
        }
        TurnEvent::Error(e) => ("error", error_json(e, request_id)),
    }
}

/// One SSE frame: `id: <turn>:<seq>` (what a reconnecting client sends back as
/// `Last-Event-ID`), the name and the data.
pub fn frame(event: &Sequenced) -> Bytes {
    Bytes::from(format!(
        "id: {}:{}\nevent: {}\ndata: {}\n\n",
        event.turn, event.seq, event.name, event.data
    ))
}

/// The SSE body: frames as the subscription yields them, pings while it yields none, ending
/// after `done`/`error`. Dropping the body (the client left) drops the subscription: a stored
/// turn goes on without it, a stateless one stops (`crate::turns`).
pub fn stream(mut sub: Subscription) -> impl Stream<Item = Bytes> + Send {
    async_stream(move |tx| async move {
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            tokio::select! {
                ev = sub.next() => {
                    let Some(ev) = ev else { break };
                    let last = ev.is_last();
                    if tx.send(frame(&ev)).is_err() || last {
                        break;
                    }
                }
                _ = ping.tick() => {
                    if tx.send(Bytes::from_static(b": ping\n\n")).is_err() {
                        break;
                    }
                }
            }
        }
    })
}

/// A tiny generator: runs `body` in a task, yielding what it sends. Dropping the stream drops
/// the receiver, which makes the task's next send fail and the task end.
fn async_stream<F, Fut>(body: F) -> impl Stream<Item = Bytes> + Send
where
    F: FnOnce(mpsc::UnboundedSender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(body(tx));
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
        .boxed()
}

/// The body for `stream: false`.
#[derive(Debug, Serialize)]
pub struct Reply {
    pub reply: String,
    pub vehicles: Vec<VehicleEvent>,
    pub mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_reason: Option<OfflineReason>,
    pub model: Option<String>,
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
    /// Present once the turn is stored: send it back as `conversation_id` next turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

/// Collects a whole turn. `Err` carries the turn's error if it failed.
///
/// # Errors
/// The turn ended with an error event (or without `done`).
pub async fn collect(
    mut rx: mpsc::UnboundedReceiver<TurnEvent>,
) -> Result<Reply, crate::api::ChatError> {
    let mut reply = String::new();
    let mut vehicles = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            TurnEvent::Text(t) => reply.push_str(&t),
            TurnEvent::Vehicle(v) => vehicles.push(v),
            TurnEvent::Error(e) => return Err(e),
            TurnEvent::Done(DoneInfo {
                mode,
                offline_reason,
                model,
                usage,
                finish_reason,
                conversation_id,
            }) => {
                return Ok(Reply {
                    reply,
                    vehicles,
                    mode,
                    offline_reason,
                    model,
                    usage,
                    finish_reason,
                    conversation_id,
                });
            }
        }
    }
    Err(crate::api::ChatError::Upstream(
        "the turn ended without an answer".into(),
    ))
}
