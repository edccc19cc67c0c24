//! `measure`: the numbers in the bench table come from here, not from shell timing. Each
//! subcommand prints one line of `key=value` pairs on stdout (times in milliseconds, memory in
//! KiB) for `scripts/bench.sh` and `scripts/load.sh` to read; diagnostics go to stderr.
//!
//! - `coldstart`: exec a server binary with `PORT` set, poll-connect and send one request until
//!   the first answer; exec→listening and exec→first answer over N runs.
//! - `ttft`: streamed `POST`s at a fixed concurrency; time to the first text and to the end.
//! - `turns`: the same closed loop of chat turns, for the store's figures: time to `done`, turns
//!   per second, and how many turns the server stored (answered with a conversation id).
//! - `wrk`: runs `wrk --latency` R times and summarises throughput and latency.
//! - `rss`: a process's resident and peak resident memory from `/proc`.
//! - `free-port`, `wait`: plumbing for the scripts.
//!
//! Every target is on 127.0.0.1, and every loop is bounded by a count and a timeout.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bench::args::Args;
use bench::sse::{Format, Probe};
use bench::stats::Summary;
use futures_util::StreamExt;

const USAGE: &str = "\
Usage: measure <command> [flags]

  coldstart --bin PATH [--runs 20] [--warmup 1] [--path /health] [--method GET]
            [--expect 200] [--env K=V]... [--cwd DIR] [--timeout-secs 10]
      exec → first answer on 127.0.0.1:$PORT, each run on a fresh free port, then SIGKILL.
      Prints listen_ms_* and cold_ms_* (n, min, p10, p50, p90, p99, max, mean) and the raw
      samples as listen_ms_all / cold_ms_all (comma-separated).
  ttft --url URL --body JSON [--format elbatt|openai] [--concurrency 1] [--requests 100]
       [--header 'K: V']...
      Streamed POSTs (after one unrecorded warm-up request per connection). Prints ttft_ms_*
      (to the first text) and total_ms_* (to the end of the reply), errors.
  turns --url URL --body JSON [--concurrency 1] [--requests 100] [--all]
      The same closed loop of chat turns (same warm-ups; SSE, or one JSON reply for
      \"stream\":false), timed as a whole: prints total_ms_* (POST → the end of the reply),
      turns_per_s (recorded turns ÷ the time from the last warm-up to the last reply), stored
      (turns, warm-ups included, answered with an x-conversation-id header: each stored two
      messages before its reply ended), errors; with --all the raw samples as total_ms_all.
  wrk [--runs 3] [--log FILE] [--pid PID] -- WRK_ARGS...
      Runs `wrk --latency WRK_ARGS` R times; prints rps (median/min/max over runs), latency
      percentiles (median over runs), summed requests, socket errors and non-2xx/3xx answers.
      With --pid, also the server's CPU time per request (cpu_us_per_req_*), which a busy
      machine disturbs far less than throughput.
  rss --pid PID          VmRSS and VmHWM in KiB.
  stats [--prefix x] -- V...   n, min, p10, p50, p90, p99, max, mean of the values.
  free-port              a free TCP port on 127.0.0.1.
  wait --port P [--path /health] [--timeout-secs 10]
      Waits until 127.0.0.1:P answers HTTP at all.";

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let Some(command) = argv.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "coldstart" => parse(
            argv,
            &[
                "bin",
                "runs",
                "warmup",
                "path",
                "method",
                "expect",
                "env",
                "cwd",
                "timeout-secs",
            ],
        )
        .and_then(|a| coldstart(&a)),
        "ttft" => parse(
            argv,
            &["url", "body", "format", "concurrency", "requests", "header"],
        )
        .and_then(|a| ttft(&a)),
        "turns" => {
            parse(argv, &["url", "body", "concurrency", "requests", "all"]).and_then(|a| turns(&a))
        }
        "wrk" => parse(argv, &["runs", "log", "pid"]).and_then(|a| wrk(&a)),
        "rss" => parse(argv, &["pid"]).and_then(|a| rss(&a)),
        "stats" => parse(argv, &["prefix"]).and_then(|a| stats(&a)),
        "free-port" => free_port().map(|p| format!("{p}")),
        "wait" => parse(argv, &["port", "path", "timeout-secs"]).and_then(|a| wait(&a)),
        "help" | "--help" | "-h" => Ok(USAGE.to_owned()),
        other => Err(format!("unknown command {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(line) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("measure {command}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(argv: impl Iterator<Item = String>, known: &[&str]) -> Result<Args, String> {
    Args::parse(argv, known, &["all"])
}

/// A port nobody listens on right now (the kernel's choice, released at once).
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Connects to `port` and sends one request; the status code of the answer.
fn probe_once(port: u16, method: &str, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let addr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    stream.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))
}

struct Run {
    listen_ms: f64,
    first_answer_ms: f64,
    status: u16,
}

/// Kills the child however the run ends.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn coldstart(a: &Args) -> Result<String, String> {
    let bin = a.required("bin")?;
    let runs: usize = a.parse_or("runs", 20)?;
    let warmup: usize = a.parse_or("warmup", 1)?;
    let path = a.get("path").unwrap_or("/health");
    let method = a.get("method").unwrap_or("GET");
    let expect: u16 = a.parse_or("expect", 200)?;
    let timeout = Duration::from_secs(a.parse_or("timeout-secs", 10)?);
    let envs: Vec<(&str, &str)> = a
        .all("env")
        .into_iter()
        .map(|kv| kv.split_once('=').ok_or(format!("--env {kv:?}: use K=V")))
        .collect::<Result<_, _>>()?;
    if runs == 0 || runs > 10_000 {
        return Err("--runs must be between 1 and 10000".into());
    }

    let mut listen = Vec::with_capacity(runs);
    let mut first = Vec::with_capacity(runs);
    for i in 0..warmup + runs {
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        // A clean environment: only what the run sets, so a stray RUST_LOG or key in the
        // caller's shell cannot change what is measured.
        cmd.env_clear()
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(dir) = a.get("cwd") {
            cmd.current_dir(dir);
        }
        let run = one_cold_start(&mut cmd, port, method, path, timeout)
            .map_err(|e| format!("{bin} run {i}: {e}"))?;
        if run.status != expect {
            return Err(format!(
                "{bin} answered {method} {path} with {} (expected {expect})",
                run.status
            ));
        }
        if i >= warmup {
            listen.push(run.listen_ms);
            first.push(run.first_answer_ms);
        }
    }
    let (Some(l), Some(f)) = (Summary::of(&listen), Summary::of(&first)) else {
        return Err("no runs".into());
    };
    // The raw samples too, so a caller can interleave binaries over several calls (drift on a
    // shared machine then hits every binary alike) and summarise them together.
    let all = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.3}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    Ok(format!(
        "{} {} status={expect} listen_ms_all={} cold_ms_all={}",
        l.kv("listen_ms"),
        f.kv("cold_ms"),
        all(&listen),
        all(&first)
    ))
}

