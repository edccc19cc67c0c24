//! Scenarios (bot profiles): a named configuration of the assistant (system prompt, model,
//! temperature, tools, greeting, language, tags), kept in the store (migration 4).
//!
//! Every field is checked once, when a request body becomes a [`Scenario`]
//! ([`ScenarioInput::into_scenario`]); the rest of the code holds checked values only (an id is a
//! [`ScenarioId`], a temperature a [`Temperature`]…). Rows read back are checked again, so a row
//! written by hand that breaks a rule is reported as corrupt rather than served.
//!
//! Every write bumps `version` and appends a row to `scenario_audit` (what was written, when)
//! in the same transaction; updates and deletes name the version they were decided on, so a
//! lock check and the write it allows cannot be split by another writer (the sibling system's
//! soft lock had neither). [`ScenarioBackend`] is implemented by each engine in its own
//! submodule (`sqlite/scenarios.rs`, `postgres/scenarios.rs`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::BoxFuture;
use crate::model::StoreError;

/// The tag that locks a scenario (`PUT`/`DELETE` need the edit token).
pub const PUBLISHED: &str = "published";
/// The id of the scenario seeded at first start.
pub const DEFAULT_ID: &str = "default";
/// Tools a scenario may enable: the assistant's tools, by the names the model sees.
pub const KNOWN_TOOLS: &[&str] = &["lookup_vehicle"];

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_PROMPT_CHARS: usize = 20_000;
pub const MAX_GREETING_CHARS: usize = 1_000;
pub const MAX_MODEL_CHARS: usize = 100;
pub const MAX_TAGS: usize = 16;
pub const MAX_TAG_CHARS: usize = 32;
pub const MAX_ID_CHARS: usize = 64;
/// Temperatures providers accept (OpenAI's range; others are narrower inside it).
pub const TEMPERATURE_RANGE: std::ops::RangeInclusive<f64> = 0.0..=2.0;

