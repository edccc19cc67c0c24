//! Scenarios on PostgreSQL: each write and its audit row in one transaction.

use tokio_postgres::types::{ToSql, Type};

use super::{INT8, Postgres, TEXT, pg_err};
use crate::BoxFuture;
use crate::model::StoreError;
use crate::scenarios::{
    self as sc, AuditEntry, RawRow, Scenario, ScenarioBackend, ScenarioId, Written,
};

const FLOAT8: Type = Type::FLOAT8;

fn read(row: &tokio_postgres::Row) -> Result<RawRow, StoreError> {
    let e = |e: tokio_postgres::Error| StoreError::Corrupt(e.to_string());
    Ok(RawRow {
        id: row.try_get(0).map_err(e)?,
        name: row.try_get(1).map_err(e)?,
        system_prompt: row.try_get(2).map_err(e)?,
        model: row.try_get(3).map_err(e)?,
        temperature: row.try_get(4).map_err(e)?,
        tools: row.try_get(5).map_err(e)?,
        greeting: row.try_get(6).map_err(e)?,
        language: row.try_get(7).map_err(e)?,
        tags: row.try_get(8).map_err(e)?,
        version: row.try_get(9).map_err(e)?,
        created_at_ms: row.try_get(10).map_err(e)?,
        updated_at_ms: row.try_get(11).map_err(e)?,
    })
}

/// A scenario's columns as they are bound, `$1`…`$12`.
struct Bound {
    id: String,
    temperature: Option<f64>,
    tools: String,
    language: String,
    tags: String,
}

impl Bound {
    fn of(s: &Scenario) -> Bound {
        Bound {
            id: s.id.as_str().to_owned(),
            temperature: s.temperature.map(sc::Temperature::get),
            tools: sc::json_list(&s.tools),
            language: s.language.as_str().to_owned(),
            tags: sc::json_list(&s.tags),
        }
    }
}

async fn audit(
    tx: &tokio_postgres::Transaction<'_>,
    audit_id: &str,
    id: &str,
    version: i64,
    action: &str,
    body: Option<String>,
    at_ms: i64,
) -> Result<bool, StoreError> {
    let row = tx
        .query_typed_opt(
            sc::AUDIT,
            &[
                (&audit_id, TEXT),
                (&id, TEXT),
                (&version, INT8),
                (&action, TEXT),
                (&body, TEXT),
                (&at_ms, INT8),
            ],
        )
        .await
        .map_err(pg_err)?;
    Ok(row.is_some())
}

async fn insert(tx: &tokio_postgres::Transaction<'_>, s: &Scenario) -> Result<bool, StoreError> {
    let b = Bound::of(s);
    let params: [(&(dyn ToSql + Sync), Type); 12] = [
        (&b.id, TEXT),
        (&s.name, TEXT),
        (&s.system_prompt, TEXT),
        (&s.model, TEXT),
        (&b.temperature, FLOAT8),
        (&b.tools, TEXT),
        (&s.greeting, TEXT),
        (&b.language, TEXT),
        (&b.tags, TEXT),
        (&s.version, INT8),
        (&s.created_at_ms, INT8),
        (&s.updated_at_ms, INT8),
    ];
    let row = tx
        .query_typed_opt(sc::INSERT, &params)
        .await
        .map_err(pg_err)?;
    Ok(row.is_some())
}

