//! PostgreSQL through tokio-postgres, TLS by rustls (ring) with the webpki roots, and a small
//! pool of our own (a few connections; a dead one is dropped, an idle one closed before
//! Scaleway's Serverless SQL would idle it).
//!
//! Every statement is sent with the `*_typed` calls: one unnamed statement per round trip, never
//! a named prepared statement, so a transaction pooler (Serverless SQL's) cannot mix them up.
//!
//! `sslmode` is read here, not by tokio-postgres (which cannot parse `verify-full`):
//! `disable` → plain TCP; `prefer` → TLS if the server offers it; `require`, `verify-ca` and
//! `verify-full` → TLS or nothing, and the certificate is always verified against the webpki
//! roots (plus `sslrootcert=<PEM file>` when given) and the host name. That is stricter than
//! libpq's `require` (which encrypts without verifying): a server with a private CA needs
//! `sslrootcert`.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::events::{TurnEventRecord, TurnHead, TurnRead, TurnWrite};
use crate::model::{Conversation, ConversationId, NewMessage, Role, StoreError, StoredMessage};
use crate::schema::{self, LATEST, MIGRATIONS};
use crate::{Backend, BoxFuture, TokenUsage, vehicles_json};

mod scenarios;

/// Connections are closed after this long unused (Serverless SQL idles after 5 minutes without
/// a query; an idle connection must not keep it awake or be cut under us).
pub const IDLE_CLOSE: Duration = Duration::from_secs(240);

/// How to reach the database.
#[derive(Clone)]
pub struct PgOptions {
    pub config: Config,
    pub tls: Tls,
    pub pool_size: usize,
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("tls", &self.tls)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

/// TLS as the URL's `sslmode` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    Disable,
    /// TLS when offered (`prefer`, libpq's default), verified when used.
    Prefer {
        root_cert: Option<String>,
    },
    /// TLS or no connection, verified (`require`, `verify-ca`, `verify-full`).
    Require {
        root_cert: Option<String>,
    },
}

impl PgOptions {
    /// Parses a `postgres://` URL, taking `sslmode` and `sslrootcert` out of it first.
    ///
    /// # Errors
    /// A malformed URL or an unknown `sslmode`; the message never repeats the URL (it may hold
    /// a password).
    pub fn from_url(
        url: &str,
        pool_size: usize,
        connect_timeout: Duration,
    ) -> Result<Self, String> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut sslmode = "prefer".to_owned();
        let mut root_cert = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "sslmode" => sslmode = v.to_owned(),
                "sslrootcert" => root_cert = Some(v.to_owned()).filter(|v| v != "system"),
                _ => rest.push(pair),
            }
        }
        let tls = match sslmode.as_str() {
            "disable" => Tls::Disable,
            "allow" | "prefer" => Tls::Prefer { root_cert },
            "require" | "verify-ca" | "verify-full" => Tls::Require { root_cert },
            other => {
                return Err(format!(
                    "unknown sslmode {:?} (disable, prefer, require, verify-ca, verify-full)",
                    other.chars().take(20).collect::<String>()
                ));
            }
        };
        let url = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let mut config = Config::from_str(&url)
            .map_err(|e| format!("DATABASE_URL is not a PostgreSQL URL: {e}"))?;
        config.ssl_mode(match tls {
            Tls::Disable => SslMode::Disable,
            Tls::Prefer { .. } => SslMode::Prefer,
            Tls::Require { .. } => SslMode::Require,
        });
        config.connect_timeout(connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("elbatt");
        }
        Ok(PgOptions {
            config,
            tls,
            pool_size: pool_size.max(1),
            connect_timeout,
        })
    }
}

