//! The `/chat` request as the widget sends it, decoded and checked once at the edge into a
//! [`Turn`]; and the errors a request can meet, each with its status.
//!
//! ```json
//! {"message": "Hvor lenge varer batterigarantien?",
//!  "history": [{"role": "user", "content": "…"}, {"role": "assistant", "content": "…"}],
//!  "stream": true, "model": "gpt-4o-mini"}
//! ```
//!
//! `"scenario": "<id>"` answers with that scenario's prompt, model, temperature, tools and
//! language (`docs/scenarios.md`); unknown → `404 scenario_not_found`.
//!
//! With a store, `"conversation_id": "<id from an earlier reply>"` replaces `history`: the
//! server loads it. Sending both is a `400` (`history_with_conversation`): the two could
//! disagree, and a widget that still sends history would otherwise never learn that it is
//! ignored (`docs/state.md`).

use std::sync::Arc;

use elbatt::http::HttpError;
use elbatt_store::scenarios::{Scenario, ScenarioId};
use http::StatusCode;
use serde::Deserialize;

use crate::config::Limits;

/// The raw JSON body. Unknown fields are refused so a typo ("mesage") is a clear 400.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    pub message: String,
    #[serde(default)]
    pub history: Vec<HistoryItem>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub scenario: Option<String>,
}

/// One earlier turn the client kept (serverless instances keep no state).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryItem {
    pub role: Role,
    pub content: String,
}

/// Only what a user and the assistant said; system and tool messages are ours alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// A checked request: message non-empty and within limits, history within limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub message: String,
    pub history: Vec<HistoryItem>,
    pub stream: bool,
    pub model: Option<String>,
    /// As the client sent it (checked against the store by the handler).
    pub conversation_id: Option<String>,
    /// The scenario the client named (a malformed name is answered as an unknown one).
    pub scenario: Option<ScenarioId>,
    /// The scenario this turn runs with, once read ([`crate::assistant::Assistant::prepare`]).
    pub profile: Option<Arc<Scenario>>,
}

/// Everything that can go wrong with a `/chat` request before or during a turn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("request body is larger than the {limit}-byte limit (CHAT_MAX_BODY_BYTES)")]
    BodyTooLarge { limit: usize },
    #[error("send the request as JSON with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("the request body is not valid JSON for /chat: {0}")]
    BadJson(String),
    #[error("`message` is empty")]
    EmptyMessage,
    #[error("`message` is {len} characters; the limit is {limit} (CHAT_MAX_MESSAGE_CHARS)")]
    MessageTooLong { len: usize, limit: usize },
    #[error("`history` has {len} items; the limit is {limit} (CHAT_MAX_HISTORY_TURNS)")]
    HistoryTooLong { len: usize, limit: usize },
    #[error("`history` holds {len} characters; the limit is {limit} (CHAT_MAX_HISTORY_CHARS)")]
    HistoryTooLarge { len: usize, limit: usize },
    #[error("model {0:?} is not allowed here; allowed: {1}")]
    ModelNotAllowed(String, String),
    #[error("too many requests; slow down")]
    RateLimited { retry_after_secs: u64 },
    #[error("the assistant failed: {0}")]
    Upstream(String),
    #[error("the assistant did not answer in time")]
    Timeout,
    #[error("send either `conversation_id` (the server keeps the history) or `history`, not both")]
    HistoryWithConversation,
    #[error("no such conversation; start a new one by leaving out `conversation_id`")]
    ConversationNotFound,
    #[error("this server keeps no conversations (STORE=off); send `history` instead")]
    ConversationsDisabled,
    #[error("conversations are unavailable right now; try again")]
    StoreUnavailable,
    #[error(
        "the events of this turn are no longer kept; read the conversation with GET /conversations/{{id}}"
    )]
    ResumeExpired,
    #[error(
        "`Last-Event-ID` or `since` must be `<turn>:<seq>` or `<seq>`, as the stream's `id:` gave"
    )]
    BadSince,
    #[error("no such scenario; list them with GET /api/scenarios or leave out `scenario`")]
    ScenarioNotFound,
    #[error("this server keeps no scenarios (STORE=off); leave out `scenario`")]
    ScenariosDisabled,
    #[error("scenarios are unavailable right now; try again or leave out `scenario`")]
    ScenariosUnavailable,
    #[error(
        "scenario {scenario:?} names model {model:?}, which is not allowed here (allowed: {allowed}); an admin must change the scenario's model"
    )]
    ScenarioModelNotAllowed {
        scenario: String,
        model: String,
        allowed: String,
    },
}

