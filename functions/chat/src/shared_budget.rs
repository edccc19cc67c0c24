//! The daily token budget (`CHAT_DAILY_TOKEN_BUDGET`) held in the store, so every instance
//! spends from one budget. The per-instance [`crate::assistant::Budget`] stays in front as the
//! first line (a spent instance never asks the store).
//!
//! Before each model call a turn **reserves** an estimate (prompt characters / 4 plus the output
//! cap) with one atomic statement that refuses to pass the cap; afterwards it **settles** to what
//! was spent: the reported usage (or our estimate of it) on success, nothing when every model
//! failed before answering. A turn whose client left, or that failed or timed out after the
//! answer began, keeps its whole reservation: those tokens were spent and are never reported.
//! The store down: the per-instance budget alone applies (the store logs it once).

use std::sync::Arc;

use elbatt_store::{Store, StoreError};

/// The counter's scope in the store.
pub const SCOPE: &str = "chat_tokens";
const DAY_MS: i64 = 86_400_000;

/// What a reservation attempt gave.
#[derive(Debug)]
pub enum Reserve {
    Granted(Reservation),
    /// Today's shared budget cannot take this turn.
    Spent,
    /// No shared budget (no store, no budget, or the store did not answer).
    NotShared,
}

/// Tokens reserved for one turn, in today's window (UTC days, as the per-instance budget).
#[derive(Debug)]
pub struct Reservation {
    store: Arc<Store>,
    window_ms: i64,
    reserved: i64,
}

/// Reserves `estimate` tokens of the shared budget `limit`.
pub async fn reserve(store: &Arc<Store>, limit: u64, estimate: u64) -> Reserve {
    if !store.enabled() {
        return Reserve::NotShared;
    }
    let now = elbatt_store::now_ms();
    let window_ms = now - now.rem_euclid(DAY_MS);
    let reserved = i64::try_from(estimate).unwrap_or(i64::MAX);
    let cap = i64::try_from(limit).unwrap_or(i64::MAX);
    let added = match store.backend().await {
        Ok(b) => {
            b.counter_add(SCOPE, window_ms, reserved, cap, window_ms + 2 * DAY_MS)
                .await
        }
        Err(e) => Err(e),
    };
    match added {
        Ok(Some(_)) => Reserve::Granted(Reservation {
            store: Arc::clone(store),
            window_ms,
            reserved,
        }),
        Ok(None) => Reserve::Spent,
        Err(e) => {
            unavailable(store, &e);
            Reserve::NotShared
        }
    }
}

fn unavailable(store: &Store, e: &StoreError) {
    if !matches!(e, StoreError::NotConfigured) {
        store.mark(false, Some(e));
    }
}

impl Reservation {
    /// Settles to `spent` tokens; `None` keeps the whole reservation.
    pub async fn settle(self, spent: Option<u64>) {
        let Some(spent) = spent else { return };
        let delta = i64::try_from(spent).unwrap_or(i64::MAX) - self.reserved;
        if delta == 0 {
            return;
        }
        let settled = match self.store.backend().await {
            Ok(b) => b.counter_adjust(SCOPE, self.window_ms, delta).await,
            Err(e) => Err(e),
        };
        if let Err(e) = settled {
            unavailable(&self.store, &e);
        }
    }

    pub fn reserved(&self) -> u64 {
        u64::try_from(self.reserved).unwrap_or(0)
    }
}