fn one_cold_start(
    cmd: &mut Command,
    port: u16,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<Run, String> {
    let addr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
    let t0 = Instant::now();
    let mut child = Reaper(cmd.spawn().map_err(|e| format!("cannot start: {e}"))?);
    let deadline = t0 + timeout;
    // Phase 1: until the port accepts. A refused connect costs a few microseconds; the short
    // sleep leaves the second core to the process being measured.
    let listen_ms = loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            return Err(format!("exited before listening ({status})"));
        }
        if Instant::now() > deadline {
            return Err(format!("not listening after {timeout:?}"));
        }
        match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => {
                drop(s);
                break t0.elapsed().as_secs_f64() * 1000.0;
            }
            Err(_) => std::thread::sleep(Duration::from_micros(50)),
        }
    };
    // Phase 2: the first answer (the probe connection above was only a knock).
    loop {
        match probe_once(port, method, path, timeout) {
            Ok(status) => {
                return Ok(Run {
                    listen_ms,
                    first_answer_ms: t0.elapsed().as_secs_f64() * 1000.0,
                    status,
                });
            }
            Err(e) if Instant::now() > deadline => return Err(format!("no answer: {e}")),
            Err(_) => std::thread::sleep(Duration::from_micros(50)),
        }
    }
}

/// Streamed chat requests in a closed loop: what `ttft` and `turns` share.
struct ClosedLoop {
    samples: Vec<Turn>,
    errors: Vec<String>,
    /// Warm-ups answered with a conversation id (they count as stored, not as samples).
    warmups_stored: usize,
    /// From the moment every connection is warm to the last reply.
    wall: Duration,
}