impl HttpError for ChatError {
    fn status(&self) -> StatusCode {
        match self {
            ChatError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ChatError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ChatError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ChatError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ChatError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ChatError::ResumeExpired => StatusCode::GONE,
            ChatError::ConversationNotFound | ChatError::ScenarioNotFound => StatusCode::NOT_FOUND,
            ChatError::StoreUnavailable | ChatError::ScenariosUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ChatError::BodyTooLarge { .. } => "payload_too_large",
            ChatError::UnsupportedMediaType => "unsupported_media_type",
            ChatError::BadJson(_) => "bad_json",
            ChatError::EmptyMessage => "message_empty",
            ChatError::MessageTooLong { .. } => "message_too_long",
            ChatError::HistoryTooLong { .. } => "history_too_long",
            ChatError::HistoryTooLarge { .. } => "history_too_large",
            ChatError::ModelNotAllowed(..) | ChatError::ScenarioModelNotAllowed { .. } => {
                "model_not_allowed"
            }
            ChatError::RateLimited { .. } => "rate_limited",
            ChatError::Upstream(_) => "upstream_error",
            ChatError::Timeout => "upstream_timeout",
            ChatError::HistoryWithConversation => "history_with_conversation",
            ChatError::ConversationNotFound => "conversation_not_found",
            ChatError::ConversationsDisabled => "conversations_disabled",
            ChatError::ResumeExpired => "resume_expired",
            ChatError::BadSince => "bad_since",
            ChatError::StoreUnavailable | ChatError::ScenariosUnavailable => "store_unavailable",
            ChatError::ScenarioNotFound => "scenario_not_found",
            ChatError::ScenariosDisabled => "scenarios_disabled",
        }
    }

