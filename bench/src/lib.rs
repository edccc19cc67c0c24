//! The pure parts of the benchmark tools, kept apart from the binaries so they can be tested:
//! summaries of repeated measurements ([`stats`]), reading `wrk`'s report ([`wrk`]), spotting the
//! first token and the end of a streamed chat reply ([`sse`]) and a tiny flag parser ([`args`]).
//!
//! The binaries (`src/bin/`): `hello` (the bare hyper floor), `fake-upstream` (Statens vegvesen
//! and an OpenAI-compatible chat API on loopback) and `measure` (cold start, time to first
//! token, wrk runs, RSS). `scripts/bench.sh` and `scripts/load.sh` drive them.

pub mod args;
pub mod sse;
pub mod stats;
pub mod wrk;