/// Migration 4 (see [`crate::schema::MIGRATIONS`]).
pub const MIGRATION_SQL: &str = "
CREATE TABLE scenarios (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    system_prompt TEXT NOT NULL,
    model TEXT,
    temperature DOUBLE PRECISION,
    tools TEXT NOT NULL,
    greeting TEXT NOT NULL,
    language TEXT NOT NULL,
    tags TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE TABLE scenario_audit (
    id TEXT PRIMARY KEY,
    scenario_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    action TEXT NOT NULL,
    body TEXT,
    at_ms BIGINT NOT NULL
);
CREATE INDEX scenario_audit_by_scenario ON scenario_audit (scenario_id, at_ms);";

pub(crate) const SELECT_ALL: &str = "SELECT id, name, system_prompt, model, temperature, tools, \
     greeting, language, tags, version, created_at_ms, updated_at_ms FROM scenarios ORDER BY id";
pub(crate) const SELECT_ONE: &str = "SELECT id, name, system_prompt, model, temperature, tools, \
     greeting, language, tags, version, created_at_ms, updated_at_ms FROM scenarios WHERE id = $1";
/// A duplicate id is a conflict (no row back), never an overwrite.
pub(crate) const INSERT: &str = "INSERT INTO scenarios (id, name, system_prompt, model, \
     temperature, tools, greeting, language, tags, version, created_at_ms, updated_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING \
     RETURNING id";
/// Only the version the caller decided on (`$10` is that version + 1); no row: changed or gone.
pub(crate) const UPDATE: &str = "UPDATE scenarios SET name = $2, system_prompt = $3, model = $4, \
     temperature = $5, tools = $6, greeting = $7, language = $8, tags = $9, version = $10, \
     updated_at_ms = $11 WHERE id = $1 AND version = $10 - 1 RETURNING id";
pub(crate) const DELETE: &str = "DELETE FROM scenarios WHERE id = $1 AND version = $2 RETURNING id";
pub(crate) const AUDIT: &str = "INSERT INTO scenario_audit (id, scenario_id, version, action, \
     body, at_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING id";
pub(crate) const SELECT_AUDIT: &str = "SELECT scenario_id, version, action, body, at_ms \
     FROM scenario_audit WHERE scenario_id = $1 ORDER BY at_ms, version";
/// The audit row of the first start's seed: its fixed id makes the seed happen once per
/// database, even when two instances start together and even after the seeded scenario is
/// deleted.
pub(crate) const SEED_AUDIT_ID: &str = "seed";

/// A scenario id: 1–64 of `a-z`, `0-9` and `-`, starting and ending with a letter or digit
/// (it goes in URLs and in `POST /chat` bodies unescaped).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ScenarioId(String);

impl ScenarioId {
    /// # Errors
    /// Not a slug as described on the type.
    pub fn parse(raw: &str) -> Result<ScenarioId, InvalidScenario> {
        let bytes = raw.as_bytes();
        let slug_byte = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let ok = !raw.is_empty()
            && raw.len() <= MAX_ID_CHARS
            && bytes.iter().all(|b| slug_byte(b) || *b == b'-')
            && bytes.first().is_some_and(slug_byte)
            && bytes.last().is_some_and(slug_byte);
        if ok {
            Ok(ScenarioId(raw.to_owned()))
        } else {
            Err(InvalidScenario::new(
                "id",
                format!(
                    "must be 1–{MAX_ID_CHARS} characters of a-z, 0-9 and '-', starting and \
                     ending with a letter or digit"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScenarioId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sampling temperature within [`TEMPERATURE_RANGE`].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Temperature(f64);

impl Temperature {
    /// # Errors
    /// Not a finite number in [`TEMPERATURE_RANGE`].
    pub fn new(value: f64) -> Result<Temperature, InvalidScenario> {
        if value.is_finite() && TEMPERATURE_RANGE.contains(&value) {
            Ok(Temperature(value))
        } else {
            Err(InvalidScenario::new(
                "temperature",
                format!(
                    "must be a number from {} to {}",
                    TEMPERATURE_RANGE.start(),
                    TEMPERATURE_RANGE.end()
                ),
            ))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

/// A language tag (BCP 47 shape: `nb`, `nn`, `en`, `en-GB`, `se`…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Language(String);

impl Language {
    /// # Errors
    /// Not a 2–3 letter primary tag, optionally followed by `-` subtags of 2–8 letters/digits.
    pub fn parse(raw: &str) -> Result<Language, InvalidScenario> {
        let mut parts = raw.split('-');
        let primary = parts.next().unwrap_or_default();
        let ok = raw.len() <= 35
            && (2..=3).contains(&primary.len())
            && primary.bytes().all(|b| b.is_ascii_lowercase())
            && parts.all(|p| {
                (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if ok {
            Ok(Language(raw.to_owned()))
        } else {
            Err(InvalidScenario::new(
                "language",
                "must be a language tag such as \"nb\", \"nn\" or \"en-GB\"",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A scenario as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub id: ScenarioId,
    pub name: String,
    pub system_prompt: String,
    /// `None`: the instance's default model (`OPENAI_MODEL`).
    pub model: Option<String>,
    /// `None`: the provider's default.
    pub temperature: Option<Temperature>,
    /// Names from [`KNOWN_TOOLS`], sorted, no repeats.
    pub tools: Vec<String>,
    pub greeting: String,
    pub language: Language,
    /// Sorted, no repeats; [`PUBLISHED`] locks the scenario.
    pub tags: Vec<String>,
    /// 1 when created, +1 on every change.
    pub version: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Scenario {
    pub fn is_published(&self) -> bool {
        self.tags.iter().any(|t| t == PUBLISHED)
    }

    pub fn has_tool(&self, name: &str) -> bool {
        self.tools.iter().any(|t| t == name)
    }

    /// Whether `other` says the same as this one (ignoring version and timestamps): a `PUT`
    /// that changes nothing is not a change.
    pub fn same_content(&self, other: &Scenario) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.system_prompt == other.system_prompt
            && self.model == other.model
            && self.temperature == other.temperature
            && self.tools == other.tools
            && self.greeting == other.greeting
            && self.language == other.language
            && self.tags == other.tags
    }
}

/// A request body for `POST` (all of it) or `PUT` (a full replacement; `id`, if sent, must be
/// the path's). Unknown fields are refused so a typo is a clear `400`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioInput {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    pub system_prompt: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Absent: every known tool (the assistant as it is without a scenario).
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    #[serde(default)]
    pub greeting: String,
    /// Absent: `nb`.
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Read-only fields a client may echo back from a `GET`; ignored.
    #[serde(default, rename = "version")]
    pub _version: Option<serde_json::Value>,
    #[serde(default, rename = "created_at_ms")]
    pub _created_at_ms: Option<serde_json::Value>,
    #[serde(default, rename = "updated_at_ms")]
    pub _updated_at_ms: Option<serde_json::Value>,
}

/// What is wrong with a scenario: the field and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {problem}")]
pub struct InvalidScenario {
    pub field: &'static str,
    pub problem: String,
}

impl InvalidScenario {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        InvalidScenario {
            field,
            problem: problem.into(),
        }
    }
}

fn text(
    field: &'static str,
    raw: &str,
    max: usize,
    required: bool,
) -> Result<String, InvalidScenario> {
    let value = raw.trim();
    if required && value.is_empty() {
        return Err(InvalidScenario::new(field, "must not be empty"));
    }
    let len = value.chars().count();
    if len > max {
        return Err(InvalidScenario::new(
            field,
            format!("is {len} characters; the limit is {max}"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(InvalidScenario::new(
            field,
            "must not hold control characters",
        ));
    }
    Ok(value.to_owned())
}

fn sorted_unique(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items.dedup();
    items
}

impl ScenarioInput {
    /// The checked scenario: `id` from the path (`PUT`) or the body (`POST`), `version` and times
    /// filled in by the caller's `now_ms` (`created_at_ms` kept from `existing` on a `PUT`).
    ///
    /// # Errors
    /// The first field that breaks its rule.
    pub fn into_scenario(
        self,
        path_id: Option<&ScenarioId>,
        existing: Option<&Scenario>,
        now_ms: i64,
    ) -> Result<Scenario, InvalidScenario> {
        let body_id = self.id.as_deref().map(ScenarioId::parse).transpose()?;
        let id = match (path_id, body_id) {
            (Some(p), Some(b)) if *p != b => {
                return Err(InvalidScenario::new(
                    "id",
                    "differs from the id in the path (ids cannot be renamed: create a new one)",
                ));
            }
            (Some(p), _) => p.clone(),
            (None, Some(b)) => b,
            (None, None) => return Err(InvalidScenario::new("id", "is required")),
        };
        let model = match self.model.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(m) if m.chars().count() > MAX_MODEL_CHARS => {
                return Err(InvalidScenario::new(
                    "model",
                    format!("is longer than {MAX_MODEL_CHARS} characters"),
                ));
            }
            Some(m) if m.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                return Err(InvalidScenario::new(
                    "model",
                    "must be a model name without spaces",
                ));
            }
            Some(m) => Some(m.to_owned()),
        };
        let tools = match self.tools {
            None => KNOWN_TOOLS.iter().map(|t| (*t).to_owned()).collect(),
            Some(tools) => {
                if let Some(bad) = tools.iter().find(|t| !KNOWN_TOOLS.contains(&t.as_str())) {
                    return Err(InvalidScenario::new(
                        "tools",
                        format!(
                            "names an unknown tool {:?}; known: {}",
                            bad.chars().take(40).collect::<String>(),
                            KNOWN_TOOLS.join(", ")
                        ),
                    ));
                }
                sorted_unique(tools)
            }
        };
        let tags = sorted_unique(
            self.tags
                .iter()
                .map(|t| t.trim().to_owned())
                .collect::<Vec<_>>(),
        );
        if tags.len() > MAX_TAGS {
            return Err(InvalidScenario::new(
                "tags",
                format!("has more than {MAX_TAGS} tags"),
            ));
        }
        if let Some(bad) = tags.iter().find(|t| {
            t.is_empty()
                || t.len() > MAX_TAG_CHARS
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        }) {
            return Err(InvalidScenario::new(
                "tags",
                format!(
                    "holds {:?}; a tag is 1–{MAX_TAG_CHARS} characters of a-z, 0-9, '-' and '_'",
                    bad.chars().take(40).collect::<String>()
                ),
            ));
        }
        Ok(Scenario {
            id,
            name: text("name", &self.name, MAX_NAME_CHARS, true)?,
            system_prompt: text("system_prompt", &self.system_prompt, MAX_PROMPT_CHARS, true)?,
            model,
            temperature: self.temperature.map(Temperature::new).transpose()?,
            tools,
            greeting: text("greeting", &self.greeting, MAX_GREETING_CHARS, false)?,
            language: Language::parse(self.language.as_deref().unwrap_or("nb").trim())?,
            tags,
            version: existing.map_or(1, |e| e.version + 1),
            created_at_ms: existing.map_or(now_ms, |e| e.created_at_ms),
            updated_at_ms: now_ms,
        })
    }
}

/// One row of a scenario's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub scenario_id: String,
    pub version: i64,
    /// `seed`, `create`, `update` or `delete`.
    pub action: String,
    /// The scenario as written (absent for `delete`).
    pub scenario: Option<serde_json::Value>,
    pub at_ms: i64,
}

/// How a write that names a version ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Done,
    /// The scenario is gone or at another version: decide again.
    Stale,
}

/// The scenario operations every engine implements (a supertrait of [`crate::Backend`]).
pub trait ScenarioBackend {
    /// Every scenario, by id.
    fn scenario_list(&self) -> BoxFuture<'_, Result<Vec<Scenario>, StoreError>>;
    fn scenario_get<'a>(
        &'a self,
        id: &'a ScenarioId,
    ) -> BoxFuture<'a, Result<Option<Scenario>, StoreError>>;
    /// A new scenario; a taken id is [`StoreError::Conflict`] and nothing is written.
    fn scenario_create<'a>(&'a self, s: &'a Scenario) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Replaces the scenario at `s.version - 1` with `s`.
    fn scenario_update<'a>(&'a self, s: &'a Scenario)
    -> BoxFuture<'a, Result<Written, StoreError>>;
    /// Deletes the scenario if it is still at `version`.
    fn scenario_delete<'a>(
        &'a self,
        id: &'a ScenarioId,
        version: i64,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Written, StoreError>>;
    /// Writes `s` unless this database was seeded before (even if that scenario was deleted
    /// since) or the id is taken. `true` when written now.
    fn scenario_seed<'a>(&'a self, s: &'a Scenario) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// The scenario's audit trail, oldest first.
    fn scenario_audit<'a>(
        &'a self,
        id: &'a ScenarioId,
    ) -> BoxFuture<'a, Result<Vec<AuditEntry>, StoreError>>;
}

/// A row as both engines read it, before checking.
pub(crate) struct RawRow {
    pub id: String,
    pub name: String,
    pub system_prompt: String,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub tools: String,
    pub greeting: String,
    pub language: String,
    pub tags: String,
    pub version: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl RawRow {
    /// The stored row, checked by the same rules as a request.
    pub(crate) fn check(self) -> Result<Scenario, StoreError> {
        let corrupt = |e: String| StoreError::Corrupt(format!("scenario {:?}: {e}", self.id));
        let tools: Vec<String> =
            serde_json::from_str(&self.tools).map_err(|e| corrupt(format!("tools: {e}")))?;
        let tags: Vec<String> =
            serde_json::from_str(&self.tags).map_err(|e| corrupt(format!("tags: {e}")))?;
        let input = ScenarioInput {
            id: Some(self.id.clone()),
            name: self.name.clone(),
            system_prompt: self.system_prompt.clone(),
            model: self.model.clone(),
            temperature: self.temperature,
            tools: Some(tools),
            greeting: self.greeting.clone(),
            language: Some(self.language.clone()),
            tags,
            _version: None,
            _created_at_ms: None,
            _updated_at_ms: None,
        };
        let mut s = input
            .into_scenario(None, None, self.updated_at_ms)
            .map_err(|e| corrupt(e.to_string()))?;
        s.version = self.version;
        s.created_at_ms = self.created_at_ms;
        Ok(s)
    }
}

/// What both engines write for a scenario's list columns and its audit body.
pub(crate) fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn audit_body(s: &Scenario) -> Option<String> {
    serde_json::to_string(s).ok()
}

pub(crate) fn audit_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub(crate) fn audit_entry(
    scenario_id: String,
    version: i64,
    action: String,
    body: Option<String>,
    at_ms: i64,
) -> AuditEntry {
    AuditEntry {
        scenario_id,
        version,
        action,
        scenario: body.and_then(|b| serde_json::from_str(&b).ok()),
        at_ms,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn input(json: &str) -> ScenarioInput {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ids_are_slugs() {
        for ok in ["default", "a", "ev-help-2", &"a".repeat(64)] {
            assert!(ScenarioId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a b",
            "a/b",
            "a_b",
            "æ",
            "..",
            &"a".repeat(65),
        ] {
            assert_eq!(ScenarioId::parse(bad).unwrap_err().field, "id", "{bad}");
        }
    }

    #[test]
    fn temperature_and_language_are_bounded() {
        assert!(Temperature::new(0.0).is_ok() && Temperature::new(2.0).is_ok());
        for bad in [-0.1, 2.01, f64::NAN, f64::INFINITY] {
            assert!(Temperature::new(bad).is_err(), "{bad}");
        }
        for ok in ["nb", "nn", "en", "en-GB", "sma"] {
            assert!(Language::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "n", "NB", "norsk", "nb-", "nb_NO", "nb-x"] {
            assert!(Language::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_minimal_body_gets_the_defaults_and_lists_are_normalised() {
        let s = input(
            r#"{"id":"ev","name":" EV ","system_prompt":"Du er…","tags":["b","published","b"]}"#,
        )
        .into_scenario(None, None, 7)
        .unwrap();
        assert_eq!(s.name, "EV");
        assert_eq!(s.tools, ["lookup_vehicle"]);
        assert_eq!(s.language.as_str(), "nb");
        assert_eq!(s.tags, ["b", "published"]);
        assert!(s.is_published());
        assert_eq!((s.version, s.created_at_ms, s.updated_at_ms), (1, 7, 7));
        let none = input(r#"{"id":"ev","name":"x","system_prompt":"y","tools":[]}"#)
            .into_scenario(None, None, 7)
            .unwrap();
        assert!(none.tools.is_empty());
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (r#"{"name":"x","system_prompt":"y"}"#, "id"),
            (r#"{"id":"x","name":" ","system_prompt":"y"}"#, "name"),
            (
                r#"{"id":"x","name":"x","system_prompt":""}"#,
                "system_prompt",
            ),
            (
                r#"{"id":"x","name":"x","system_prompt":"y","temperature":3}"#,
                "temperature",
            ),
            (
                r#"{"id":"x","name":"x","system_prompt":"y","tools":["rm_rf"]}"#,
                "tools",
            ),
            (
                r#"{"id":"x","name":"x","system_prompt":"y","tags":["Pub lished"]}"#,
                "tags",
            ),
            (
                r#"{"id":"x","name":"x","system_prompt":"y","language":"Norsk"}"#,
                "language",
            ),
            (
                r#"{"id":"x","name":"x","system_prompt":"y","model":"a b"}"#,
                "model",
            ),
            (r#"{"id":"x","name":"x\u0007","system_prompt":"y"}"#, "name"),
        ];
        for (body, field) in cases {
            let err = input(body).into_scenario(None, None, 0).unwrap_err();
            assert_eq!(err.field, field, "{body}: {err}");
        }
        assert!(
            serde_json::from_str::<ScenarioInput>(r#"{"id":"x","nme":"x","system_prompt":"y"}"#)
                .is_err()
        );
    }

    #[test]
    fn a_put_keeps_the_path_id_and_creation_time_and_bumps_the_version() {
        let first = input(r#"{"id":"ev","name":"a","system_prompt":"p"}"#)
            .into_scenario(None, None, 10)
            .unwrap();
        let id = ScenarioId::parse("ev").unwrap();
        let second = input(r#"{"name":"b","system_prompt":"p","version":99}"#)
            .into_scenario(Some(&id), Some(&first), 20)
            .unwrap();
        assert_eq!(
            (second.version, second.created_at_ms, second.updated_at_ms),
            (2, 10, 20)
        );
        let err = input(r#"{"id":"other","name":"b","system_prompt":"p"}"#)
            .into_scenario(Some(&id), Some(&first), 20)
            .unwrap_err();
        assert_eq!(err.field, "id");
        assert!(!first.same_content(&second));
        let again = input(r#"{"name":"a","system_prompt":"p"}"#)
            .into_scenario(Some(&id), Some(&first), 30)
            .unwrap();
        assert!(first.same_content(&again));
    }
}