fn closed_loop(a: &Args, format: Format) -> Result<(ClosedLoop, usize), String> {
    let url = a.required("url")?.to_owned();
    if !url.starts_with("http://127.0.0.1:") && !url.starts_with("http://localhost:") {
        return Err("--url must be http://127.0.0.1:PORT/… (loopback only)".into());
    }
    let body = a.required("body")?.to_owned();
    let concurrency: usize = a.parse_or("concurrency", 1)?;
    let requests: usize = a.parse_or("requests", 100)?;
    if concurrency == 0 || concurrency > 1024 || requests == 0 || requests > 1_000_000 {
        return Err("--concurrency 1..=1024 and --requests 1..=1000000".into());
    }
    let mut headers = reqwest::header::HeaderMap::new();
    for h in a.all("header") {
        let (k, v) = h
            .split_once(':')
            .ok_or(format!("--header {h:?}: use 'K: V'"))?;
        headers.insert(
            reqwest::header::HeaderName::from_bytes(k.trim().as_bytes())
                .map_err(|e| format!("--header {h:?}: {e}"))?,
            reqwest::header::HeaderValue::from_str(v.trim())
                .map_err(|e| format!("--header {h:?}: {e}"))?,
        );
    }
    // reqwest is built without a default TLS provider (the workspace's choice); plain HTTP
    // still needs one installed to build a client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let run = rt.block_on(async {
        let remaining = Arc::new(AtomicUsize::new(requests));
        // Every connection warms up first; the clock for throughput starts when all have.
        let warm = Arc::new(tokio::sync::Barrier::new(concurrency));
        let started = Arc::new(std::sync::OnceLock::new());
        let mut tasks = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            let (client, url, body, remaining, warm, started) = (
                client.clone(),
                url.clone(),
                body.clone(),
                Arc::clone(&remaining),
                Arc::clone(&warm),
                Arc::clone(&started),
            );
            tasks.push(tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut errors = Vec::new();
                let mut warm_stored = 0;
                // Opens this task's connection; its time includes the TCP handshake.
                match one_stream(&client, &url, &body, format).await {
                    Ok(t) => warm_stored += usize::from(t.conversation),
                    Err(e) => errors.push(format!("warm-up: {e}")),
                }
                warm.wait().await;
                started.get_or_init(Instant::now);
                while remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    match one_stream(&client, &url, &body, format).await {
                        Ok(s) => samples.push(s),
                        Err(e) => errors.push(e),
                    }
                }
                (samples, errors, warm_stored)
            }));
        }
        let mut all = Vec::new();
        let mut errs = Vec::new();
        let mut warmups_stored = 0;
        for t in tasks {
            match t.await {
                Ok((s, e, w)) => {
                    all.extend(s);
                    errs.extend(e);
                    warmups_stored += w;
                }
                Err(e) => errs.push(format!("task: {e}")),
            }
        }
        let wall = started.get().map_or(Duration::ZERO, Instant::elapsed);
        ClosedLoop {
            samples: all,
            errors: errs,
            warmups_stored,
            wall,
        }
    });
    if let Some(first) = run.errors.first() {
        eprintln!(
            "measure: {} failed request(s); first: {first}",
            run.errors.len()
        );
    }
    Ok((run, concurrency))
}

fn ttft(a: &Args) -> Result<String, String> {
    let format =
        Format::parse(a.get("format").unwrap_or("elbatt")).ok_or("--format is elbatt or openai")?;
    let (run, concurrency) = closed_loop(a, format)?;
    let ttft: Vec<f64> = run.samples.iter().map(|s| s.ttft_ms).collect();
    let total: Vec<f64> = run.samples.iter().map(|s| s.total_ms).collect();
    let (Some(t), Some(w)) = (Summary::of(&ttft), Summary::of(&total)) else {
        return Err(format!(
            "no successful request ({} errors)",
            run.errors.len()
        ));
    };
    Ok(format!(
        "{} {} errors={} concurrency={concurrency}",
        t.kv("ttft_ms"),
        w.kv("total_ms"),
        run.errors.len()
    ))
}