    fn public_message(&self) -> String {
        match self {
            ChatError::Upstream(_) => "the assistant failed; try again".to_owned(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<String> {
        match self {
            ChatError::RateLimited { retry_after_secs } => Some(retry_after_secs.to_string()),
            ChatError::StoreUnavailable | ChatError::ScenariosUnavailable => Some("5".to_owned()),
            _ => None,
        }
    }
}

/// Whether a `Content-Type` value is JSON (`application/json`, any parameters).
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

impl Turn {
    /// Decodes and checks a body. `wants_sse` is true when the client sent
    /// `Accept: text/event-stream`, which asks for streaming as `"stream": true` does.
    ///
    /// # Errors
    /// Malformed JSON or a limit exceeded; each error names the field and the limit.
    pub fn parse(body: &[u8], limits: &Limits, wants_sse: bool) -> Result<Turn, ChatError> {
        if body.len() > limits.max_body_bytes {
            return Err(ChatError::BodyTooLarge {
                limit: limits.max_body_bytes,
            });
        }
        let raw: ChatBody =
            serde_json::from_slice(body).map_err(|e| ChatError::BadJson(e.to_string()))?;
        let message = raw.message.trim().to_owned();
        if message.is_empty() {
            return Err(ChatError::EmptyMessage);
        }
        let len = message.chars().count();
        if len > limits.max_message_chars {
            return Err(ChatError::MessageTooLong {
                len,
                limit: limits.max_message_chars,
            });
        }
        let conversation_id = raw
            .conversation_id
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        if conversation_id.is_some() && !raw.history.is_empty() {
            return Err(ChatError::HistoryWithConversation);
        }
        if raw.history.len() > limits.max_history_turns {
            return Err(ChatError::HistoryTooLong {
                len: raw.history.len(),
                limit: limits.max_history_turns,
            });
        }
        let history_chars: usize = raw.history.iter().map(|h| h.content.chars().count()).sum();
        if history_chars > limits.max_history_chars {
            return Err(ChatError::HistoryTooLarge {
                len: history_chars,
                limit: limits.max_history_chars,
            });
        }
        let history = raw
            .history
            .into_iter()
            .filter(|h| !h.content.trim().is_empty())
            .collect();
        Ok(Turn {
            message,
            history,
            stream: raw.stream.unwrap_or(wants_sse),
            model: raw
                .model
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty()),
            conversation_id,
            scenario: match raw.scenario.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(s) => Some(ScenarioId::parse(s).map_err(|_| ChatError::ScenarioNotFound)?),
            },
            profile: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_body_bytes: 1024,
        max_message_chars: 20,
        max_history_turns: 2,
        max_history_chars: 30,
    };

    fn parse(body: &str) -> Result<Turn, ChatError> {
        Turn::parse(body.as_bytes(), &LIMITS, false)
    }

    #[test]
    fn a_plain_message_parses_with_stream_off_by_default() {
        let t = parse(r#"{"message":"  Hei  "}"#).unwrap();
        assert_eq!(t.message, "Hei");
        assert!(!t.stream);
        assert!(
            Turn::parse(br#"{"message":"Hei"}"#, &LIMITS, true)
                .unwrap()
                .stream
        );
        assert!(
            !Turn::parse(br#"{"message":"Hei","stream":false}"#, &LIMITS, true)
                .unwrap()
                .stream
        );
    }

    #[test]
    fn each_limit_is_named_in_its_error() {
        assert_eq!(parse(r#"{"message":"   "}"#), Err(ChatError::EmptyMessage));
        assert!(matches!(
            parse(r#"{"message":"aaaaaaaaaaaaaaaaaaaaa"}"#),
            Err(ChatError::MessageTooLong { len: 21, limit: 20 })
        ));
        let three = r#"{"message":"x","history":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}"#;
        assert!(matches!(
            parse(three),
            Err(ChatError::HistoryTooLong { len: 3, limit: 2 })
        ));
        let big = format!(
            r#"{{"message":"x","history":[{{"role":"user","content":"{}"}}]}}"#,
            "a".repeat(31)
        );
        let err = parse(&big).unwrap_err();
        assert!(err.to_string().contains("CHAT_MAX_HISTORY_CHARS"), "{err}");
        let huge = format!(r#"{{"message":"{}"}}"#, "a".repeat(2000));
        assert_eq!(parse(&huge), Err(ChatError::BodyTooLarge { limit: 1024 }));
    }

    #[test]
    fn malformed_json_wrong_types_and_unknown_roles_are_bad_json() {
        for body in [
            "",
            "{",
            "[]",
            r#"{"message":5}"#,
            r#"{"mesage":"hei"}"#,
            r#"{"message":"x","history":[{"role":"system","content":"y"}]}"#,
            r#"{"message":"x","stream":"yes"}"#,
        ] {
            assert!(matches!(parse(body), Err(ChatError::BadJson(_))), "{body}");
        }
        let err =
            parse(r#"{"message":"x","history":[{"role":"tool","content":"y"}]}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_conversation_id_with_history_is_refused_and_alone_is_kept() {
        let both =
            r#"{"message":"x","conversation_id":"abc","history":[{"role":"user","content":"a"}]}"#;
        assert_eq!(parse(both), Err(ChatError::HistoryWithConversation));
        assert_eq!(parse(both).unwrap_err().status(), StatusCode::BAD_REQUEST);
        let id = parse(r#"{"message":"x","conversation_id":" abc "}"#).unwrap();
        assert_eq!(id.conversation_id.as_deref(), Some("abc"));
        let empty = parse(
            r#"{"message":"x","conversation_id":"","history":[{"role":"user","content":"a"}]}"#,
        );
        assert_eq!(empty.unwrap().conversation_id, None, "an empty id is no id");
    }

    #[test]
    fn a_scenario_is_parsed_at_the_edge() {
        let t = parse(r#"{"message":"x","scenario":" ev-help "}"#).unwrap();
        assert_eq!(t.scenario.unwrap().as_str(), "ev-help");
        assert_eq!(
            parse(r#"{"message":"x","scenario":""}"#).unwrap().scenario,
            None
        );
        let bad = parse(r#"{"message":"x","scenario":"../etc"}"#).unwrap_err();
        assert_eq!(bad, ChatError::ScenarioNotFound);
        assert_eq!(bad.status(), StatusCode::NOT_FOUND);
        assert_eq!(bad.code(), "scenario_not_found");
    }

    #[test]
    fn content_type_must_be_json() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(None));
    }
}
