//! The runner's integration tests: the real router on 127.0.0.1:0, a real HTTP client. One test
//! binary (modules below) so there is one link step.

#![allow(clippy::unwrap_used)]

mod binary;
mod chat;
mod conversations;
mod durability;
mod faults;
mod helpers;
mod hostile;
mod llm_debug;
mod metrics;
mod openapi;
mod parity;
mod plate_lookup;
mod routing;
mod shared_store;
mod websocket;
mod widget;
