//! Conversations the server keeps (`docs/state.md`): which one a turn belongs to, its history
//! loaded from the store, and the turn stored *before* the client hears `done`, so a `done`
//! (or a JSON reply) carrying `conversation_id` is the acknowledgement that the turn is durable.
//!
//! - No `conversation_id`: a new conversation, its id generated here (244 random bits). Client
//!   history, if any, seeds it, so the stored conversation holds what the model saw.
//! - `conversation_id`: its stored messages become the history (the most recent ones that fit
//!   `CHAT_MAX_HISTORY_TURNS` and `CHAT_MAX_HISTORY_CHARS`); unknown → `404`.
//! - Store down: a continuing conversation cannot be answered (`503`); a new one is answered
//!   without being stored (`done` then has no `conversation_id`), logged once by the store.
//! - A turn that ends in an error is not stored. One whose client left goes on and is stored
//!   ([`crate::turns`] keeps reading it until `done` or the turn timeout).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use elbatt_store::{ConversationId, NewMessage, Role as StoredRole, Store, StoreError, TokenUsage};
use tokio::sync::mpsc;

use crate::api::{ChatError, HistoryItem, Role, Turn};
use crate::assistant::{Mode, TurnEvent};
use crate::config::Limits;

/// A store call taking longer counts as the store being down: the turn goes on without it.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(5);

async fn bounded<T>(f: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(STORE_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "no answer within {STORE_TIMEOUT:?}"
            )))
        })
}

/// Where a turn goes.
#[derive(Debug)]
pub enum Plan {
    /// No store (`STORE=off`): the client keeps the history.
    Stateless,
    /// Stored under `id`.
    Stored {
        id: ConversationId,
        /// A new conversation (seeded with `seed`, the client's history).
        create: bool,
        seed: Vec<HistoryItem>,
    },
}

/// Decides where `turn` goes, loading its history from the store when it continues one.
///
/// # Errors
/// Unknown id (`404`), ids without a store (`400`), the store down for a continuing
/// conversation (`503`).
pub async fn plan(store: &Store, turn: &mut Turn, limits: &Limits) -> Result<Plan, ChatError> {
    if !store.enabled() {
        return match turn.conversation_id {
            Some(_) => Err(ChatError::ConversationsDisabled),
            None => Ok(Plan::Stateless),
        };
    }
    let Some(raw) = turn.conversation_id.as_deref() else {
        return Ok(Plan::Stored {
            id: ConversationId::generate(),
            create: true,
            seed: turn.history.clone(),
        });
    };
    let id = ConversationId::parse(raw).ok_or(ChatError::ConversationNotFound)?;
    let stored = bounded(async { store.backend().await?.conversation(&id).await })
        .await
        .map_err(|e| unavailable(store, &e))?
        .ok_or(ChatError::ConversationNotFound)?;
    turn.history = recent_history(
        stored.messages.into_iter().map(|m| HistoryItem {
            role: match m.role {
                StoredRole::User => Role::User,
                StoredRole::Assistant => Role::Assistant,
            },
            content: m.content,
        }),
        limits,
    );
    Ok(Plan::Stored {
        id,
        create: false,
        seed: Vec::new(),
    })
}

fn unavailable(store: &Store, e: &StoreError) -> ChatError {
    store.mark(false, Some(e));
    ChatError::StoreUnavailable
}

/// The most recent messages that fit the history limits, oldest first.
fn recent_history(
    all: impl DoubleEndedIterator<Item = HistoryItem>,
    limits: &Limits,
) -> Vec<HistoryItem> {
    let mut chars = 0;
    let mut kept: Vec<HistoryItem> = all
        .rev()
        .take(limits.max_history_turns)
        .take_while(|h| {
            chars += h.content.chars().count();
            chars <= limits.max_history_chars
        })
        .collect();
    kept.reverse();
    kept
}

fn stored(h: &HistoryItem, at: i64) -> NewMessage {
    let mut m = NewMessage::user(h.content.clone(), at);
    if h.role == Role::Assistant {
        m.role = StoredRole::Assistant;
    }
    m
}