fn rustls_connector(root_cert: Option<&str>) -> Result<MakeRustlsConnect, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = root_cert {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| StoreError::Unavailable(format!("sslrootcert {path}: {e}")))?;
        for cert in certs {
            let cert =
                cert.map_err(|e| StoreError::Unavailable(format!("sslrootcert {path}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| StoreError::Unavailable(format!("sslrootcert {path}: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Unavailable(format!("tls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn pg_err(e: tokio_postgres::Error) -> StoreError {
    // The Display of a server error is its message; connection errors name no secret.
    StoreError::Unavailable(format!("postgres: {e}"))
}

struct Idle {
    client: Client,
    since: Instant,
}

/// A few connections, opened on demand.
struct Pool {
    options: PgOptions,
    tls: Option<MakeRustlsConnect>,
    idle: Mutex<Vec<Idle>>,
    permits: Arc<Semaphore>,
}

/// A connection taken from the pool; back into it when dropped, unless it broke.
struct Conn<'a> {
    client: Option<Client>,
    pool: &'a Pool,
    _permit: OwnedSemaphorePermit,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Present from construction until drop.
        self.client.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take().filter(|c| !c.is_closed()) {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Idle {
                    client,
                    since: Instant::now(),
                });
        }
    }
}

impl Pool {
    async fn get(&self) -> Result<Conn<'_>, StoreError> {
        let permit = tokio::time::timeout(
            self.options.connect_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        .map_err(|_| StoreError::Unavailable("postgres: every pooled connection is busy".into()))?
        .map_err(|_| StoreError::Unavailable("postgres: pool closed".into()))?;
        let reused = {
            let mut idle = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            idle.retain(|c| !c.client.is_closed() && c.since.elapsed() < IDLE_CLOSE);
            idle.pop()
        };
        let client = match reused {
            Some(c) => c.client,
            None => self.connect().await?,
        };
        Ok(Conn {
            client: Some(client),
            pool: self,
            _permit: permit,
        })
    }

    async fn connect(&self) -> Result<Client, StoreError> {
        let timeout = self.options.connect_timeout;
        let config = &self.options.config;
        let connecting = async {
            match &self.tls {
                None => {
                    let (client, conn) = config.connect(NoTls).await.map_err(pg_err)?;
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "postgres connection ended");
                        }
                    });
                    Ok(client)
                }
                Some(tls) => {
                    let (client, conn) = config.connect(tls.clone()).await.map_err(pg_err)?;
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "postgres connection ended");
                        }
                    });
                    Ok(client)
                }
            }
        };
        tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!("postgres: no connection within {timeout:?}"))
            })?
    }
}

/// The PostgreSQL backend.
#[derive(Clone)]
pub struct Postgres {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("options", &self.pool.options)
            .finish()
    }
}

impl Postgres {
    /// A pool for `options`; connects on first use.
    ///
    /// # Errors
    /// `sslrootcert` cannot be read.
    pub fn new(options: PgOptions) -> Result<Postgres, StoreError> {
        let tls = match &options.tls {
            Tls::Disable => None,
            Tls::Prefer { root_cert } | Tls::Require { root_cert } => {
                Some(rustls_connector(root_cert.as_deref())?)
            }
        };
        Ok(Postgres {
            pool: Arc::new(Pool {
                permits: Arc::new(Semaphore::new(options.pool_size)),
                options,
                tls,
                idle: Mutex::new(Vec::new()),
            }),
        })
    }
}

const TEXT: Type = Type::TEXT;
const INT8: Type = Type::INT8;

async fn current_version(c: &Client) -> Result<i64, StoreError> {
    if let Err(e) = c.batch_execute(schema::CREATE_MIGRATIONS_TABLE).await {
        // Two processes creating the table at once: one of them loses on the catalog's unique
        // index; the table exists either way.
        if e.code() != Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            return Err(pg_err(e));
        }
    }
    let row = c
        .query_typed_one(schema::CURRENT_VERSION, &[])
        .await
        .map_err(pg_err)?;
    row.try_get::<_, i64>(0).map_err(pg_err)
}

fn row_message(row: &tokio_postgres::Row) -> Result<StoredMessage, StoreError> {
    let get_err = |e: tokio_postgres::Error| StoreError::Corrupt(e.to_string());
    let role: String = row.try_get(1).map_err(get_err)?;
    let vehicles: String = row.try_get(3).map_err(get_err)?;
    let total: Option<i64> = row.try_get(8).map_err(get_err)?;
    let prompt: Option<i64> = row.try_get(6).map_err(get_err)?;
    let completion: Option<i64> = row.try_get(7).map_err(get_err)?;
    Ok(StoredMessage {
        seq: row.try_get(0).map_err(get_err)?,
        role: Role::parse(&role)?,
        content: row.try_get(2).map_err(get_err)?,
        vehicles: serde_json::from_str(&vehicles)
            .map_err(|e| StoreError::Corrupt(format!("vehicles: {e}")))?,
        model: row.try_get(4).map_err(get_err)?,
        mode: row.try_get(5).map_err(get_err)?,
        usage: total.map(|total_tokens| TokenUsage {
            prompt_tokens: prompt.unwrap_or(0),
            completion_tokens: completion.unwrap_or(0),
            total_tokens,
        }),
        created_at_ms: row.try_get(9).map_err(get_err)?,
    })
}

