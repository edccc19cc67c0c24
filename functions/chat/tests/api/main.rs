//! `/chat` end to end, all offline: the real server on 127.0.0.1:0 in front of a fake
//! OpenAI-compatible model ([`fake_llm`]) and a fake Statens vegvesen. Each test asserts both
//! what we return (SSE events or the JSON body) and what we sent upstream. One test binary
//! (modules below) so there is one link step.

#![allow(clippy::unwrap_used)]

mod fake_llm;
mod faults;
mod guards;
mod helpers;
mod offline;
mod prompt;
mod quirks;
mod redaction;
mod resume;
mod shared_budget;
mod sse_client;
mod streaming;
mod tools;
