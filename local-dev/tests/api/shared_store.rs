//! Three runner processes sharing one store (a SQLite file; PostgreSQL when `TEST_DATABASE_URL`
//! is set): a conversation started on one is continued on another and read and erased on the
//! third; a plate looked up through one is answered by the others with no upstream call; they
//! keep one Statens vegvesen quota and one per-client rate limit.

use std::io::Write;
use std::process::Stdio;

use elbatt::testing::{ChildServer, FakeVegvesen, Reply, vegvesen_fixture};
use serde_json::{Value, json};

use crate::helpers::client;

fn runner(vars: &[(&str, String)], dir: &std::path::Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_local-dev"));
    cmd.env_clear()
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "info")
        .current_dir(dir)
        .stdout(Stdio::null());
    cmd
}

async fn turn(base: &str, body: Value) -> Value {
    let resp = client()
        .post(format!("{base}/chat"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn three_runners_share_conversations(vars: &[(&str, String)], dir: &std::path::Path) {
    let fake = FakeVegvesen::start(
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
    let mut vars = vars.to_vec();
    vars.extend([
        ("VEGVESEN_API_KEY", "test-key".to_owned()),
        ("VEGVESEN_ENDPOINT", fake.endpoint()),
        // Two calls a day between all three, so the third new plate meets the shared quota.
        ("VEGVESEN_DAILY_QUOTA", "2".to_owned()),
        // Six chats a minute per client, across all three (each alone would allow six).
        ("CHAT_RATE_LIMIT_PER_MINUTE", "6".to_owned()),
        ("CHAT_RATE_LIMIT_BURST", "6".to_owned()),
    ]);
    let vars = vars.as_slice();
    // The shared rate limit counts in one-minute windows: start well inside one.
    let into_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if into_minute > 40 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - into_minute)).await;
    }
    let a = ChildServer::start(runner(vars, dir)).await;
    let b = ChildServer::start(runner(vars, dir)).await;
    let c = ChildServer::start(runner(vars, dir)).await;
    let first = turn(
        &a.url(""),
        json!({"message": "Hvor lenge varer batterigarantien?", "stream": false}),
    )
    .await;
    let id = first["conversation_id"].as_str().unwrap().to_owned();
    let second = turn(
        &b.url(""),
        json!({"message": "Og rekkevidden om vinteren?", "stream": false, "conversation_id": id}),
    )
    .await;
    assert_eq!(second["conversation_id"], id.as_str());
    let stored: Value = client()
        .get(c.url(&format!("/conversations/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let contents: Vec<&str> = stored["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents.len(), 4, "{stored}");
    assert_eq!(contents[1], first["reply"].as_str().unwrap());
    assert_eq!(contents[3], second["reply"].as_str().unwrap());
    let erased = client()
        .delete(c.url(&format!("/conversations/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 204);
    let gone = client()
        .get(a.url(&format!("/conversations/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404, "erased for every instance");

    // One plate cache: looked up through `a`, answered by `b` and `c` from the store.
    let plate = |server: &ChildServer, plate: &str| {
        let req = client().get(server.url(&format!("/plate-lookup/{plate}")));
        async move { req.send().await.unwrap() }
    };
    assert_eq!(plate(&a, "EC47213").await.status(), 200);
    assert_eq!(plate(&b, "EC47213").await.status(), 200);
    assert_eq!(plate(&c, "EC47213").await.status(), 200);
    assert_eq!(fake.calls(), 1, "one upstream call for three instances");
    // One quota: the second call (on `b`) is the last of the day, for `c` as well.
    assert_eq!(plate(&b, "AB12345").await.status(), 404);
    let refused = plate(&c, "AB12346").await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(fake.calls(), 2, "the quota held across instances");

    // One rate limit: two turns are spent above; four more fit, spread over the three, and
    // the next is refused on whichever instance gets it.
    for (i, server) in [&a, &b, &c, &a].into_iter().enumerate() {
        let resp = client()
            .post(server.url("/chat"))
            .header("content-type", "application/json")
            .body(json!({"message": "Hva er SoH?", "stream": false}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "turn {}", i + 3);
    }
    let over = client()
        .post(b.url("/chat"))
        .header("content-type", "application/json")
        .body(json!({"message": "Hva er SoH?", "stream": false}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        over.status(),
        429,
        "the seventh turn in the minute, on a third instance"
    );
    assert!(over.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn three_runners_on_one_sqlite_file_share_conversations() {
    let dir = std::env::temp_dir().join(format!("elbatt-shared-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("elbatt.db").to_string_lossy().into_owned();
    three_runners_share_conversations(&[("DATABASE_PATH", db)], &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn three_runners_on_one_postgresql_database_share_conversations() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        // Straight to stderr: libtest captures `eprintln!` of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED shared_store::three_runners_on_one_postgresql_database_share_conversations: \
             set TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run it"
        );
        return;
    };
    // A schema of its own (dropped after), reached through the URL's `options`.
    let schema = format!("elbatt_runner_{}", std::process::id());
    let admin = |sql: String| {
        let url = url.clone();
        async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client.batch_execute(&sql).await.unwrap();
        }
    };
    admin(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ))
    .await;
    let sep = if url.contains('?') { '&' } else { '?' };
    let db_url = format!("{url}{sep}options=-csearch_path%3D{schema}");
    let dir = std::env::temp_dir();
    three_runners_share_conversations(&[("DATABASE_URL", db_url)], &dir).await;
    admin(format!("DROP SCHEMA {schema} CASCADE")).await;
}