impl Backend for Postgres {
    fn schema_version(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(async move {
            let c = self.pool.get().await?;
            current_version(&c).await
        })
    }

    fn migrate_to(&self, target: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut c = self.pool.get().await?;
            let found = current_version(&c).await?;
            if found > LATEST {
                return Err(StoreError::SchemaTooNew {
                    found,
                    supported: LATEST,
                });
            }
            for m in MIGRATIONS
                .iter()
                .filter(|m| m.version <= target && m.version > found)
            {
                let tx = c.transaction().await.map_err(pg_err)?;
                // The claim blocks a concurrent migrator on the primary key until this commits;
                // it then finds the row and skips (no advisory lock: Serverless SQL does not
                // guarantee them).
                let claimed = tx
                    .query_typed_opt(
                        schema::CLAIM_VERSION,
                        &[
                            (&m.version, INT8),
                            (&m.name, TEXT),
                            (&crate::now_ms(), INT8),
                        ],
                    )
                    .await
                    .map_err(pg_err)?;
                if claimed.is_none() {
                    tx.rollback().await.map_err(pg_err)?;
                    continue;
                }
                tx.batch_execute(m.sql).await.map_err(pg_err)?;
                tx.commit().await.map_err(pg_err)?;
                tracing::info!(version = m.version, name = m.name, "postgres: migrated");
            }
            Ok(())
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let c = self.pool.get().await?;
            c.query_typed("SELECT 1", &[]).await.map_err(pg_err)?;
            Ok(())
        })
    }

    fn append<'a>(
        &'a self,
        id: &'a ConversationId,
        create: bool,
        messages: &'a [NewMessage],
        now_ms: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let n = i64::try_from(messages.len()).unwrap_or(i64::MAX);
            let id = id.as_str();
            let mut c = self.pool.get().await?;
            let tx = c.transaction().await.map_err(pg_err)?;
            let last: i64 = if create {
                match tx
                    .execute_typed(
                        schema::INSERT_CONVERSATION,
                        &[(&id, TEXT), (&now_ms, INT8), (&n, INT8)],
                    )
                    .await
                {
                    Ok(_) => n,
                    Err(e)
                        if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
                    {
                        return Err(StoreError::Conflict);
                    }
                    Err(e) => return Err(pg_err(e)),
                }
            } else {
                let row = tx
                    .query_typed_opt(
                        schema::BUMP_CONVERSATION,
                        &[(&id, TEXT), (&now_ms, INT8), (&n, INT8)],
                    )
                    .await
                    .map_err(pg_err)?
                    .ok_or(StoreError::NotFound)?;
                row.try_get(0).map_err(pg_err)?
            };
            for (i, m) in messages.iter().enumerate() {
                let seq = last - n + 1 + i64::try_from(i).unwrap_or(0);
                let vehicles = vehicles_json(&m.vehicles);
                let usage = m.usage;
                let params: [(&(dyn ToSql + Sync), Type); 11] = [
                    (&id, TEXT),
                    (&seq, INT8),
                    (&m.role.as_str(), TEXT),
                    (&m.content, TEXT),
                    (&vehicles, TEXT),
                    (&m.model, TEXT),
                    (&m.mode, TEXT),
                    (&usage.map(|u| u.prompt_tokens), INT8),
                    (&usage.map(|u| u.completion_tokens), INT8),
                    (&usage.map(|u| u.total_tokens), INT8),
                    (&m.created_at_ms, INT8),
                ];
                tx.execute_typed(schema::INSERT_MESSAGE, &params)
                    .await
                    .map_err(pg_err)?;
            }
            tx.commit().await.map_err(pg_err)
        })
    }

    fn conversation<'a>(
        &'a self,
        id: &'a ConversationId,
    ) -> BoxFuture<'a, Result<Option<Conversation>, StoreError>> {
        Box::pin(async move {
            let mut c = self.pool.get().await?;
            // One snapshot for both reads.
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg_err)?;
            let key = id.as_str();
            let Some(head) = tx
                .query_typed_opt(schema::SELECT_CONVERSATION, &[(&key, TEXT)])
                .await
                .map_err(pg_err)?
            else {
                tx.commit().await.map_err(pg_err)?;
                return Ok(None);
            };
            let rows = tx
                .query_typed(schema::SELECT_MESSAGES, &[(&key, TEXT)])
                .await
                .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            let messages = rows.iter().map(row_message).collect::<Result<_, _>>()?;
            Ok(Some(Conversation {
                id: id.clone(),
                created_at_ms: head.try_get(0).map_err(pg_err)?,
                updated_at_ms: head.try_get(1).map_err(pg_err)?,
                messages,
            }))
        })
    }

    fn delete<'a>(&'a self, id: &'a ConversationId) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let key = id.as_str();
            let mut c = self.pool.get().await?;
            let tx = c.transaction().await.map_err(pg_err)?;
            for sql in [
                schema::DELETE_MESSAGES,
                schema::DELETE_TURN_EVENTS,
                schema::DELETE_TURNS,
            ] {
                tx.execute_typed(sql, &[(&key, TEXT)])
                    .await
                    .map_err(pg_err)?;
            }
            let n = tx
                .execute_typed(schema::DELETE_CONVERSATION, &[(&key, TEXT)])
                .await
                .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            Ok(n > 0)
        })
    }

    fn purge(&self, before_ms: i64, now_ms: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut c = self.pool.get().await?;
            let tx = c.transaction().await.map_err(pg_err)?;
            for sql in [
                schema::PURGE_MESSAGES,
                schema::PURGE_CONVERSATION_TURN_EVENTS,
                schema::PURGE_CONVERSATION_TURNS,
            ] {
                tx.execute_typed(sql, &[(&before_ms, INT8)])
                    .await
                    .map_err(pg_err)?;
            }
            for sql in [schema::PURGE_TURN_EVENTS, schema::PURGE_TURNS] {
                tx.execute_typed(sql, &[(&now_ms, INT8)])
                    .await
                    .map_err(pg_err)?;
            }
            let n = tx
                .execute_typed(schema::PURGE_CONVERSATIONS, &[(&before_ms, INT8)])
                .await
                .map_err(pg_err)?;
            tx.execute_typed(schema::PURGE_COUNTERS, &[(&now_ms, INT8)])
                .await
                .map_err(pg_err)?;
            tx.execute_typed(schema::PURGE_VEHICLES, &[(&now_ms, INT8)])
                .await
                .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            Ok(n)
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
        Box::pin(async move {
            if amount > cap {
                return Ok(None);
            }
            let c = self.pool.get().await?;
            let row = c
                .query_typed_opt(
                    schema::COUNTER_ADD,
                    &[
                        (&scope, TEXT),
                        (&window_start_ms, INT8),
                        (&amount, INT8),
                        (&cap, INT8),
                        (&expires_at_ms, INT8),
                    ],
                )
                .await
                .map_err(pg_err)?;
            row.map(|r| r.try_get(0)).transpose().map_err(pg_err)
        })
    }

    fn vehicle_get<'a>(
        &'a self,
        plate: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Option<String>>, StoreError>> {
        Box::pin(async move {
            let c = self.pool.get().await?;
            let row = c
                .query_typed_opt(schema::VEHICLE_GET, &[(&plate, TEXT), (&now_ms, INT8)])
                .await
                .map_err(pg_err)?;
            row.map(|r| r.try_get::<_, Option<String>>(0))
                .transpose()
                .map_err(pg_err)
        })
    }

    fn vehicle_put<'a>(
        &'a self,
        plate: &'a str,
        body: Option<&'a str>,
        expires_at_ms: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let c = self.pool.get().await?;
            c.execute_typed(
                schema::VEHICLE_PUT,
                &[(&plate, TEXT), (&body, TEXT), (&expires_at_ms, INT8)],
            )
            .await
            .map_err(pg_err)?;
            Ok(())
        })
    }

    fn counter_adjust<'a>(
        &'a self,
        scope: &'a str,
        window_start_ms: i64,
        delta: i64,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
        Box::pin(async move {
            let c = self.pool.get().await?;
            let row = c
                .query_typed_opt(
                    schema::COUNTER_ADJUST,
                    &[(&scope, TEXT), (&window_start_ms, INT8), (&delta, INT8)],
                )
                .await
                .map_err(pg_err)?;
            row.map(|r| r.try_get(0)).transpose().map_err(pg_err)
        })
    }

    fn turn_write<'a>(&'a self, w: &'a TurnWrite<'a>) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let last = w.last_seq();
            let mut c = self.pool.get().await?;
            let tx = c.transaction().await.map_err(pg_err)?;
            tx.execute_typed(
                schema::TURN_UPSERT,
                &[
                    (&w.conversation_id, TEXT),
                    (&w.turn, TEXT),
                    (&w.started_at_ms, INT8),
                    (&w.ended_at_ms, INT8),
                    (&w.expires_at_ms, INT8),
                    (&last, INT8),
                    (&w.dropped, INT8),
                ],
            )
            .await
            .map_err(pg_err)?;
            if !w.events.is_empty() {
                let seqs: Vec<i64> = w.events.iter().map(|e| e.seq).collect();
                let names: Vec<&str> = w.events.iter().map(|e| e.name.as_str()).collect();
                let data: Vec<&str> = w.events.iter().map(|e| e.data.as_str()).collect();
                tx.execute_typed(
                    schema::TURN_EVENTS_INSERT_PG,
                    &[
                        (&w.conversation_id, TEXT),
                        (&w.turn, TEXT),
                        (&seqs, Type::INT8_ARRAY),
                        (&names, Type::TEXT_ARRAY),
                        (&data, Type::TEXT_ARRAY),
                    ],
                )
                .await
                .map_err(pg_err)?;
            }
            tx.commit().await.map_err(pg_err)
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
        Box::pin(async move {
            let conv = conversation_id.as_str();
            let c = self.pool.get().await?;
            let row = match turn {
                Some(t) => {
                    c.query_typed_opt(
                        schema::TURN_HEAD_SELECT,
                        &[(&conv, TEXT), (&t, TEXT), (&now_ms, INT8)],
                    )
                    .await
                }
                None => {
                    c.query_typed_opt(
                        schema::TURN_LATEST_SELECT,
                        &[(&conv, TEXT), (&now_ms, INT8)],
                    )
                    .await
                }
            }
            .map_err(pg_err)?;
            let Some(row) = row else {
                return Ok(None);
            };
            let head = TurnHead {
                turn: row.try_get(0).map_err(pg_err)?,
                started_at_ms: row.try_get(1).map_err(pg_err)?,
                ended_at_ms: row.try_get(2).map_err(pg_err)?,
                expires_at_ms: row.try_get(3).map_err(pg_err)?,
                last_seq: row.try_get(4).map_err(pg_err)?,
                dropped: row.try_get(5).map_err(pg_err)?,
            };
            // Events only grow and are read after the head: a reader may see more events than
            // the head's `last_seq`, never fewer than it names.
            let rows = c
                .query_typed(
                    schema::TURN_EVENTS_SELECT,
                    &[
                        (&conv, TEXT),
                        (&head.turn.as_str(), TEXT),
                        (&after_seq, INT8),
                        (&limit, INT8),
                    ],
                )
                .await
                .map_err(pg_err)?;
            let events = rows
                .iter()
                .map(|r| {
                    Ok(TurnEventRecord {
                        seq: r.try_get(0)?,
                        name: r.try_get(1)?,
                        data: r.try_get(2)?,
                    })
                })
                .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                .map_err(pg_err)?;
            Ok(Some(TurnRead { head, events }))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn opts(url: &str) -> Result<PgOptions, String> {
        PgOptions::from_url(url, 2, Duration::from_secs(10))
    }

    #[test]
    fn sslmode_is_read_by_us_including_verify_full() {
        let o =
            opts("postgres://u:p@db.example:5432/elbatt?sslmode=verify-full&sslrootcert=system")
                .unwrap();
        assert_eq!(o.tls, Tls::Require { root_cert: None });
        assert_eq!(o.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(o.config.get_dbname(), Some("elbatt"));
        let o = opts("postgres://u@h/d?sslmode=require&sslrootcert=/ca.pem&application_name=x")
            .unwrap();
        assert_eq!(
            o.tls,
            Tls::Require {
                root_cert: Some("/ca.pem".into())
            }
        );
        assert_eq!(o.config.get_application_name(), Some("x"));
        assert_eq!(
            opts("postgres://u@h/d?sslmode=disable").unwrap().tls,
            Tls::Disable
        );
        assert_eq!(
            opts("postgres://u@h/d").unwrap().tls,
            Tls::Prefer { root_cert: None }
        );
    }

    #[test]
    fn a_bad_url_or_sslmode_is_refused_without_echoing_the_password() {
        let e = opts("postgres://u:hunter2@h/d?sslmode=sometimes").unwrap_err();
        assert!(e.contains("sslmode"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = opts("postgres://u:hunter2@h:notaport/d").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
