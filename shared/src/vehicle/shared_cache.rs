//! What instances share about Statens vegvesen: a second-level cache of lookups, the daily call
//! quota and a pause after the registry said "quota exhausted". A port, so this crate does not
//! know what implements it (the store crate does, through the `Context`; `docs/state.md`).
//!
//! Consulted only when the instance's own cache misses, before Statens vegvesen is called, and
//! filled after each upstream answer with the same lifetimes as the instance cache: a plate one
//! instance looked up is answered by another without an upstream call, and a hit in memory does
//! no I/O at all. It holds the registry's body as received (`None`: no such vehicle). A failing
//! implementation answers "miss" and drops writes; it never fails a lookup.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The registry's answer for a plate: its body, or `None` for "no such vehicle".
pub type CachedBody = Option<Vec<u8>>;

/// What a shared cache does.
pub trait SharedVehicleCache: Send + Sync + std::fmt::Debug {
    /// The answer cached for `plate` (normalised), if it has not expired at `now_ms`.
    fn get<'a>(
        &'a self,
        plate: &'a str,
        now_ms: i64,
    ) -> Pin<Box<dyn Future<Output = Option<CachedBody>> + Send + 'a>>;
    /// Caches `body` for `plate` until `expires_at_ms`.
    fn put<'a>(
        &'a self,
        plate: &'a str,
        body: CachedBody,
        expires_at_ms: i64,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
    /// Counts one upstream call against the shared daily quota before it is made; `Err` with how
    /// long to wait when the quota is spent or every instance is paused. Unreachable: `Ok`.
    fn take_call(
        &self,
        now_ms: i64,
    ) -> Pin<Box<dyn Future<Output = Result<(), Duration>> + Send + '_>> {
        let _ = now_ms;
        Box::pin(async { Ok(()) })
    }
    /// Pauses every instance's calls until `until_ms` (the registry said its quota is spent).
    fn pause(&self, until_ms: i64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let _ = until_ms;
        Box::pin(async {})
    }
}
