//! The `local-dev` binary itself: flags, the start-up report, and serving on the port it prints.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// Starts the runner on a free port with only `vars` in its environment, in an empty working
/// directory unless `dir` is given; returns the child and its base URL once it listens.
pub(crate) async fn start_runner(
    vars: &[(&str, &str)],
    dir: &std::path::Path,
) -> (tokio::process::Child, String, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_local-dev"))
        .args(["--port", "0"])
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut report = String::new();
    let mut lines = BufReader::new(stdout).lines();
    let read_report = async {
        while let Ok(Some(line)) = lines.next_line().await {
            report.push_str(&line);
            report.push('\n');
            if line.starts_with("  PLATE_CACHE_CAPACITY") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_report)
        .await
        .expect("report printed");
    let mut err_lines = BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = err_lines.next_line().await {
            if let Some(i) = line.find("addr=") {
                return line[i + 5..].split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("runner never logged its address")
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = err_lines.next_line().await {} });
    (child, format!("http://{addr}"), report)
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("elbatt-runner-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_runner_prints_routes_and_where_each_variable_came_from() {
    let dir = scratch_dir("report");
    std::fs::write(
        dir.join(".env"),
        "VEGVESEN_API_KEY=from-dotenv-secret\nLOG_FORMAT=text\nVEGVESEN_TIMEOUT_SECS=3\n",
    )
    .unwrap();
    let (mut child, base, report) = start_runner(
        &[("VEGVESEN_TIMEOUT_SECS", "5"), ("RUST_LOG", "info")],
        &dir,
    )
    .await;
    for route in ["/health", "/api/health", "/chat", "/plate-lookup"] {
        assert!(report.contains(route), "route {route} missing:\n{report}");
    }
    let line = |name: &str| {
        report
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_default()
            .to_owned()
    };
    // The environment wins over .env; .env fills gaps; secrets show only as set.
    assert!(
        line("VEGVESEN_TIMEOUT_SECS ").contains("5")
            && line("VEGVESEN_TIMEOUT_SECS ").ends_with("environment"),
        "{report}"
    );
    assert!(line("LOG_FORMAT").ends_with(".env"), "{report}");
    assert!(
        line("VEGVESEN_API_KEY").contains("set") && line("VEGVESEN_API_KEY").ends_with(".env"),
        "{report}"
    );
    assert!(line("ALLOWED_ORIGINS").ends_with("default"), "{report}");
    assert!(line("plate-lookup").contains("ready"), "{report}");
    assert!(
        !report.contains("from-dotenv-secret"),
        "a secret was printed:\n{report}"
    );

    let body = crate::helpers::client()
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, r#"{"status":"healthy"}"#);
    child.kill().await.ok();
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_runner_refuses_unknown_flags_and_malformed_config_naming_them() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_local-dev"))
        .arg("--prot")
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--prot"));
    let dir = scratch_dir("badcfg");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_local-dev"))
        .env_clear()
        .env("PORT", "eighty")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PORT"));
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn sigterm_stops_the_runner_cleanly() {
    let dir = scratch_dir("term");
    let (mut child, base, report) = start_runner(&[], &dir).await;
    // No key: the report says plate lookup is unconfigured and what to set.
    let plate = report
        .lines()
        .find(|l| l.trim_start().starts_with("plate-lookup "))
        .unwrap_or_default();
    assert!(
        plate.contains("unconfigured") && plate.contains("VEGVESEN_API_KEY"),
        "{report}"
    );
    assert!(
        crate::helpers::client()
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let pid = child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    std::fs::remove_dir_all(dir).ok();
}
