//! SQLite: a file in WAL mode (created with its directory when missing), or a private in-memory
//! database (`STORE=memory`). One connection behind a mutex; every call runs on the blocking
//! pool, never on the async runtime's threads.
//!
//! Durability: `synchronous=NORMAL` in WAL mode, so a committed transaction survives the process
//! being killed (`kill -9`: the WAL is in the OS's page cache); a power loss may lose the last
//! transactions (`docs/state.md`). Writes take the lock up front (`BEGIN IMMEDIATE`), and other
//! processes sharing the file wait up to [`BUSY_TIMEOUT`] for it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::events::{TurnEventRecord, TurnHead, TurnRead, TurnWrite};
use crate::model::{Conversation, ConversationId, NewMessage, Role, StoreError, StoredMessage};
use crate::schema::{self, LATEST, MIGRATIONS, sqlite as q};
use crate::{Backend, BoxFuture, TokenUsage, vehicles_json};

mod scenarios;

/// How long a write waits for another process holding the file's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite backend.
#[derive(Debug, Clone)]
pub struct Sqlite {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
}

fn err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

impl Sqlite {
    /// Opens (creating the file and its directory when missing) without migrating.
    ///
    /// # Errors
    /// The directory or file cannot be created or opened.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        Ok(Sqlite {
            conn: Arc::new(Mutex::new(conn)),
            path: Some(path.to_owned()),
        })
    }

    /// A private database that lives as long as this value (`STORE=memory`).
    ///
    /// # Errors
    /// SQLite cannot allocate it.
    pub fn in_memory() -> Result<Sqlite, StoreError> {
        let conn = Connection::open_in_memory().map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        Ok(Sqlite {
            conn: Arc::new(Mutex::new(conn)),
            path: None,
        })
    }

    /// The file, `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Runs `f` with the connection on the blocking pool.
    fn run<T, F>(&self, f: F) -> BoxFuture<'static, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut guard = conn
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                f(&mut guard)
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("sqlite task: {e}")))?
        })
    }
}

fn current_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.execute(schema::CREATE_MIGRATIONS_TABLE, [])
        .map_err(err)?;
    conn.query_row(schema::CURRENT_VERSION, [], |r| r.get(0))
        .map_err(err)
}

