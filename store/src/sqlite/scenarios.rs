//! Scenarios on SQLite: each write and its audit row in one `BEGIN IMMEDIATE` transaction.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::{Sqlite, err};
use crate::BoxFuture;
use crate::model::StoreError;
use crate::scenarios::{
    self as sc, AuditEntry, RawRow, Scenario, ScenarioBackend, ScenarioId, Written,
};
use crate::schema::sqlite as q;

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        id: r.get(0)?,
        name: r.get(1)?,
        system_prompt: r.get(2)?,
        model: r.get(3)?,
        temperature: r.get(4)?,
        tools: r.get(5)?,
        greeting: r.get(6)?,
        language: r.get(7)?,
        tags: r.get(8)?,
        version: r.get(9)?,
        created_at_ms: r.get(10)?,
        updated_at_ms: r.get(11)?,
    })
}

fn write_tx(c: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    c.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)
}

/// The row's values in `INSERT`/`UPDATE` order (`$1`…`$12`; `UPDATE` uses the first 11 with the
/// update time as `$11`).
fn insert(tx: &Transaction<'_>, s: &Scenario) -> Result<bool, StoreError> {
    let row: Option<String> = tx
        .query_row(
            &q(sc::INSERT),
            params![
                s.id.as_str(),
                s.name,
                s.system_prompt,
                s.model,
                s.temperature.map(sc::Temperature::get),
                sc::json_list(&s.tools),
                s.greeting,
                s.language.as_str(),
                sc::json_list(&s.tags),
                s.version,
                s.created_at_ms,
                s.updated_at_ms,
            ],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    Ok(row.is_some())
}

fn audit(
    tx: &Transaction<'_>,
    audit_id: &str,
    id: &ScenarioId,
    version: i64,
    action: &str,
    body: Option<String>,
    at_ms: i64,
) -> Result<bool, StoreError> {
    let row: Option<String> = tx
        .query_row(
            &q(sc::AUDIT),
            params![audit_id, id.as_str(), version, action, body, at_ms],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    Ok(row.is_some())
}

impl ScenarioBackend for Sqlite {
    fn scenario_list(&self) -> BoxFuture<'_, Result<Vec<Scenario>, StoreError>> {
        self.run(|c| {
            let mut stmt = c.prepare(sc::SELECT_ALL).map_err(err)?;
            let rows = stmt.query_map([], read).map_err(err)?;
            rows.map(|r| r.map_err(err)?.check()).collect()
        })
    }

    fn scenario_get<'a>(
        &'a self,
        id: &'a ScenarioId,
    ) -> BoxFuture<'a, Result<Option<Scenario>, StoreError>> {
        let id = id.as_str().to_owned();
        self.run(move |c| {
            c.query_row(&q(sc::SELECT_ONE), [id], read)
                .optional()
                .map_err(err)?
                .map(RawRow::check)
                .transpose()
        })
    }

    fn scenario_create<'a>(&'a self, s: &'a Scenario) -> BoxFuture<'a, Result<(), StoreError>> {
        let s = s.clone();
        self.run(move |c| {
            let tx = write_tx(c)?;
            if !insert(&tx, &s)? {
                return Err(StoreError::Conflict);
            }
            audit(
                &tx,
                &sc::audit_id(),
                &s.id,
                s.version,
                "create",
                sc::audit_body(&s),
                s.updated_at_ms,
            )?;
            tx.commit().map_err(err)
        })
    }

    fn scenario_update<'a>(
        &'a self,
        s: &'a Scenario,
    ) -> BoxFuture<'a, Result<Written, StoreError>> {
        let s = s.clone();
        self.run(move |c| {
            let tx = write_tx(c)?;
            let row: Option<String> = tx
                .query_row(
                    &q(sc::UPDATE),
                    params![
                        s.id.as_str(),
                        s.name,
                        s.system_prompt,
                        s.model,
                        s.temperature.map(sc::Temperature::get),
                        sc::json_list(&s.tools),
                        s.greeting,
                        s.language.as_str(),
                        sc::json_list(&s.tags),
                        s.version,
                        s.updated_at_ms,
                    ],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            if row.is_none() {
                return Ok(Written::Stale);
            }
            audit(
                &tx,
                &sc::audit_id(),
                &s.id,
                s.version,
                "update",
                sc::audit_body(&s),
                s.updated_at_ms,
            )?;
            tx.commit().map_err(err)?;
            Ok(Written::Done)
        })
    }

    fn scenario_delete<'a>(
        &'a self,
        id: &'a ScenarioId,
        version: i64,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Written, StoreError>> {
        let id = id.clone();
        self.run(move |c| {
            let tx = write_tx(c)?;
            let row: Option<String> = tx
                .query_row(&q(sc::DELETE), params![id.as_str(), version], |r| r.get(0))
                .optional()
                .map_err(err)?;
            if row.is_none() {
                return Ok(Written::Stale);
            }
            audit(
                &tx,
                &sc::audit_id(),
                &id,
                version + 1,
                "delete",
                None,
                now_ms,
            )?;
            tx.commit().map_err(err)?;
            Ok(Written::Done)
        })
    }

    fn scenario_seed<'a>(&'a self, s: &'a Scenario) -> BoxFuture<'a, Result<bool, StoreError>> {
        let s = s.clone();
        self.run(move |c| {
            let tx = write_tx(c)?;
            if !audit(
                &tx,
                sc::SEED_AUDIT_ID,
                &s.id,
                s.version,
                "seed",
                sc::audit_body(&s),
                s.updated_at_ms,
            )? {
                return Ok(false);
            }
            let written = insert(&tx, &s)?;
            tx.commit().map_err(err)?;
            Ok(written)
        })
    }

    fn scenario_audit<'a>(
        &'a self,
        id: &'a ScenarioId,
    ) -> BoxFuture<'a, Result<Vec<AuditEntry>, StoreError>> {
        let id = id.as_str().to_owned();
        self.run(move |c| {
            let mut stmt = c.prepare(&q(sc::SELECT_AUDIT)).map_err(err)?;
            let rows = stmt
                .query_map([id], |r| {
                    Ok(sc::audit_entry(
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                    ))
                })
                .map_err(err)?;
            rows.map(|r| r.map_err(err)).collect()
        })
    }
}
