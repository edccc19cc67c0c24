//! What the store keeps: conversations and their messages, and the errors it can meet.

use std::fmt;

use serde::Serialize;

/// A conversation's id: 64 lowercase hex digits from two UUID v4s (244 random bits). The id is
/// the capability (whoever has it may read and erase the conversation), so it is never guessable
/// and never derived from anything about the client.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ConversationId(String);

impl ConversationId {
    /// A fresh random id.
    pub fn generate() -> Self {
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        ConversationId(format!("{}{}", a.simple(), b.simple()))
    }

    /// An id as a client sent it: exactly 64 lowercase hex digits, nothing else.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| ConversationId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Role, StoreError> {
        match s {
            "user" => Ok(Role::User),
            "assistant" => Ok(Role::Assistant),
            other => Err(StoreError::Corrupt(format!("unknown role {other:?}"))),
        }
    }
}

/// Tokens a model call spent (absent for offline answers and for user messages).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TokenUsage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

/// A message to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub role: Role,
    pub content: String,
    /// The vehicles looked up for this answer, as the client was shown them (JSON array).
    pub vehicles: serde_json::Value,
    /// The model that answered (assistant messages).
    pub model: Option<String>,
    /// `model` or `offline` (assistant messages).
    pub mode: Option<String>,
    pub usage: Option<TokenUsage>,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

impl NewMessage {
    /// A user message without metadata.
    pub fn user(content: impl Into<String>, created_at_ms: i64) -> Self {
        NewMessage {
            role: Role::User,
            content: content.into(),
            vehicles: serde_json::Value::Array(Vec::new()),
            model: None,
            mode: None,
            usage: None,
            created_at_ms,
        }
    }
}

/// A message as stored, numbered from 1 within its conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMessage {
    pub seq: i64,
    pub role: Role,
    pub content: String,
    pub vehicles: serde_json::Value,
    pub model: Option<String>,
    pub mode: Option<String>,
    pub usage: Option<TokenUsage>,
    pub created_at_ms: i64,
}

/// A whole conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub messages: Vec<StoredMessage>,
}

/// Everything that can go wrong in the store. Callers map these to `503` (unavailable) or
/// `404`; the detail goes to the logs, never to a client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or failed (connection, I/O, timeout).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database was written by a newer build: refused rather than misread.
    #[error(
        "the database is at schema version {found}, newer than the {supported} this build knows: \
         deploy the newer build (or point DATABASE_URL / DATABASE_PATH at another database)"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    /// A value in the database does not fit the schema.
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
    /// Appending to a conversation that does not exist (or was erased meanwhile).
    #[error("no such conversation")]
    NotFound,
    /// A conversation with this id already exists.
    #[error("conversation id already in use")]
    Conflict,
    /// No store is configured (`STORE=off`).
    #[error("no store is configured")]
    NotConfigured,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = ConversationId::generate();
        let b = ConversationId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 64);
        assert_eq!(ConversationId::parse(a.as_str()), Some(a));
    }

    #[test]
    fn ids_that_are_not_64_lowercase_hex_digits_are_refused() {
        let ok = "a".repeat(64);
        assert!(ConversationId::parse(&ok).is_some());
        for bad in [
            "",
            "abc",
            &"a".repeat(63),
            &"a".repeat(65),
            &"A".repeat(64),
            &format!("{}g", "a".repeat(63)),
            &format!("{}/", "a".repeat(63)),
        ] {
            assert!(ConversationId::parse(bad).is_none(), "{bad}");
        }
    }
}
