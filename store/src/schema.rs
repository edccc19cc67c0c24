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
    Migration {
        version: 5,
        name: "turn events for resumable streams",
        sql: "
CREATE TABLE turns (
    conversation_id TEXT NOT NULL,
    turn TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    ended_at_ms BIGINT,
    expires_at_ms BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    dropped BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, turn)
);
CREATE INDEX turns_expiry ON turns (expires_at_ms);
CREATE INDEX turns_latest ON turns (conversation_id, started_at_ms);
CREATE TABLE turn_events (
    conversation_id TEXT NOT NULL,
    turn TEXT NOT NULL,
    seq BIGINT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (conversation_id, turn, seq)
);",
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

/// Turn events (`events`): the head row, created by the first write and updated by each.
pub const TURN_UPSERT: &str = "INSERT INTO turns (conversation_id, turn, started_at_ms, \
     ended_at_ms, expires_at_ms, last_seq, dropped) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (conversation_id, turn) DO UPDATE SET ended_at_ms = excluded.ended_at_ms, \
     expires_at_ms = excluded.expires_at_ms, dropped = excluded.dropped, \
     last_seq = CASE WHEN excluded.last_seq > turns.last_seq THEN excluded.last_seq \
     ELSE turns.last_seq END";
/// One event; a batch retried after a failed commit does not duplicate.
pub const TURN_EVENT_INSERT: &str = "INSERT INTO turn_events \
     (conversation_id, turn, seq, name, data) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (conversation_id, turn, seq) DO NOTHING";
/// PostgreSQL: a whole batch in one statement (one round trip).
pub const TURN_EVENTS_INSERT_PG: &str = "INSERT INTO turn_events \
     (conversation_id, turn, seq, name, data) \
     SELECT $1, $2, e.seq, e.name, e.data FROM unnest($3::BIGINT[], $4::TEXT[], $5::TEXT[]) \
     AS e (seq, name, data) ON CONFLICT (conversation_id, turn, seq) DO NOTHING";
pub const TURN_HEAD_SELECT: &str = "SELECT turn, started_at_ms, ended_at_ms, expires_at_ms, \
     last_seq, dropped FROM turns WHERE conversation_id = $1 AND turn = $2 AND expires_at_ms > $3";
/// The conversation's latest turn.
pub const TURN_LATEST_SELECT: &str = "SELECT turn, started_at_ms, ended_at_ms, expires_at_ms, \
     last_seq, dropped FROM turns WHERE conversation_id = $1 AND expires_at_ms > $2 \
     ORDER BY started_at_ms DESC, turn DESC LIMIT 1";
pub const TURN_EVENTS_SELECT: &str = "SELECT seq, name, data FROM turn_events \
     WHERE conversation_id = $1 AND turn = $2 AND seq > $3 ORDER BY seq LIMIT $4";
pub const DELETE_TURN_EVENTS: &str = "DELETE FROM turn_events WHERE conversation_id = $1";
pub const DELETE_TURNS: &str = "DELETE FROM turns WHERE conversation_id = $1";
/// Retention: turns of conversations it erases, and expired turns, events first.
pub const PURGE_CONVERSATION_TURN_EVENTS: &str = "DELETE FROM turn_events WHERE conversation_id \
     IN (SELECT id FROM conversations WHERE updated_at_ms < $1)";
pub const PURGE_CONVERSATION_TURNS: &str = "DELETE FROM turns WHERE conversation_id IN \
     (SELECT id FROM conversations WHERE updated_at_ms < $1)";
pub const PURGE_TURN_EVENTS: &str = "DELETE FROM turn_events WHERE (conversation_id, turn) IN \
     (SELECT conversation_id, turn FROM turns WHERE expires_at_ms < $1)";
pub const PURGE_TURNS: &str = "DELETE FROM turns WHERE expires_at_ms < $1";

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
