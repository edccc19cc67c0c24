//! Reads the report `wrk --latency` prints: throughput, the latency distribution, and the two
//! kinds of failure it counts (socket errors and non-2xx/3xx answers).

/// One wrk run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WrkReport {
    pub requests: u64,
    pub duration_secs: f64,
    pub requests_per_sec: f64,
    /// Latency percentiles in milliseconds.
    pub p50_ms: f64,
    pub p75_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub connect_errors: u64,
    pub read_errors: u64,
    pub write_errors: u64,
    pub timeouts: u64,
    /// wrk counts statuses of 400 and above here.
    pub non_2xx_3xx: u64,
    /// From `scripts/chat.lua`: replies that did not end with the `done` event.
    pub stream_incomplete: Option<u64>,
}

impl WrkReport {
    pub fn socket_errors(&self) -> u64 {
        self.connect_errors + self.read_errors + self.write_errors + self.timeouts
    }
}

/// Parses wrk's text report.
///
/// # Errors
/// The report lacks the `Requests/sec` line or the latency distribution (wrk failed, or ran
/// without `--latency`).
pub fn parse(report: &str) -> Result<WrkReport, String> {
    let mut out = WrkReport::default();
    let mut have_rps = false;
    let mut have_p50 = false;
    let mut in_distribution = false;
    for line in report.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Requests/sec:") {
            out.requests_per_sec = number(rest.trim())?;
            have_rps = true;
        } else if t.starts_with("Latency Distribution") {
            in_distribution = true;
        } else if in_distribution && t.contains('%') {
            let mut parts = t.split_whitespace();
            let (Some(pct), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            let ms = duration_ms(value)?;
            match pct {
                "50%" => {
                    out.p50_ms = ms;
                    have_p50 = true;
                }
                "75%" => out.p75_ms = ms,
                "90%" => out.p90_ms = ms,
                "99%" => out.p99_ms = ms,
                _ => {}
            }
        } else if t.starts_with("Latency") && !in_distribution {
            // "Latency   1.00ms  200.00us   9.00ms   90.00%": avg, stdev, max, +/- stdev.
            if let Some(max) = t.split_whitespace().nth(3) {
                out.max_ms = duration_ms(max)?;
            }
        } else if let Some((count, rest)) = t.split_once(" requests in ") {
            in_distribution = false;
            out.requests = count.trim().parse().map_err(|_| bad("requests", t))?;
            let secs = rest.split(',').next().unwrap_or_default().trim();
            out.duration_secs = duration_ms(secs)? / 1000.0;
        } else if let Some(rest) = t.strip_prefix("Socket errors:") {
            for item in rest.split(',') {
                let mut kv = item.split_whitespace();
                let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
                    continue;
                };
                let v: u64 = v.parse().map_err(|_| bad("socket errors", t))?;
                match k {
                    "connect" => out.connect_errors = v,
                    "read" => out.read_errors = v,
                    "write" => out.write_errors = v,
                    "timeout" => out.timeouts = v,
                    _ => {}
                }
            }
        } else if let Some(rest) = t.strip_prefix("Non-2xx or 3xx responses:") {
            out.non_2xx_3xx = rest.trim().parse().map_err(|_| bad("non-2xx", t))?;
        } else if let Some(rest) = t.strip_prefix("Stream results:") {
            let incomplete = rest
                .split(',')
                .find_map(|item| item.trim().strip_prefix("incomplete "))
                .ok_or_else(|| bad("stream results", t))?;
            out.stream_incomplete = Some(
                incomplete
                    .trim()
                    .parse()
                    .map_err(|_| bad("stream results", t))?,
            );
        }
    }
    if !have_rps || !have_p50 {
        return Err("not a wrk --latency report (no Requests/sec or latency distribution)".into());
    }
    Ok(out)
}

fn bad(what: &str, line: &str) -> String {
    format!("cannot read {what} from wrk line {line:?}")
}

fn number(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .map_err(|_| format!("not a number: {s:?}"))
        .and_then(|v| {
            if v.is_finite() {
                Ok(v)
            } else {
                Err(format!("not a finite number: {s:?}"))
            }
        })
}

/// wrk's durations: `523.12us`, `1.50ms`, `2.01s`, `1.00m`, `1.00h`.
pub fn duration_ms(s: &str) -> Result<f64, String> {
    let split = s
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("duration without a unit: {s:?}"))?;
    let (value, unit) = s.split_at(split);
    let value = number(value)?;
    let factor = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return Err(format!("unknown duration unit in {s:?}")),
    };
    Ok(value * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "\
Running 10s test @ http://127.0.0.1:8080/health
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   523.12us  300.00us  10.50ms   90.00%
    Req/Sec    60.00k     3.00k   70.00k    70.00%
  Latency Distribution
     50%  400.00us
     75%  500.00us
     90%  700.00us
     99%    1.50ms
  1200000 requests in 10.00s, 150.00MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 5
Requests/sec: 119990.50
Transfer/sec:     15.00MB
";

    #[test]
    fn a_full_report_is_read_into_milliseconds_and_counts() {
        let r = parse(REPORT).unwrap();
        assert_eq!(r.requests, 1_200_000);
        assert_eq!(r.duration_secs, 10.0);
        assert_eq!(r.requests_per_sec, 119_990.5);
        assert!((r.p50_ms - 0.4).abs() < 1e-9);
        assert!((r.p90_ms - 0.7).abs() < 1e-9);
        assert_eq!(r.p99_ms, 1.5);
        assert_eq!(r.max_ms, 10.5);
        assert_eq!(r.socket_errors(), 10);
        assert_eq!(r.non_2xx_3xx, 5);
    }

    #[test]
    fn a_clean_run_has_no_error_lines_and_zero_errors() {
        let clean: String = REPORT
            .lines()
            .filter(|l| !l.contains("errors") && !l.contains("Non-2xx"))
            .map(|l| format!("{l}\n"))
            .collect();
        let r = parse(&clean).unwrap();
        assert_eq!((r.socket_errors(), r.non_2xx_3xx), (0, 0));
    }

    #[test]
    fn output_without_the_latency_distribution_is_refused() {
        let plain: String = REPORT
            .lines()
            .filter(|l| !l.contains('%') || l.contains("Stdev"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(parse(&plain).is_err());
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
    }

    #[test]
    fn the_chat_scripts_stream_count_is_read_when_present() {
        assert_eq!(parse(REPORT).unwrap().stream_incomplete, None);
        let with = format!("{REPORT}Stream results: complete 10, incomplete 2\n");
        assert_eq!(parse(&with).unwrap().stream_incomplete, Some(2));
        let broken = format!("{REPORT}Stream results: complete 10\n");
        assert!(parse(&broken).is_err());
    }

    #[test]
    fn durations_in_every_unit_wrk_prints() {
        assert_eq!(duration_ms("250.00us").unwrap(), 0.25);
        assert_eq!(duration_ms("2.00s").unwrap(), 2000.0);
        assert_eq!(duration_ms("1.00m").unwrap(), 60_000.0);
        assert!(duration_ms("12").is_err());
        assert!(duration_ms("1.0parsec").is_err());
        assert!(duration_ms("NaNms").is_err());
    }
}