fn migrate(conn: &mut Connection, target: i64) -> Result<(), StoreError> {
    let found = current_version(conn)?;
    if found > LATEST {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: LATEST,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version <= target) {
        // The write lock first, then the check: two processes sharing the file apply each
        // migration once.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let claimed: Option<i64> = tx
            .query_row(
                &q(schema::CLAIM_VERSION),
                params![m.version, m.name, crate::now_ms()],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        if claimed.is_some() {
            tx.execute_batch(m.sql).map_err(err)?;
            tx.commit().map_err(err)?;
            tracing::info!(version = m.version, name = m.name, "sqlite: migrated");
        }
    }
    Ok(())
}

fn read_message(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredMessage, String, String)> {
    let prompt: Option<i64> = r.get(6)?;
    let completion: Option<i64> = r.get(7)?;
    let total: Option<i64> = r.get(8)?;
    let usage = total.map(|total_tokens| TokenUsage {
        prompt_tokens: prompt.unwrap_or(0),
        completion_tokens: completion.unwrap_or(0),
        total_tokens,
    });
    Ok((
        StoredMessage {
            seq: r.get(0)?,
            role: Role::User,
            content: r.get(2)?,
            vehicles: serde_json::Value::Null,
            model: r.get(4)?,
            mode: r.get(5)?,
            usage,
            created_at_ms: r.get(9)?,
        },
        r.get(1)?,
        r.get(3)?,
    ))
}

impl Backend for Sqlite {
    fn schema_version(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        self.run(|c| current_version(c))
    }

    fn migrate_to(&self, target: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        self.run(move |c| migrate(c, target))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.run(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(err))
    }

    fn append<'a>(
        &'a self,
        id: &'a ConversationId,
        create: bool,
        messages: &'a [NewMessage],
        now_ms: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let id = id.as_str().to_owned();
        let messages = messages.to_vec();
        self.run(move |c| {
            let n = i64::try_from(messages.len()).unwrap_or(i64::MAX);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            let last: i64 = if create {
                match tx.execute(&q(schema::INSERT_CONVERSATION), params![id, now_ms, n]) {
                    Ok(_) => n,
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        return Err(StoreError::Conflict);
                    }
                    Err(e) => return Err(err(e)),
                }
            } else {
                tx.query_row(&q(schema::BUMP_CONVERSATION), params![id, now_ms, n], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(err)?
                .ok_or(StoreError::NotFound)?
            };
            {
                let mut insert = tx.prepare(&q(schema::INSERT_MESSAGE)).map_err(err)?;
                for (i, m) in messages.iter().enumerate() {
                    let seq = last - n + 1 + i64::try_from(i).unwrap_or(0);
                    insert
                        .execute(params![
                            id,
                            seq,
                            m.role.as_str(),
                            m.content,
                            vehicles_json(&m.vehicles),
                            m.model,
                            m.mode,
                            m.usage.map(|u| u.prompt_tokens),
                            m.usage.map(|u| u.completion_tokens),
                            m.usage.map(|u| u.total_tokens),
                            m.created_at_ms,
                        ])
                        .map_err(err)?;
                }
            }
            tx.commit().map_err(err)
        })
    }

    fn conversation<'a>(
        &'a self,
        id: &'a ConversationId,
    ) -> BoxFuture<'a, Result<Option<Conversation>, StoreError>> {
        let id = id.clone();
        self.run(move |c| {
            let tx = c.transaction().map_err(err)?;
            let Some((created_at_ms, updated_at_ms)) = tx
                .query_row(&q(schema::SELECT_CONVERSATION), [id.as_str()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(err)?
            else {
                return Ok(None);
            };
            let mut stmt = tx.prepare(&q(schema::SELECT_MESSAGES)).map_err(err)?;
            let rows = stmt.query_map([id.as_str()], read_message).map_err(err)?;
            let mut messages = Vec::new();
            for row in rows {
                let (mut m, role, vehicles) = row.map_err(err)?;
                m.role = Role::parse(&role)?;
                m.vehicles = serde_json::from_str(&vehicles)
                    .map_err(|e| StoreError::Corrupt(format!("vehicles: {e}")))?;
                messages.push(m);
            }
            Ok(Some(Conversation {
                id,
                created_at_ms,
                updated_at_ms,
                messages,
            }))
        })
    }

    fn delete<'a>(&'a self, id: &'a ConversationId) -> BoxFuture<'a, Result<bool, StoreError>> {
        let id = id.as_str().to_owned();
        self.run(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            tx.execute(&q(schema::DELETE_MESSAGES), [&id])
                .map_err(err)?;
            tx.execute(&q(schema::DELETE_TURN_EVENTS), [&id])
                .map_err(err)?;
            tx.execute(&q(schema::DELETE_TURNS), [&id]).map_err(err)?;
            let n = tx
                .execute(&q(schema::DELETE_CONVERSATION), [&id])
                .map_err(err)?;
            tx.commit().map_err(err)?;
            Ok(n > 0)
        })
    }

    fn purge(&self, before_ms: i64, now_ms: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.run(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            tx.execute(&q(schema::PURGE_MESSAGES), [before_ms])
                .map_err(err)?;
            for sql in [
                schema::PURGE_CONVERSATION_TURN_EVENTS,
                schema::PURGE_CONVERSATION_TURNS,
            ] {
                tx.execute(&q(sql), [before_ms]).map_err(err)?;
            }
            for sql in [schema::PURGE_TURN_EVENTS, schema::PURGE_TURNS] {
                tx.execute(&q(sql), [now_ms]).map_err(err)?;
            }
            let n = tx
                .execute(&q(schema::PURGE_CONVERSATIONS), [before_ms])
                .map_err(err)?;
            tx.execute(&q(schema::PURGE_COUNTERS), [now_ms])
                .map_err(err)?;
            tx.execute(&q(schema::PURGE_VEHICLES), [now_ms])
                .map_err(err)?;
            tx.commit().map_err(err)?;
            Ok(n as u64)
        })
    }

    fn counter_add<'a>(
        &'a self,
        scope: &'a str,
        window_start_ms: i64,
        amount: i64,
        cap: i64,
        expires_at_ms: i64,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
        let scope = scope.to_owned();
        self.run(move |c| {
            if amount > cap {
                return Ok(None);
            }
            c.query_row(
                &q(schema::COUNTER_ADD),
                params![scope, window_start_ms, amount, cap, expires_at_ms],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)
        })
    }

    fn vehicle_get<'a>(
        &'a self,
        plate: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Option<String>>, StoreError>> {
        let plate = plate.to_owned();
        self.run(move |c| {
            c.query_row(&q(schema::VEHICLE_GET), params![plate, now_ms], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()
            .map_err(err)
        })
    }

    fn vehicle_put<'a>(
        &'a self,
        plate: &'a str,
        body: Option<&'a str>,
        expires_at_ms: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let (plate, body) = (plate.to_owned(), body.map(str::to_owned));
        self.run(move |c| {
            c.execute(&q(schema::VEHICLE_PUT), params![plate, body, expires_at_ms])
                .map(|_| ())
                .map_err(err)
        })
    }

    fn counter_adjust<'a>(
        &'a self,
        scope: &'a str,
        window_start_ms: i64,
        delta: i64,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
        let scope = scope.to_owned();
        self.run(move |c| {
            c.query_row(
                &q(schema::COUNTER_ADJUST),
                params![scope, window_start_ms, delta],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)
        })
    }

    fn turn_write<'a>(&'a self, w: &'a TurnWrite<'a>) -> BoxFuture<'a, Result<(), StoreError>> {
        let (conv, turn) = (w.conversation_id.to_owned(), w.turn.to_owned());
        let (started, ended, expires, dropped, last) = (
            w.started_at_ms,
            w.ended_at_ms,
            w.expires_at_ms,
            w.dropped,
            w.last_seq(),
        );
        let events = w.events.to_vec();
        self.run(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            tx.execute(
                &q(schema::TURN_UPSERT),
                params![conv, turn, started, ended, expires, last, dropped],
            )
            .map_err(err)?;
            {
                let mut insert = tx.prepare(&q(schema::TURN_EVENT_INSERT)).map_err(err)?;
                for e in &events {
                    insert
                        .execute(params![conv, turn, e.seq, e.name, e.data])
                        .map_err(err)?;
                }
            }
            tx.commit().map_err(err)
        })
    }

    fn turn_read<'a>(
        &'a self,
        conversation_id: &'a ConversationId,
        turn: Option<&'a str>,
        after_seq: i64,
        limit: i64,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<TurnRead>, StoreError>> {
        let conv = conversation_id.as_str().to_owned();
        let turn = turn.map(str::to_owned);
        self.run(move |c| {
            let tx = c.transaction().map_err(err)?;
            let read_head = |r: &rusqlite::Row<'_>| {
                Ok(TurnHead {
                    turn: r.get(0)?,
                    started_at_ms: r.get(1)?,
                    ended_at_ms: r.get(2)?,
                    expires_at_ms: r.get(3)?,
                    last_seq: r.get(4)?,
                    dropped: r.get(5)?,
                })
            };
            let head = match &turn {
                Some(t) => tx.query_row(
                    &q(schema::TURN_HEAD_SELECT),
                    params![conv, t, now_ms],
                    read_head,
                ),
                None => tx.query_row(
                    &q(schema::TURN_LATEST_SELECT),
                    params![conv, now_ms],
                    read_head,
                ),
            }
            .optional()
            .map_err(err)?;
            let Some(head) = head else {
                return Ok(None);
            };
            let mut stmt = tx.prepare(&q(schema::TURN_EVENTS_SELECT)).map_err(err)?;
            let rows = stmt
                .query_map(params![conv, head.turn, after_seq, limit], |r| {
                    Ok(TurnEventRecord {
                        seq: r.get(0)?,
                        name: r.get(1)?,
                        data: r.get(2)?,
                    })
                })
                .map_err(err)?;
            let events = rows.collect::<Result<Vec<_>, _>>().map_err(err)?;
            Ok(Some(TurnRead { head, events }))
        })
    }
}