/// Passes a turn's events from the assistant on (to [`crate::turns`]), storing the turn before
/// `done`. Stops (dropping `from`, which stops the turn) when its reader is gone: only a stateless
/// turn's reader leaves early.
pub async fn record(
    store: Arc<Store>,
    plan: Plan,
    user: NewMessage,
    mut from: mpsc::UnboundedReceiver<TurnEvent>,
    to: mpsc::UnboundedSender<TurnEvent>,
) {
    let Plan::Stored { id, create, seed } = plan else {
        while let Some(ev) = from.recv().await {
            if to.send(ev).is_err() {
                return;
            }
        }
        return;
    };
    let mut text = String::new();
    let mut vehicles = Vec::new();
    while let Some(ev) = from.recv().await {
        let ev = match ev {
            TurnEvent::Text(t) => {
                text.push_str(&t);
                TurnEvent::Text(t)
            }
            TurnEvent::Vehicle(v) => {
                vehicles.push(serde_json::to_value(&v).unwrap_or_default());
                TurnEvent::Vehicle(v)
            }
            TurnEvent::Done(mut done) => {
                let now = elbatt_store::now_ms();
                let mut messages: Vec<NewMessage> =
                    seed.iter().map(|h| stored(h, user.created_at_ms)).collect();
                messages.push(user.clone());
                messages.push(NewMessage {
                    role: StoredRole::Assistant,
                    content: std::mem::take(&mut text),
                    vehicles: serde_json::Value::Array(std::mem::take(&mut vehicles)),
                    model: done.model.clone(),
                    mode: Some(
                        match done.mode {
                            Mode::Model => "model",
                            Mode::Offline => "offline",
                        }
                        .to_owned(),
                    ),
                    usage: done.usage.map(|u| TokenUsage {
                        prompt_tokens: i64::try_from(u.prompt_tokens).unwrap_or(i64::MAX),
                        completion_tokens: i64::try_from(u.completion_tokens).unwrap_or(i64::MAX),
                        total_tokens: i64::try_from(u.total_tokens).unwrap_or(i64::MAX),
                    }),
                    created_at_ms: now,
                });
                let saved = bounded(async {
                    store
                        .backend()
                        .await?
                        .append(&id, create, &messages, now)
                        .await
                })
                .await;
                match saved {
                    Ok(()) => {
                        store.mark(true, None);
                        done.conversation_id = Some(id.to_string());
                    }
                    // Erased while this turn ran: it stays erased.
                    Err(StoreError::NotFound) => {
                        tracing::info!("conversation erased during the turn; not stored");
                    }
                    Err(e) => store.mark(false, Some(&e)),
                }
                let _ = to.send(TurnEvent::Done(done));
                return;
            }
            TurnEvent::Error(e) => {
                let _ = to.send(TurnEvent::Error(e));
                return;
            }
        };
        if to.send(ev).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn item(role: Role, content: &str) -> HistoryItem {
        HistoryItem {
            role,
            content: content.to_owned(),
        }
    }

    #[test]
    fn a_long_conversation_keeps_its_most_recent_messages_within_the_limits() {
        let limits = Limits {
            max_body_bytes: 1000,
            max_message_chars: 100,
            max_history_turns: 3,
            max_history_chars: 10,
        };
        let all = vec![
            item(Role::User, "aaaa"),
            item(Role::Assistant, "bbbb"),
            item(Role::User, "cccc"),
            item(Role::Assistant, "dddd"),
        ];
        let kept = recent_history(all.clone().into_iter(), &limits);
        assert_eq!(
            kept,
            [item(Role::User, "cccc"), item(Role::Assistant, "dddd")],
            "chars bound"
        );
        let wide = Limits {
            max_history_chars: 1000,
            ..limits
        };
        let kept = recent_history(all.into_iter(), &wide);
        assert_eq!(kept.len(), 3, "turns bound");
        assert_eq!(kept[0].content, "bbbb");
    }
}