fn turns(a: &Args) -> Result<String, String> {
    let (run, concurrency) = closed_loop(a, Format::Elbatt)?;
    let total: Vec<f64> = run.samples.iter().map(|s| s.total_ms).collect();
    let Some(w) = Summary::of(&total) else {
        return Err(format!("no successful turn ({} errors)", run.errors.len()));
    };
    let secs = run.wall.as_secs_f64();
    let per_s = if secs > 0.0 {
        run.samples.len() as f64 / secs
    } else {
        f64::NAN
    };
    let stored = run.samples.iter().filter(|s| s.conversation).count() + run.warmups_stored;
    let all = if a.has("all") {
        let v: Vec<String> = total.iter().map(|x| format!("{x:.3}")).collect();
        format!(" total_ms_all={}", v.join(","))
    } else {
        String::new()
    };
    Ok(format!(
        "{} turns={} turns_per_s={per_s:.1} wall_ms={:.1} stored={stored} errors={} \
         concurrency={concurrency}{all}",
        w.kv("total_ms"),
        run.samples.len(),
        secs * 1000.0,
        run.errors.len()
    ))
}

/// One streamed request, as the client saw it.
struct Turn {
    /// POST → the first text.
    ttft_ms: f64,
    /// POST → the end of the reply.
    total_ms: f64,
    /// The answer carried an `x-conversation-id` header (a turn the store keeps).
    conversation: bool,
}

/// One streamed request.
async fn one_stream(
    client: &reqwest::Client,
    url: &str,
    body: &str,
    format: Format,
) -> Result<Turn, String> {
    let t0 = Instant::now();
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(format!("status {}", resp.status()));
    }
    let conversation = resp.headers().contains_key("x-conversation-id");
    let json = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        // `"stream": false`: one JSON reply, whole when it has arrived.
        let body = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        let reply: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
        return match reply.get("reply").and_then(serde_json::Value::as_str) {
            Some(text) if !text.is_empty() => Ok(Turn {
                ttft_ms: ms,
                total_ms: ms,
                conversation,
            }),
            _ => Err("no reply text in the JSON answer".into()),
        };
    }
    let mut probe = Probe::new(format);
    let mut first = None;
    let mut done = None;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("body: {e}"))?;
        probe.feed(&chunk);
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        if probe.first_text && first.is_none() {
            first = Some(ms);
        }
        if probe.done && done.is_none() {
            done = Some(ms);
        }
    }
    if probe.error {
        return Err("the stream carried an error event".into());
    }
    match (first, done) {
        (Some(f), Some(d)) => Ok(Turn {
            ttft_ms: f,
            total_ms: d,
            conversation,
        }),
        (None, _) => Err("no text in the reply".into()),
        (_, None) => Err("the reply never finished".into()),
    }
}

