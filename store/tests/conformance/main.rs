//! One conformance suite, run against every backend: SQLite (a fresh file per test) and
//! PostgreSQL (a fresh schema per test, dropped after it, so tests run in parallel).
//!
//! PostgreSQL tests run when `TEST_DATABASE_URL` is set (`.ci/run` sets it); without it each
//! one prints that it was skipped and how to run it, straight to stderr so it shows even when
//! the test passes.

#![allow(clippy::unwrap_used)]

mod fixtures;
mod scenarios;

use std::sync::Arc;

use elbatt_store::schema::LATEST;
use elbatt_store::{Backend, ConversationId, NewMessage, Role, StoreError, TokenUsage};
use fixtures::Fixture;
use scenarios::*;
use serde_json::json;

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&crate::fixtures::SqliteFixture::new()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(f) = crate::fixtures::PgFixture::new(concat!("postgres::", stringify!($name))).await else {
                        return;
                    };
                    super::$name(&f).await;
                }
            )*
        }
    };
}

conformance!(
    a_fresh_database_migrates_to_the_latest_version_once,
    migrating_from_every_earlier_version_keeps_the_data,
    a_database_from_a_newer_build_is_refused_naming_both_versions,
    a_new_conversation_reads_back_every_field_in_order,
    appending_to_a_missing_conversation_writes_nothing,
    a_taken_id_is_a_conflict_not_an_overwrite,
    delete_erases_the_conversation_and_every_message,
    retention_erases_only_conversations_older_than_the_cutoff,
    with_retention_off_expired_turn_events_are_still_swept_and_conversations_kept,
    concurrent_appends_to_one_conversation_get_distinct_numbers,
    counters_never_pass_their_cap_even_under_concurrency,
    a_reservation_is_settled_up_or_down,
    vehicle_lookups_are_shared_until_they_expire,
    a_plate_looked_up_by_one_instance_is_answered_by_another_without_an_upstream_call,
    the_vegvesen_quota_and_a_pause_hold_for_every_instance,
    scenarios_read_back_every_field_and_a_taken_id_is_a_conflict,
    scenario_writes_decided_on_an_old_version_are_stale_and_audited,
    the_default_scenario_is_seeded_once_per_database,
    a_hand_edited_row_that_breaks_a_rule_is_corrupt_not_served,
);

async fn migrated<F: Fixture>(f: &F) -> Arc<dyn Backend> {
    let b = f.backend().await;
    b.migrate_to(LATEST).await.unwrap();
    b
}

fn assistant(content: &str, at: i64) -> NewMessage {
    NewMessage {
        role: Role::Assistant,
        content: content.to_owned(),
        vehicles: json!([{"plate": "EK12345", "vehicle": {"make": "Tesla"}}]),
        model: Some("gpt-4o-mini".to_owned()),
        mode: Some("model".to_owned()),
        usage: Some(TokenUsage {
            prompt_tokens: 120,
            completion_tokens: 30,
            total_tokens: 150,
        }),
        created_at_ms: at,
    }
}

async fn a_fresh_database_migrates_to_the_latest_version_once<F: Fixture>(f: &F) {
    let b = f.backend().await;
    assert_eq!(b.schema_version().await.unwrap(), 0);
    b.migrate_to(LATEST).await.unwrap();
    assert_eq!(b.schema_version().await.unwrap(), LATEST);
    // Again, and from a second handle at once (two instances starting together).
    let other = f.backend().await;
    let (x, y) = tokio::join!(b.migrate_to(LATEST), other.migrate_to(LATEST));
    x.unwrap();
    y.unwrap();
    assert_eq!(f.count("elbatt_migrations").await, LATEST);
}

async fn migrating_from_every_earlier_version_keeps_the_data<F: Fixture>(_: &F) {
    for from in 0..LATEST {
        let f = F::another().await;
        let b = f.backend().await;
        b.migrate_to(from).await.unwrap();
        assert_eq!(b.schema_version().await.unwrap(), from);
        let id = ConversationId::generate();
        if from >= 1 {
            b.append(&id, true, &[NewMessage::user("hei", 1)], 1)
                .await
                .unwrap();
        }
        // A new process opens it.
        let b = f.backend().await;
        b.migrate_to(LATEST).await.unwrap();
        assert_eq!(b.schema_version().await.unwrap(), LATEST, "from {from}");
        if from >= 1 {
            let c = b.conversation(&id).await.unwrap().unwrap();
            assert_eq!(c.messages[0].content, "hei", "from {from}");
        }
        // Everything of the latest schema works.
        b.append(
            &ConversationId::generate(),
            true,
            &[NewMessage::user("x", 2)],
            2,
        )
        .await
        .unwrap();
        assert_eq!(b.counter_add("s", 0, 1, 5, 10).await.unwrap(), Some(1));
    }
}

