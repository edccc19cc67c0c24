//! A turn acknowledged to the client survives `kill -9`: the real runner binary on a SQLite
//! file takes concurrent chat turns, is killed with SIGKILL while they are in flight, restarts
//! on the same file, and must return every acknowledged turn of every conversation.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use elbatt::testing::ChildServer;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::helpers::client;

/// Workers sending turns at once, and how many acknowledged turns before the kill.
const WORKERS: usize = 8;
const KILL_AFTER: usize = 48;

fn runner(db: &std::path::Path, dir: &std::path::Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_local-dev"));
    cmd.env_clear()
        .env("DATABASE_PATH", db)
        .env("CHAT_RATE_LIMIT_PER_MINUTE", "1000000")
        .env("CHAT_RATE_LIMIT_BURST", "1000000")
        .env("RUST_LOG", "info")
        .current_dir(dir)
        .stdout(Stdio::null());
    cmd
}

type Acked = Arc<Mutex<HashMap<String, Vec<(String, String)>>>>;

/// One client: a conversation, turn after turn, recording each acknowledged turn, until the
/// server is gone.
async fn worker(
    base: String,
    n: usize,
    acked: Acked,
    count: Arc<AtomicUsize>,
    enough: Arc<Notify>,
) {
    let http = client();
    let mut id: Option<String> = None;
    for turn in 0.. {
        let question = format!("Spørsmål {n}-{turn}: hvor lenge varer batterigarantien?");
        let mut body = json!({"message": question, "stream": false});
        if let Some(id) = &id {
            body["conversation_id"] = json!(id);
        }
        let sent = http
            .post(format!("{base}/chat"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        let Ok(resp) = sent else { return };
        if resp.status() != 200 {
            return;
        }
        let Ok(reply) = resp.json::<Value>().await else {
            return;
        };
        let cid = reply["conversation_id"]
            .as_str()
            .expect("stored turns carry their id")
            .to_owned();
        let answer = reply["reply"].as_str().unwrap().to_owned();
        acked
            .lock()
            .unwrap()
            .entry(cid.clone())
            .or_default()
            .push((question, answer));
        id = Some(cid);
        if count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
            enough.notify_one();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_turn_survives_kill_9_under_concurrent_writes() {
    let dir = std::env::temp_dir().join(format!("elbatt-kill9-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("store").join("elbatt.db");

    let mut server = ChildServer::start(runner(&db, &dir)).await;
    let base = format!("http://{}", server.addr);
    let acked: Acked = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let workers: Vec<_> = (0..WORKERS)
        .map(|n| {
            tokio::spawn(worker(
                base.clone(),
                n,
                Arc::clone(&acked),
                Arc::clone(&count),
                Arc::clone(&enough),
            ))
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(60), enough.notified())
        .await
        .expect("enough turns acknowledged");
    // Turns are still in flight: SIGKILL, no chance to flush or shut down.
    server.child.start_kill().unwrap();
    let status = server.child.wait().await.unwrap();
    assert!(!status.success(), "killed, not exited: {status}");
    for w in workers {
        tokio::time::timeout(Duration::from_secs(30), w)
            .await
            .expect("workers stop once the server is gone")
            .unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let total: usize = acked.values().map(Vec::len).sum();
    assert!(total >= KILL_AFTER, "{total} acknowledged");
    assert!(
        acked.len() >= WORKERS,
        "every worker started a conversation"
    );

    let server = ChildServer::start(runner(&db, &dir)).await;
    let http = client();
    for (id, turns) in &acked {
        let resp = http
            .get(server.url(&format!("/conversations/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "conversation {id} lost");
        let stored: Value = resp.json().await.unwrap();
        let messages = stored["messages"].as_array().unwrap();
        // A turn stored just before the kill may be unacknowledged: more is fine, less is not.
        assert!(
            messages.len() >= 2 * turns.len(),
            "{id}: {} stored, {} acked",
            messages.len(),
            turns.len()
        );
        for (k, (question, answer)) in turns.iter().enumerate() {
            assert_eq!(messages[2 * k]["role"], "user");
            assert_eq!(
                messages[2 * k]["content"],
                question.as_str(),
                "{id} turn {k}"
            );
            assert_eq!(messages[2 * k + 1]["role"], "assistant");
            assert_eq!(
                messages[2 * k + 1]["content"],
                answer.as_str(),
                "{id} turn {k}"
            );
        }
    }
    let (_, log) = server.terminate().await;
    assert!(log.contains("store:"), "the mode is logged at start: {log}");
    let _ = std::fs::remove_dir_all(&dir);
}