fn wrk(a: &Args) -> Result<String, String> {
    let runs: usize = a.parse_or("runs", 3)?;
    if runs == 0 || runs > 50 {
        return Err("--runs must be between 1 and 50".into());
    }
    if a.rest.is_empty() {
        return Err("give wrk's arguments after --".into());
    }
    if !a
        .rest
        .iter()
        .any(|s| s.starts_with("http://127.0.0.1:") || s.starts_with("http://localhost:"))
    {
        return Err("the wrk target must be http://127.0.0.1:PORT/… (loopback only)".into());
    }
    let pid: Option<u32> = match a.get("pid") {
        None => None,
        Some(p) => Some(p.parse().map_err(|_| "--pid: a number")?),
    };
    let mut reports = Vec::with_capacity(runs);
    let mut cpu_per_req = Vec::with_capacity(runs);
    for _ in 0..runs {
        let cpu_before = pid.map(cpu_ms).transpose()?;
        let out = Command::new("wrk")
            .arg("--latency")
            .args(&a.rest)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run wrk ({e}); install it: apt-get install -y wrk"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(log) = a.get("log") {
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .and_then(|mut f| {
                    writeln!(f, "$ wrk --latency {}\n{text}", a.rest.join(" "))?;
                    f.write_all(&out.stderr)
                });
        }
        if !out.status.success() {
            return Err(format!(
                "wrk failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let report = bench::wrk::parse(&text)?;
        if let (Some(pid), Some(before)) = (pid, cpu_before) {
            let used_ms = cpu_ms(pid)? - before;
            if report.requests > 0 {
                cpu_per_req.push(used_ms * 1000.0 / report.requests as f64);
            }
        }
        reports.push(report);
    }
    let cpu = Summary::of(&cpu_per_req).map_or(String::new(), |c| {
        format!(
            " cpu_us_per_req_p50={:.2} cpu_us_per_req_min={:.2} cpu_us_per_req_max={:.2}",
            c.p50, c.min, c.max
        )
    });
    let col = |f: fn(&bench::wrk::WrkReport) -> f64| -> Result<Summary, String> {
        Summary::of(&reports.iter().map(f).collect::<Vec<_>>()).ok_or("no wrk runs".into())
    };
    let rps = col(|r| r.requests_per_sec)?;
    let p50 = col(|r| r.p50_ms)?;
    let p90 = col(|r| r.p90_ms)?;
    let p99 = col(|r| r.p99_ms)?;
    let max = col(|r| r.max_ms)?;
    Ok(format!(
        "runs={runs} rps_p50={:.0} rps_min={:.0} rps_max={:.0} lat_p50_ms={:.3} \
         lat_p90_ms={:.3} lat_p99_ms={:.3} lat_p99_ms_min={:.3} lat_p99_ms_max={:.3} \
         lat_max_ms={:.3} requests={} socket_errors={} non2xx={} incomplete={}{cpu}",
        rps.p50,
        rps.min,
        rps.max,
        p50.p50,
        p90.p50,
        p99.p50,
        p99.min,
        p99.max,
        max.max,
        reports.iter().map(|r| r.requests).sum::<u64>(),
        reports
            .iter()
            .map(bench::wrk::WrkReport::socket_errors)
            .sum::<u64>(),
        reports.iter().map(|r| r.non_2xx_3xx).sum::<u64>(),
        reports
            .iter()
            .filter_map(|r| r.stream_incomplete)
            .sum::<u64>(),
    ))
}

/// CPU time (user + system, all threads) a process has used, in milliseconds, from
/// `/proc/PID/stat`. Linux reports it in clock ticks of 1/100 s on every architecture we run on
/// (`USER_HZ`), so the resolution is 10 ms: enough over a load run of seconds.
fn cpu_ms(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("process {pid}: {e}"))?;
    // The command name (field 2) may hold spaces and parentheses; fields after the last `)`
    // start at field 3 (state), so utime (14) and stime (15) are the 12th and 13th.
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or("unreadable /proc/PID/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64, String> {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| v as f64)
            .ok_or_else(|| format!("no field {} in /proc/{pid}/stat", i + 3))
    };
    Ok((ticks(11)? + ticks(12)?) * 10.0)
}

fn rss(a: &Args) -> Result<String, String> {
    let pid: u32 = a.required("pid")?.parse().map_err(|_| "--pid: a number")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("process {pid}: {e}"))?;
    let field = |name: &str| -> Result<u64, String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or(format!("no {name} in /proc/{pid}/status"))
    };
    Ok(format!(
        "rss_kib={} hwm_kib={}",
        field("VmRSS:")?,
        field("VmHWM:")?
    ))
}

fn stats(a: &Args) -> Result<String, String> {
    let values: Vec<f64> = a
        .rest
        .iter()
        .map(|v| v.parse().map_err(|_| format!("not a number: {v:?}")))
        .collect::<Result<_, _>>()?;
    Summary::of(&values)
        .map(|s| s.kv(a.get("prefix").unwrap_or("x")))
        .ok_or_else(|| "no values after --".to_owned())
}

fn wait(a: &Args) -> Result<String, String> {
    let port: u16 = a
        .required("port")?
        .parse()
        .map_err(|_| "--port: a number")?;
    let path = a.get("path").unwrap_or("/health");
    let timeout = Duration::from_secs(a.parse_or("timeout-secs", 10)?);
    let deadline = Instant::now() + timeout;
    loop {
        match probe_once(port, "GET", path, Duration::from_secs(2)) {
            Ok(status) => return Ok(format!("status={status}")),
            Err(e) if Instant::now() > deadline => {
                return Err(format!(
                    "127.0.0.1:{port} not answering after {timeout:?}: {e}"
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