async fn a_database_from_a_newer_build_is_refused_naming_both_versions<F: Fixture>(f: &F) {
    let b = migrated(f).await;
    f.exec(&format!(
        "INSERT INTO elbatt_migrations (version, name, applied_at_ms) VALUES ({}, 'future', 0)",
        LATEST + 1
    ))
    .await;
    let err = b.migrate_to(LATEST).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, supported } if found == LATEST + 1 && supported == LATEST)
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&(LATEST + 1).to_string()) && msg.contains(&LATEST.to_string()),
        "{msg}"
    );
}

async fn a_new_conversation_reads_back_every_field_in_order<F: Fixture>(f: &F) {
    let b = migrated(f).await;
    let id = ConversationId::generate();
    b.append(
        &id,
        true,
        &[
            NewMessage::user("Hva er rekkevidden?", 1000),
            assistant("Omtrent 400 km.", 1001),
        ],
        1002,
    )
    .await
    .unwrap();
    b.append(
        &id,
        false,
        &[NewMessage::user("Og om vinteren? ÆØÅ 🚗", 2000)],
        2001,
    )
    .await
    .unwrap();
    let c = b.conversation(&id).await.unwrap().unwrap();
    assert_eq!(c.id, id);
    assert_eq!((c.created_at_ms, c.updated_at_ms), (1002, 2001));
    let seqs: Vec<i64> = c.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    let a = &c.messages[1];
    assert_eq!(a.role, Role::Assistant);
    assert_eq!(a.content, "Omtrent 400 km.");
    assert_eq!(
        a.vehicles,
        json!([{"plate": "EK12345", "vehicle": {"make": "Tesla"}}])
    );
    assert_eq!(a.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(a.mode.as_deref(), Some("model"));
    assert_eq!(a.usage.unwrap().total_tokens, 150);
    assert_eq!(a.created_at_ms, 1001);
    let u = &c.messages[2];
    assert_eq!(
        (u.role, u.content.as_str(), u.usage),
        (Role::User, "Og om vinteren? ÆØÅ 🚗", None)
    );
    assert_eq!(u.vehicles, json!([]));
    assert!(
        b.conversation(&ConversationId::generate())
            .await
            .unwrap()
            .is_none()
    );
}

async fn appending_to_a_missing_conversation_writes_nothing<F: Fixture>(f: &F) {
    let b = migrated(f).await;
    let id = ConversationId::generate();
    let err = b
        .append(&id, false, &[NewMessage::user("x", 1)], 1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err}");
    assert!(b.conversation(&id).await.unwrap().is_none());
    assert_eq!(f.count("messages").await, 0);
}

async fn a_taken_id_is_a_conflict_not_an_overwrite<F: Fixture>(f: &F) {
    let b = migrated(f).await;
    let id = ConversationId::generate();
    b.append(&id, true, &[NewMessage::user("first", 1)], 1)
        .await
        .unwrap();
    let err = b
        .append(&id, true, &[NewMessage::user("second", 2)], 2)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err}");
    let c = b.conversation(&id).await.unwrap().unwrap();
    assert_eq!(c.messages.len(), 1);
    assert_eq!(c.messages[0].content, "first");
}

async fn delete_erases_the_conversation_and_every_message<F: Fixture>(f: &F) {
    let b = migrated(f).await;
    let (gone, kept) = (ConversationId::generate(), ConversationId::generate());
    b.append(
        &gone,
        true,
        &[NewMessage::user("a", 1), assistant("b", 2)],
        2,
    )
    .await
    .unwrap();
    b.append(&kept, true, &[NewMessage::user("c", 3)], 3)
        .await
        .unwrap();
    assert!(b.delete(&gone).await.unwrap());
    assert!(b.conversation(&gone).await.unwrap().is_none());
    assert_eq!(
        f.count("messages").await,
        1,
        "only the other conversation's message is left"
    );
    assert!(
        !b.delete(&gone).await.unwrap(),
        "a second delete finds nothing"
    );
    // A turn that finishes after the erasure must not bring it back.
    let err = b
        .append(&gone, false, &[NewMessage::user("late", 4)], 4)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound));
    assert_eq!(f.count("messages").await, 1);
    assert!(b.conversation(&kept).await.unwrap().is_some());
}

