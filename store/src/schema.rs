//! The schema as versioned migrations, and every statement the store runs. One SQL text serves
//! both engines: PostgreSQL numbers parameters `$1`; SQLite gets the same text with `?1`
//! ([`sqlite`]), and every value a statement needs (time included) is a parameter.

/// One schema step. Applied once, in a transaction, in order; the version is recorded in
/// `elbatt_migrations` in the same transaction.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, oldest first. Never edit one that has shipped: add the next.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "conversations and messages",
        sql: "
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    message_count BIGINT NOT NULL
);
CREATE INDEX conversations_updated ON conversations (updated_at_ms);
CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    vehicles TEXT NOT NULL,
    model TEXT,
    mode TEXT,
    prompt_tokens BIGINT,
    completion_tokens BIGINT,
    total_tokens BIGINT,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);",
    },
    Migration {
        version: 2,
        name: "fixed-window counters (rate limits, budgets, quotas)",
        sql: "
CREATE TABLE counters (
    scope TEXT NOT NULL,
    window_start_ms BIGINT NOT NULL,
    used BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, window_start_ms)
);
CREATE INDEX counters_expiry ON counters (expires_at_ms);",
    },
    Migration {
        version: 3,
        name: "vehicle lookups shared between instances",
        sql: "
CREATE TABLE vehicle_cache (
    plate TEXT PRIMARY KEY,
    body TEXT,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX vehicle_cache_expiry ON vehicle_cache (expires_at_ms);",
    },
    Migration {
        version: 4,
        name: "scenarios (bot profiles) and their audit trail",
        sql: crate::scenarios::MIGRATION_SQL,
    },
];

/// The schema version this build writes and reads.
pub const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

pub const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS elbatt_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at_ms BIGINT NOT NULL
)";
pub const CURRENT_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM elbatt_migrations";
/// Claims a version; no row back means another process applied it first.
pub const CLAIM_VERSION: &str = "INSERT INTO elbatt_migrations (version, name, applied_at_ms) \
     VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING RETURNING version";

/// New conversation: fails on a duplicate id (a conflict, never an overwrite).
pub const INSERT_CONVERSATION: &str = "INSERT INTO conversations \
     (id, created_at_ms, updated_at_ms, message_count) VALUES ($1, $2, $2, $3)";
/// Existing conversation: takes `$3` sequence numbers and returns the last; no row = erased.
/// The row lock it takes orders concurrent appends to one conversation.
pub const BUMP_CONVERSATION: &str = "UPDATE conversations \
     SET updated_at_ms = $2, message_count = message_count + $3 WHERE id = $1 \
     RETURNING message_count";
pub const INSERT_MESSAGE: &str = "INSERT INTO messages (conversation_id, seq, role, content, \
     vehicles, model, mode, prompt_tokens, completion_tokens, total_tokens, created_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
pub const SELECT_CONVERSATION: &str =
    "SELECT created_at_ms, updated_at_ms FROM conversations WHERE id = $1";
pub const SELECT_MESSAGES: &str = "SELECT seq, role, content, vehicles, model, mode, \
     prompt_tokens, completion_tokens, total_tokens, created_at_ms \
     FROM messages WHERE conversation_id = $1 ORDER BY seq";
pub const DELETE_MESSAGES: &str = "DELETE FROM messages WHERE conversation_id = $1";
pub const DELETE_CONVERSATION: &str = "DELETE FROM conversations WHERE id = $1";
/// Retention: messages of conversations untouched since `$1`, then the conversations.
pub const PURGE_MESSAGES: &str = "DELETE FROM messages WHERE conversation_id IN \
     (SELECT id FROM conversations WHERE updated_at_ms < $1)";
pub const PURGE_CONVERSATIONS: &str = "DELETE FROM conversations WHERE updated_at_ms < $1";
pub const PURGE_COUNTERS: &str = "DELETE FROM counters WHERE expires_at_ms < $1";
pub const PURGE_VEHICLES: &str = "DELETE FROM vehicle_cache WHERE expires_at_ms < $1";

/// The shared vehicle cache: a body (`NULL`: no such vehicle) until it expires.
pub const VEHICLE_GET: &str =
    "SELECT body FROM vehicle_cache WHERE plate = $1 AND expires_at_ms > $2";
pub const VEHICLE_PUT: &str = "INSERT INTO vehicle_cache (plate, body, expires_at_ms) \
     VALUES ($1, $2, $3) ON CONFLICT (plate) DO UPDATE \
     SET body = excluded.body, expires_at_ms = excluded.expires_at_ms";

/// Adds `$3` to the window `($1, $2)` unless that would pass the cap `$4`; returns the new
/// total, no row when refused. (A first insert skips the `WHERE`: callers check `$3 <= $4`.)
pub const COUNTER_ADD: &str = "INSERT INTO counters (scope, window_start_ms, used, expires_at_ms) \
     VALUES ($1, $2, $3, $5) \
     ON CONFLICT (scope, window_start_ms) DO UPDATE SET used = counters.used + excluded.used \
     WHERE counters.used + excluded.used <= $4 RETURNING used";
/// Settles a reservation: `$3` may be negative; never below zero.
pub const COUNTER_ADJUST: &str = "UPDATE counters \
     SET used = CASE WHEN used + $3 < 0 THEN 0 ELSE used + $3 END \
     WHERE scope = $1 AND window_start_ms = $2 RETURNING used";

/// The PostgreSQL text as SQLite numbers parameters (`?1`): no statement has a `$` elsewhere.
pub fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_and_increase_by_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        }
    }
}
