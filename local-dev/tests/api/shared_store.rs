//! Three runner processes sharing one store (a SQLite file; PostgreSQL when `TEST_DATABASE_URL`
//! is set): a conversation started on one is continued on another and read and erased on the
//! third.

use std::io::Write;
use std::process::Stdio;

use elbatt::testing::ChildServer;
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