async fn retention_erases_only_conversations_older_than_the_cutoff<F: Fixture>(f: &F) {
    let b = migrated(f).await;
    let (old, touched, new) = (
        ConversationId::generate(),
        ConversationId::generate(),
        ConversationId::generate(),
    );
    b.append(&old, true, &[NewMessage::user("old", 100)], 100)
        .await
        .unwrap();
    b.append(&touched, true, &[NewMessage::user("old", 100)], 100)
        .await
        .unwrap();
    b.append(&touched, false, &[NewMessage::user("recent", 900)], 900)
        .await
        .unwrap();
    b.append(&new, true, &[NewMessage::user("new", 1000)], 1000)
        .await
        .unwrap();
    b.counter_add("expired", 0, 1, 10, 500).await.unwrap();
    b.counter_add("live", 0, 1, 10, 5000).await.unwrap();
    assert_eq!(b.purge(500, 1000).await.unwrap(), 1);
    assert!(b.conversation(&old).await.unwrap().is_none());
    assert_eq!(
        b.conversation(&touched)
            .await
            .unwrap()
            .unwrap()
            .messages
            .len(),
        2
    );
    assert!(b.conversation(&new).await.unwrap().is_some());
    assert_eq!(f.count("messages").await, 3);
    assert_eq!(f.count("counters").await, 1);
    assert_eq!(
        b.counter_add("live", 0, 0, 10, 5000).await.unwrap(),
        Some(1)
    );
}

/// `CONVERSATION_RETENTION_DAYS=0` keeps conversations forever, not expired turn events (up
/// to `CHAT_RESUME_MAX_BYTES` a turn), counter windows and cached lookups: the hourly run
/// still sweeps those.
async fn with_retention_off_expired_turn_events_are_still_swept_and_conversations_kept<
    F: Fixture,
>(
    f: &F,
) {
    use elbatt_store::{Store, StoreConfig, TurnEventRecord, TurnWrite};
    let b = migrated(f).await;
    let old = ConversationId::generate();
    b.append(&old, true, &[NewMessage::user("old", 100)], 100)
        .await
        .unwrap();
    let event = TurnEventRecord {
        seq: 1,
        name: "delta".to_owned(),
        data: r#"{"text":"Hei"}"#.to_owned(),
    };
    let write = TurnWrite {
        conversation_id: old.as_str(),
        turn: "0123456789abcdef",
        started_at_ms: 100,
        ended_at_ms: Some(200),
        expires_at_ms: 300,
        dropped: 0,
        events: std::slice::from_ref(&event),
    };
    b.turn_write(&write).await.unwrap();
    b.counter_add("expired", 0, 1, 10, 500).await.unwrap();
    assert_eq!(
        (f.count("turns").await, f.count("turn_events").await),
        (1, 1)
    );

    let store = Store::new(StoreConfig {
        mode: f.mode(),
        retention: None,
    });
    store.backend().await.unwrap();
    // The sweep runs in the background when the store opens.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while f.count("turn_events").await > 0 || f.count("turns").await > 0 {
        assert!(
            std::time::Instant::now() < until,
            "expired turn events were never swept with retention off"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        f.count("counters").await,
        0,
        "expired counter windows swept"
    );
    assert!(
        b.conversation(&old).await.unwrap().is_some(),
        "retention off keeps every conversation"
    );
}

