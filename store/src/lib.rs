//! The store: what must outlive one process or be shared between instances (conversations
//! today; fixed-window counters for shared limits are in the trait for the limits to use).
//!
//! One trait, [`Backend`], with two implementations: [`sqlite::Sqlite`] (a file with WAL, or
//! in memory) and [`postgres::Postgres`] (tokio-postgres over rustls, a small pool). Which one
//! runs is chosen by the environment ([`config`]; `docs/state.md` has the modes and what holds in
//! each). [`Store`] is the handle functions share through the `Context`: it opens the backend and
//! runs the migrations ([`schema`]) once, on first use, and reports readiness.
//!
//! Why tokio-postgres + rusqlite and not sqlx: the two cannot share one lock file with current
//! releases, and the tokio-postgres pair builds faster and smaller (measured in
//! `docs/state.md`); its `*_typed` calls run one unnamed statement per round trip, which is
//! what Scaleway's pooler handles best.
//!
//! Layout: [`model`] (ids, messages, errors), [`schema`] (migrations and SQL), [`sqlite`],
//! [`postgres`], [`config`] (variables), [`store`] (the shared handle, readiness, retention).

pub mod config;
pub mod events;
pub mod model;
pub mod postgres;
pub mod scenarios;
pub mod schema;
pub mod sqlite;
pub mod store;

use std::future::Future;
use std::pin::Pin;

pub use config::{Mode, StoreConfig, VARIABLES};
pub use events::{TurnEventRecord, TurnHead, TurnRead, TurnWrite};
pub use model::{
    Conversation, ConversationId, NewMessage, Role, StoreError, StoredMessage, TokenUsage, now_ms,
};
pub use store::{Readiness, ReadinessState, Store};

/// A boxed future, so backends can sit behind `dyn Backend`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a storage engine does. Every method is one transaction (or one statement); time comes in
/// as a parameter so that tests and every engine agree on it.
/// Scenario operations are in [`scenarios::ScenarioBackend`] (each engine implements them in
/// its own `scenarios` submodule).
pub trait Backend: scenarios::ScenarioBackend + Send + Sync + std::fmt::Debug + 'static {
    /// The schema version the database is at.
    fn schema_version(&self) -> BoxFuture<'_, Result<i64, StoreError>>;
    /// Applies migrations up to `target` (each once, each in a transaction). Refuses a database
    /// at a version newer than this build's [`schema::LATEST`].
    fn migrate_to(&self, target: i64) -> BoxFuture<'_, Result<(), StoreError>>;
    /// A cheap round trip, for readiness.
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Appends `messages` (numbered in order) to the conversation; `create` starts it. Without
    /// `create`, a conversation that does not exist (or was erased meanwhile) is
    /// [`StoreError::NotFound`] and nothing is written; with it, an existing id is
    /// [`StoreError::Conflict`]. Durable when this returns `Ok`.
    fn append<'a>(
        &'a self,
        id: &'a ConversationId,
        create: bool,
        messages: &'a [NewMessage],
        now_ms: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The conversation and every message, oldest first.
    fn conversation<'a>(
        &'a self,
        id: &'a ConversationId,
    ) -> BoxFuture<'a, Result<Option<Conversation>, StoreError>>;
    /// Erases the conversation, every message of it and its turn events; `false` if there was
    /// no conversation.
    fn delete<'a>(&'a self, id: &'a ConversationId) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Retention: erases conversations not updated since `before_ms` (with their turn events),
    /// and expired turn events, counters and vehicle lookups.
    /// Returns how many conversations went.
    fn purge(&self, before_ms: i64, now_ms: i64) -> BoxFuture<'_, Result<u64, StoreError>>;
    /// A shared fixed-window counter (rate limits, budgets, quotas): adds `amount` to the window
    /// `(scope, window_start_ms)` unless the total would pass `cap`, in one atomic statement.
    /// Returns the new total, or `None` when refused (nothing added). The row is swept after
    /// `expires_at_ms`. `amount` may be zero to read the total.
    fn counter_add<'a>(
        &'a self,
        scope: &'a str,
        window_start_ms: i64,
        amount: i64,
        cap: i64,
        expires_at_ms: i64,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>>;
    /// The vehicle lookup cached for `plate` if it has not expired at `now_ms`: `Some(None)` is a
    /// cached "no such vehicle".
    fn vehicle_get<'a>(
        &'a self,
        plate: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Option<String>>, StoreError>>;
    /// Caches a vehicle lookup (`None`: no such vehicle) until `expires_at_ms`, replacing any.
    fn vehicle_put<'a>(
        &'a self,
        plate: &'a str,
        body: Option<&'a str>,
        expires_at_ms: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Settles a reservation: adds `delta` (may be negative; the total never goes below zero).
    /// Returns the new total, `None` if the window does not exist.
    fn counter_adjust<'a>(
        &'a self,
        scope: &'a str,
        window_start_ms: i64,
        delta: i64,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>>;
    /// Turn events (`events`): writes the turn's head and a batch of its events in one
    /// transaction (creating the head on the first write; events already there are kept).
    fn turn_write<'a>(&'a self, write: &'a TurnWrite<'a>) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The turn `turn` of the conversation (its latest when `None`) if its events have not
    /// expired at `now_ms`, with at most `limit` events numbered above `after_seq`.
    fn turn_read<'a>(
        &'a self,
        conversation_id: &'a ConversationId,
        turn: Option<&'a str>,
        after_seq: i64,
        limit: i64,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<TurnRead>, StoreError>>;
}

/// The stored form of a message's vehicles.
pub(crate) fn vehicles_json(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".to_owned())
}