impl ScenarioBackend for Postgres {
    fn scenario_list(&self) -> BoxFuture<'_, Result<Vec<Scenario>, StoreError>> {
        Box::pin(async move {
            let c = self.pool.get().await?;
            let rows = c.query_typed(sc::SELECT_ALL, &[]).await.map_err(pg_err)?;
            rows.iter().map(|r| read(r)?.check()).collect()
        })
    }

    fn scenario_get<'a>(
        &'a self,
        id: &'a ScenarioId,
    ) -> BoxFuture<'a, Result<Option<Scenario>, StoreError>> {
        Box::pin(async move {
            let c = self.pool.get().await?;
            let key = id.as_str();
            let row = c
                .query_typed_opt(sc::SELECT_ONE, &[(&key, TEXT)])
                .await
                .map_err(pg_err)?;
            row.map(|r| read(&r)?.check()).transpose()
        })
    }

    fn scenario_create<'a>(&'a self, s: &'a Scenario) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut c = self.pool.get().await?;
            let tx = c.transaction().await.map_err(pg_err)?;
            if !insert(&tx, s).await? {
                return Err(StoreError::Conflict);
            }
            audit(
                &tx,
                &sc::audit_id(),
                s.id.as_str(),
                s.version,
                "create",
                sc::audit_body(s),
                s.updated_at_ms,
            )
            .await?;
            tx.commit().await.map_err(pg_err)
        })
    }

    fn scenario_update<'a>(
        &'a self,
        s: &'a Scenario,
    ) -> BoxFuture<'a, Result<Written, StoreError>> {
        Box::pin(async move {
            let b = Bound::of(s);
            let mut c = self.pool.get().await?;
            let tx = c.transaction().await.map_err(pg_err)?;
            let params: [(&(dyn ToSql + Sync), Type); 11] = [
                (&b.id, TEXT),
                (&s.name, TEXT),
                (&s.system_prompt, TEXT),
                (&s.model, TEXT),
                (&b.temperature, FLOAT8),
                (&b.tools, TEXT),
                (&s.greeting, TEXT),
                (&b.language, TEXT),
                (&b.tags, TEXT),
                (&s.version, INT8),
                (&s.updated_at_ms, INT8),
            ];
            let row = tx
                .query_typed_opt(sc::UPDATE, &params)
                .await
                .map_err(pg_err)?;
            if row.is_none() {
                tx.rollback().await.map_err(pg_err)?;
                return Ok(Written::Stale);
            }
            audit(
                &tx,
                &sc::audit_id(),
                &b.id,
                s.version,
                "update",
                sc::audit_body(s),
                s.updated_at_ms,
            )
            .await?;
            tx.commit().await.map_err(pg_err)?;
            Ok(Written::Done)
        })
    }

    fn scenario_delete<'a>(
        &'a self,
        id: &'a ScenarioId,
        version: i64,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Written, StoreError>> {
        Box::pin(async move {
            let key = id.as_str();
            let mut c = self.pool.get().await?;
            let tx = c.transaction().await.map_err(pg_err)?;
            let row = tx
                .query_typed_opt(sc::DELETE, &[(&key, TEXT), (&version, INT8)])
                .await
                .map_err(pg_err)?;
            if row.is_none() {
                tx.rollback().await.map_err(pg_err)?;
                return Ok(Written::Stale);
            }
            audit(
                &tx,
                &sc::audit_id(),
                key,
                version + 1,
                "delete",
                None,
                now_ms,
            )
            .await?;
            tx.commit().await.map_err(pg_err)?;
            Ok(Written::Done)
        })
    }

    fn scenario_seed<'a>(&'a self, s: &'a Scenario) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut c = self.pool.get().await?;
            let tx = c.transaction().await.map_err(pg_err)?;
            // A concurrent seed waits here on the audit row's key, then finds it and stops.
            let first = audit(
                &tx,
                sc::SEED_AUDIT_ID,
                s.id.as_str(),
                s.version,
                "seed",
                sc::audit_body(s),
                s.updated_at_ms,
            )
            .await?;
            if !first {
                tx.rollback().await.map_err(pg_err)?;
                return Ok(false);
            }
            let written = insert(&tx, s).await?;
            tx.commit().await.map_err(pg_err)?;
            Ok(written)
        })
    }

    fn scenario_audit<'a>(
        &'a self,
        id: &'a ScenarioId,
    ) -> BoxFuture<'a, Result<Vec<AuditEntry>, StoreError>> {
        Box::pin(async move {
            let c = self.pool.get().await?;
            let key = id.as_str();
            let rows = c
                .query_typed(sc::SELECT_AUDIT, &[(&key, TEXT)])
                .await
                .map_err(pg_err)?;
            rows.iter()
                .map(|r| {
                    let e = |e: tokio_postgres::Error| StoreError::Corrupt(e.to_string());
                    Ok(sc::audit_entry(
                        r.try_get(0).map_err(e)?,
                        r.try_get(1).map_err(e)?,
                        r.try_get(2).map_err(e)?,
                        r.try_get(3).map_err(e)?,
                        r.try_get(4).map_err(e)?,
                    ))
                })
                .collect()
        })
    }
}