async fn concurrent_appends_to_one_conversation_get_distinct_numbers<F: Fixture>(f: &F) {
    let b = migrated(f).await;
    let id = ConversationId::generate();
    b.append(&id, true, &[NewMessage::user("start", 0)], 0)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (b, id) = (Arc::clone(&b), id.clone());
            tokio::spawn(async move {
                b.append(
                    &id,
                    false,
                    &[
                        NewMessage::user(format!("q{i}"), i),
                        assistant(&format!("a{i}"), i),
                    ],
                    i,
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let c = b.conversation(&id).await.unwrap().unwrap();
    let seqs: Vec<i64> = c.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=33).collect::<Vec<_>>());
    // Each turn's two messages are adjacent: a turn is one transaction.
    for pair in c.messages[1..].chunks(2) {
        assert_eq!(pair[0].content[1..], pair[1].content[1..], "{pair:?}");
    }
}

async fn counters_never_pass_their_cap_even_under_concurrency<F: Fixture>(f: &F) {
    let b = migrated(f).await;
    assert_eq!(
        b.counter_add("budget", 10, 11, 10, 99).await.unwrap(),
        None,
        "one amount over the cap"
    );
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let b = Arc::clone(&b);
            tokio::spawn(async move { b.counter_add("budget", 10, 3, 10, 99).await })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().is_some() {
            granted += 1;
        }
    }
    assert_eq!(granted, 3, "3 × 3 ≤ 10 < 4 × 3");
    assert_eq!(
        b.counter_add("budget", 10, 0, 10, 99).await.unwrap(),
        Some(9)
    );
    assert_eq!(
        b.counter_add("budget", 11, 3, 10, 99).await.unwrap(),
        Some(3),
        "a new window starts empty"
    );
    assert_eq!(
        b.counter_add("other", 10, 1, 10, 99).await.unwrap(),
        Some(1),
        "scopes are separate"
    );
}

async fn vehicle_lookups_are_shared_until_they_expire<F: Fixture>(f: &F) {
    let b = migrated(f).await;
    assert_eq!(b.vehicle_get("EC47213", 0).await.unwrap(), None);
    b.vehicle_put("EC47213", Some("{\"a\":1}"), 1000)
        .await
        .unwrap();
    b.vehicle_put("AA12345", None, 1000).await.unwrap();
    assert_eq!(
        b.vehicle_get("EC47213", 999).await.unwrap(),
        Some(Some("{\"a\":1}".to_owned()))
    );
    assert_eq!(
        b.vehicle_get("AA12345", 999).await.unwrap(),
        Some(None),
        "a cached not-found"
    );
    assert_eq!(
        b.vehicle_get("EC47213", 1000).await.unwrap(),
        None,
        "expired"
    );
    b.vehicle_put("EC47213", Some("{\"a\":2}"), 3000)
        .await
        .unwrap();
    assert_eq!(
        b.vehicle_get("EC47213", 2000).await.unwrap(),
        Some(Some("{\"a\":2}".to_owned())),
        "a new answer replaces the old"
    );
    b.purge(0, 2000).await.unwrap();
    assert_eq!(
        f.count("vehicle_cache").await,
        1,
        "retention sweeps expired lookups"
    );
}

async fn a_plate_looked_up_by_one_instance_is_answered_by_another_without_an_upstream_call<
    F: Fixture,
>(
    f: &F,
) {
    use elbatt::config::Env;
    use elbatt::plate::Plate;
    use elbatt::testing::{FakeVegvesen, Reply, vegvesen_fixture};
    use elbatt::vehicle::service::VehicleService;
    use elbatt_store::{Store, StoreConfig};

    let registry = FakeVegvesen::start(
        vec![(
            "EC47213",
            vec![Reply::json(
                200,
                vegvesen_fixture("bev-kia-niro-ec47213.json"),
            )],
        )],
        Reply::status(204),
    )
    .await;
    let env = Env::from_pairs([
        ("VEGVESEN_API_KEY", "k".to_owned()),
        ("VEGVESEN_ENDPOINT", registry.endpoint()),
    ]);
    // Two instances: each its own memory cache and store handle, one database.
    let instance = || {
        let store = Arc::new(Store::new(StoreConfig {
            mode: f.mode(),
            retention: None,
        }));
        let vehicles = VehicleService::from_env(&env).unwrap().unwrap();
        vehicles.set_shared_cache(store.vehicle_cache(45_000));
        vehicles
    };
    let (a, b) = (instance(), instance());
    let plate = Plate::parse("EC 47213").unwrap();
    let found = a.lookup(&plate).await.unwrap().unwrap();
    assert_eq!(registry.calls(), 1);
    let shared = b.lookup(&plate).await.unwrap().unwrap();
    assert_eq!(registry.calls(), 1, "answered from the shared cache");
    assert_eq!(
        serde_json::to_value(&*shared).unwrap(),
        serde_json::to_value(&*found).unwrap()
    );
    let unknown = Plate::parse("AA 12345").unwrap();
    assert!(a.lookup(&unknown).await.unwrap().is_none());
    assert!(b.lookup(&unknown).await.unwrap().is_none());
    assert_eq!(registry.calls(), 2, "a not-found is shared too");
    // A hit in an instance's own memory never reaches the store or the registry.
    assert!(a.lookup(&plate).await.unwrap().is_some());
    assert_eq!(registry.calls(), 2);
}

