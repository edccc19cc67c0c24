//! Fuzz target `chat_request`: arbitrary bytes as a `/chat` request body → `Turn::parse` with
//! the default limits (an empty environment), with and without `Accept: text/event-stream`.
//!
//! Properties: nothing panics; an accepted turn holds a trimmed, non-empty message within the
//! limits and history within the limits; a refusal is a 4xx whose error body is valid JSON.

#![no_main]

use std::sync::OnceLock;

use chat::api::Turn;
use chat::config::{ChatConfig, Limits};
use elbatt::config::Env;
use elbatt::http::{HttpError, error_json};
use libfuzzer_sys::fuzz_target;

fn limits() -> &'static Limits {
    static LIMITS: OnceLock<Limits> = OnceLock::new();
    LIMITS.get_or_init(|| {
        ChatConfig::from_env(&Env::default())
            .expect("the defaults are a valid configuration")
            .limits
    })
}

fuzz_target!(|data: &[u8]| {
    let limits = limits();
    for wants_sse in [false, true] {
        match Turn::parse(data, limits, wants_sse) {
            Ok(turn) => {
                assert!(!turn.message.is_empty());
                assert_eq!(turn.message.trim(), turn.message);
                assert!(turn.message.chars().count() <= limits.max_message_chars);
                assert!(turn.history.len() <= limits.max_history_turns);
                let history_chars: usize =
                    turn.history.iter().map(|h| h.content.chars().count()).sum();
                assert!(history_chars <= limits.max_history_chars);
                assert!(turn.history.iter().all(|h| !h.content.trim().is_empty()));
                assert!(
                    turn.model
                        .as_deref()
                        .is_none_or(|m| !m.is_empty() && m.trim() == m)
                );
            }
            Err(e) => {
                assert!(e.status().is_client_error(), "{e:?} is {}", e.status());
                let body: serde_json::Value =
                    serde_json::from_str(&error_json(&e, Some("rid"))).expect("error body is JSON");
                assert_eq!(body["error"]["code"], e.code());
            }
        }
    }
});
