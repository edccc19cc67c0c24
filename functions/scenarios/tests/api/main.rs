//! `/api/scenarios` and `POST /chat` with a scenario, end to end: the real server on
//! 127.0.0.1:0 with both functions built from one `Context` (as the runner builds them), a
//! SQLite store in a temporary directory, chat's fake OpenAI-compatible model (which records
//! every request body) and a real HTTP client. One test binary (modules below).

#![allow(clippy::unwrap_used)]

// The fake model is chat's own test support, shared rather than copied.
#[allow(dead_code, unreachable_pub)]
#[path = "../../../chat/tests/api/fake_llm.rs"]
mod fake_llm;
mod helpers;
mod turns;
mod writes;
