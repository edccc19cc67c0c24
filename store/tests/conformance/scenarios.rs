//! Scenarios (migration 4) on every backend: every field read back, conflicts, versioned writes
//! with their audit trail, and the default seeded once per database.

use std::sync::Arc;

use elbatt_store::Backend;
use elbatt_store::StoreError;
use elbatt_store::scenarios::{Scenario, ScenarioId, ScenarioInput, Written};

use crate::fixtures::Fixture;
use crate::migrated;

fn scenario(json: &str, now: i64) -> Scenario {
    serde_json::from_str::<ScenarioInput>(json)
        .unwrap()
        .into_scenario(None, None, now)
        .unwrap()
}

fn id(raw: &str) -> ScenarioId {
    ScenarioId::parse(raw).unwrap()
}

pub(crate) async fn scenarios_read_back_every_field_and_a_taken_id_is_a_conflict<F: Fixture>(
    f: &F,
) {
    let b = migrated(f).await;
    assert!(b.scenario_list().await.unwrap().is_empty());
    let full = scenario(
        r#"{"id":"ev-help","name":"EV-hjelp","system_prompt":"Du er … ÆØÅ 🚗\nlinje 2",
            "model":"gpt-4o","temperature":0.3,"tools":["lookup_vehicle"],
            "greeting":"Hei! Hva lurer du på?","language":"nn","tags":["published","beta"]}"#,
        1000,
    );
    let bare = scenario(
        r#"{"id":"bare","name":"Bare","system_prompt":"p","tools":[]}"#,
        2000,
    );
    b.scenario_create(&full).await.unwrap();
    b.scenario_create(&bare).await.unwrap();
    assert_eq!(b.scenario_get(&id("ev-help")).await.unwrap().unwrap(), full);
    let listed = b.scenario_list().await.unwrap();
    assert_eq!(listed, [bare.clone(), full.clone()], "sorted by id");
    assert_eq!(listed[0].model, None);
    assert_eq!(listed[0].temperature, None);
    assert!(listed[0].tools.is_empty());
    assert_eq!(
        listed[1].temperature.map(|t| t.get()),
        Some(0.3),
        "a float survives exactly"
    );
    let again = scenario(r#"{"id":"bare","name":"Other","system_prompt":"q"}"#, 3000);
    let err = b.scenario_create(&again).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err}");
    assert_eq!(
        b.scenario_get(&id("bare")).await.unwrap().unwrap().name,
        "Bare",
        "never an overwrite"
    );
    assert!(b.scenario_get(&id("nope")).await.unwrap().is_none());
}

pub(crate) async fn scenario_writes_decided_on_an_old_version_are_stale_and_audited<F: Fixture>(
    f: &F,
) {
    let b = migrated(f).await;
    let v1 = scenario(r#"{"id":"s","name":"one","system_prompt":"p"}"#, 10);
    b.scenario_create(&v1).await.unwrap();
    let mut v2 = v1.clone();
    v2.name = "two".into();
    v2.version = 2;
    v2.updated_at_ms = 20;
    assert_eq!(b.scenario_update(&v2).await.unwrap(), Written::Done);
    // A second writer that decided on version 1 too.
    let mut late = v1.clone();
    late.name = "late".into();
    late.version = 2;
    assert_eq!(b.scenario_update(&late).await.unwrap(), Written::Stale);
    assert_eq!(
        b.scenario_delete(&id("s"), 1, 30).await.unwrap(),
        Written::Stale
    );
    let now = b.scenario_get(&id("s")).await.unwrap().unwrap();
    assert_eq!(
        (
            now.name.as_str(),
            now.version,
            now.created_at_ms,
            now.updated_at_ms
        ),
        ("two", 2, 10, 20)
    );
    assert_eq!(
        b.scenario_delete(&id("s"), 2, 30).await.unwrap(),
        Written::Done
    );
    assert!(b.scenario_get(&id("s")).await.unwrap().is_none());
    assert_eq!(
        b.scenario_update(&v2).await.unwrap(),
        Written::Stale,
        "gone"
    );
    let trail = b.scenario_audit(&id("s")).await.unwrap();
    let actions: Vec<(&str, i64)> = trail
        .iter()
        .map(|a| (a.action.as_str(), a.version))
        .collect();
    assert_eq!(actions, [("create", 1), ("update", 2), ("delete", 3)]);
    assert_eq!(trail[1].scenario.as_ref().unwrap()["name"], "two");
    assert!(trail[2].scenario.is_none());
    assert_eq!(
        f.count("scenario_audit").await,
        3,
        "stale writes leave no trace"
    );
}

pub(crate) async fn the_default_scenario_is_seeded_once_per_database<F: Fixture>(f: &F) {
    let b = migrated(f).await;
    let seed = scenario(
        r#"{"id":"default","name":"Elbatt","system_prompt":"today's prompt"}"#,
        1,
    );
    // Two instances starting together.
    let other = f.backend().await;
    let (x, y) = tokio::join!(b.scenario_seed(&seed), other.scenario_seed(&seed));
    assert_eq!(
        u8::from(x.unwrap()) + u8::from(y.unwrap()),
        1,
        "exactly one seeds"
    );
    // An edit survives a restart's seed with a new prompt.
    let mut edited = seed.clone();
    edited.system_prompt = "edited".into();
    edited.version = 2;
    assert_eq!(b.scenario_update(&edited).await.unwrap(), Written::Done);
    let mut newer = seed.clone();
    newer.system_prompt = "a new deployment's prompt".into();
    assert!(!b.scenario_seed(&newer).await.unwrap());
    assert_eq!(
        b.scenario_get(&id("default"))
            .await
            .unwrap()
            .unwrap()
            .system_prompt,
        "edited"
    );
    // Deleted on purpose: not brought back by the next start.
    b.scenario_delete(&id("default"), 2, 5).await.unwrap();
    assert!(!b.scenario_seed(&seed).await.unwrap());
    assert!(b.scenario_get(&id("default")).await.unwrap().is_none());
    // A database whose default id was taken before the first seed keeps that one.
    let g = F::another().await;
    let fresh: Arc<dyn Backend> = migrated(&g).await;
    let mine = scenario(
        r#"{"id":"default","name":"Mine","system_prompt":"mine"}"#,
        1,
    );
    fresh.scenario_create(&mine).await.unwrap();
    assert!(!fresh.scenario_seed(&seed).await.unwrap());
    assert_eq!(
        fresh
            .scenario_get(&id("default"))
            .await
            .unwrap()
            .unwrap()
            .name,
        "Mine"
    );
}

pub(crate) async fn a_hand_edited_row_that_breaks_a_rule_is_corrupt_not_served<F: Fixture>(f: &F) {
    let b = migrated(f).await;
    b.scenario_create(&scenario(r#"{"id":"s","name":"n","system_prompt":"p"}"#, 1))
        .await
        .unwrap();
    f.exec("UPDATE scenarios SET temperature = 9.5").await;
    let err = b.scenario_get(&id("s")).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("temperature"), "{err}");
}