async fn the_vegvesen_quota_and_a_pause_hold_for_every_instance<F: Fixture>(f: &F) {
    use elbatt::config::Env;
    use elbatt::plate::Plate;
    use elbatt::testing::{FakeVegvesen, Reply};
    use elbatt::vehicle::client::LookupError;
    use elbatt::vehicle::service::VehicleService;
    use elbatt_store::{Store, StoreConfig};

    // Unknown plates cost a call each (204: no such vehicle); QQ99999 answers 429 + Retry-After.
    let registry = FakeVegvesen::start(
        vec![(
            "QQ99999",
            vec![Reply::With(
                429,
                vec![("retry-after", "120".to_owned())],
                String::new(),
            )],
        )],
        Reply::status(204),
    )
    .await;
    let env = Env::from_pairs([
        ("VEGVESEN_API_KEY", "k".to_owned()),
        ("VEGVESEN_ENDPOINT", registry.endpoint()),
    ]);
    let instance = |quota: i64| {
        let store = Arc::new(Store::new(StoreConfig {
            mode: f.mode(),
            retention: None,
        }));
        let vehicles = VehicleService::from_env(&env).unwrap().unwrap();
        vehicles.set_shared_cache(store.vehicle_cache(quota));
        vehicles
    };
    let (a, b) = (instance(2), instance(2));
    let plate = |p: &str| Plate::parse(p).unwrap();
    assert!(a.lookup(&plate("AA10001")).await.unwrap().is_none());
    assert!(b.lookup(&plate("AA10002")).await.unwrap().is_none());
    assert_eq!(registry.calls(), 2);
    let spent = a.lookup(&plate("AA10003")).await.unwrap_err();
    assert!(
        matches!(spent, LookupError::QuotaExhausted { retry_after: Some(d) } if d.as_secs() <= 86_400),
        "{spent:?}"
    );
    assert_eq!(registry.calls(), 2, "the quota is shared: no third call");
    assert!(
        b.lookup(&plate("AA10001")).await.unwrap().is_none(),
        "shared cache hits cost no quota"
    );

    // A larger quota, then the registry says stop: every instance pauses.
    let (c, d) = (instance(1000), instance(1000));
    let calls = registry.calls();
    let err = c.lookup(&plate("QQ99999")).await.unwrap_err();
    assert!(matches!(err, LookupError::QuotaExhausted { .. }), "{err:?}");
    assert_eq!(registry.calls(), calls + 1);
    let paused = d.lookup(&plate("AA10009")).await.unwrap_err();
    assert!(
        matches!(paused, LookupError::QuotaExhausted { retry_after: Some(w) } if (100..=120).contains(&w.as_secs())),
        "{paused:?}"
    );
    assert_eq!(
        registry.calls(),
        calls + 1,
        "the other instance did not call"
    );
}

async fn a_reservation_is_settled_up_or_down<F: Fixture>(f: &F) {
    let b = migrated(f).await;
    assert_eq!(
        b.counter_adjust("tokens", 0, 5).await.unwrap(),
        None,
        "no window yet"
    );
    assert_eq!(
        b.counter_add("tokens", 0, 1000, 5000, 99).await.unwrap(),
        Some(1000)
    );
    assert_eq!(
        b.counter_adjust("tokens", 0, -700).await.unwrap(),
        Some(300)
    );
    assert_eq!(b.counter_adjust("tokens", 0, 200).await.unwrap(), Some(500));
    assert_eq!(
        b.counter_adjust("tokens", 0, -9999).await.unwrap(),
        Some(0),
        "never below zero"
    );
}
