//! Job mode, for Scaleway Jobs and shell use: the same binary looks plates up and prints one
//! JSON object per plate on stdout (logs stay on stderr).
//!
//! Chosen at start, before any server mode, when there is no Lambda runtime and either:
//! - arguments are given: `plate-lookup EH91427 EC47213` (`-` reads plates from stdin, one per
//!   line), or
//! - `PLATE` (one plate) or `PLATES` (several, separated by newlines, commas or spaces between
//!   plates are not allowed, so commas or newlines) is set and `PORT` is not — what
//!   `scw jobs definition start … environment-variables.PLATE=EH91427` does.
//!
//! Exit codes (documented in docs/api.md#job-mode): 0 every plate found; 2 an invalid plate;
//! 3 a plate
//! not found; 4 an upstream failure; 78 not configured (`VEGVESEN_API_KEY` unset). With several
//! plates the job goes on past failures and exits with the most serious code seen
//! (78 > 4 > 3 > 2).

use std::io::{BufRead, Write};
use std::process::ExitCode;

use elbatt::config::Env;
use elbatt::context::Context;
use elbatt::http::Function;
use elbatt::http::HttpError;
use elbatt::plate::Plate;
use elbatt::vehicle::client::LookupError;
use serde_json::json;

use crate::{PlateLookup, PlateLookupError, SOURCE};

pub const EXIT_OK: u8 = 0;
pub const EXIT_INVALID_PLATE: u8 = 2;
pub const EXIT_NOT_FOUND: u8 = 3;
pub const EXIT_UPSTREAM: u8 = 4;
pub const EXIT_NOT_CONFIGURED: u8 = elbatt::runtime::EXIT_CONFIG;

/// Where the plates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobInput {
    /// Plates given directly (arguments or `PLATE`/`PLATES`).
    Plates(Vec<String>),
    /// One plate per line on stdin.
    Stdin,
}

/// Whether this process is a job, and its input. `None` means: run as a server.
pub fn detect(env: &Env, args: &[String]) -> Option<JobInput> {
    if env.get("AWS_LAMBDA_RUNTIME_API").is_some() {
        return None;
    }
    if args.iter().any(|a| a == "-") {
        return Some(JobInput::Stdin);
    }
    if !args.is_empty() {
        return Some(JobInput::Plates(args.to_vec()));
    }
    if env.get("PORT").is_some() {
        return None;
    }
    if let Some(plate) = env.get("PLATE") {
        return Some(JobInput::Plates(vec![plate.to_owned()]));
    }
    env.get("PLATES").map(|list| {
        JobInput::Plates(
            list.split([',', '\n', ';'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    })
}

/// The exit code for one outcome.
fn exit_code(err: &PlateLookupError) -> u8 {
    match err {
        PlateLookupError::MissingPlate | PlateLookupError::InvalidPlate(_) => EXIT_INVALID_PLATE,
        PlateLookupError::NotFound => EXIT_NOT_FOUND,
        PlateLookupError::Lookup(LookupError::NotConfigured) => EXIT_NOT_CONFIGURED,
        // A job calls `lookup` directly and meets no rate limit; were it to, it is the same
        // "try again later" as an upstream refusal.
        PlateLookupError::Lookup(_) | PlateLookupError::RateLimited { .. } => EXIT_UPSTREAM,
    }
}

fn severity(code: u8) -> u8 {
    match code {
        EXIT_NOT_CONFIGURED => 4,
        EXIT_UPSTREAM => 3,
        EXIT_NOT_FOUND => 2,
        EXIT_INVALID_PLATE => 1,
        _ => 0,
    }
}

/// Looks each input up and writes one JSON line per input to `out`; returns the exit code.
pub async fn run(
    lookup: &PlateLookup,
    inputs: impl IntoIterator<Item = String>,
    out: &mut impl Write,
) -> u8 {
    let mut worst = EXIT_OK;
    for input in inputs {
        let input = input.trim();
        if input.is_empty() {
            continue;
        }
        let outcome = match Plate::parse(input) {
            Err(e) => Err(PlateLookupError::InvalidPlate(e)),
            Ok(plate) => lookup.lookup(&plate).await.map(|v| (plate, v)),
        };
        let line = match outcome {
            Ok((plate, vehicle)) => {
                json!({ "plate": plate.as_str(), "ok": true, "vehicle": &*vehicle, "source": SOURCE })
            }
            Err(e) => {
                let code = exit_code(&e);
                if severity(code) > severity(worst) {
                    worst = code;
                }
                tracing::warn!(code = e.code(), "lookup failed");
                json!({ "input": input, "ok": false, "error": { "code": e.code(), "message": e.public_message() } })
            }
        };
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            // stdout closed (e.g. piped into `head`): nothing more can be reported.
            return worst.max(EXIT_UPSTREAM);
        }
        if worst == EXIT_NOT_CONFIGURED {
            break; // every further lookup would fail the same way
        }
    }
    worst
}

/// The whole job: logging, config, lookups, exit code.
pub fn main(env: Env, input: JobInput) -> ExitCode {
    let code = run_job(env, input);
    // Log lines leave through a writer thread: write what is queued before the process exits.
    elbatt::telemetry::flush();
    code
}

fn run_job(env: Env, input: JobInput) -> ExitCode {
    elbatt::telemetry::init(&env);
    let lookup = match PlateLookup::from_context(&Context::new(env)) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(variable = e.var, "{e}");
            return ExitCode::from(elbatt::runtime::EXIT_CONFIG);
        }
    };
    if lookup.service().is_none() {
        tracing::error!("VEGVESEN_API_KEY is not set: plate lookup is not configured");
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "runtime failed");
            return ExitCode::from(elbatt::runtime::EXIT_RUNTIME);
        }
    };
    let inputs: Box<dyn Iterator<Item = String>> = match input {
        JobInput::Plates(p) => Box::new(p.into_iter()),
        JobInput::Stdin => Box::new(std::io::stdin().lock().lines().map_while(Result::ok)),
    };
    let mut stdout = std::io::stdout().lock();
    ExitCode::from(rt.block_on(run(&lookup, inputs, &mut stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn job_mode_is_chosen_from_arguments_or_plate_variables_without_a_port() {
        let env = Env::default();
        assert_eq!(detect(&env, &[]), None);
        assert_eq!(
            detect(&env, &args(&["EH91427"])),
            Some(JobInput::Plates(args(&["EH91427"])))
        );
        assert_eq!(detect(&env, &args(&["-"])), Some(JobInput::Stdin));
        let env = Env::from_pairs([("PLATE", "EH91427")]);
        assert_eq!(
            detect(&env, &[]),
            Some(JobInput::Plates(args(&["EH91427"])))
        );
        let env = Env::from_pairs([("PLATES", "EH91427, EC47213\nDN61834")]);
        assert_eq!(
            detect(&env, &[]),
            Some(JobInput::Plates(args(&["EH91427", "EC47213", "DN61834"])))
        );
        let env = Env::from_pairs([("PLATE", "EH91427"), ("PORT", "8080")]);
        assert_eq!(detect(&env, &[]), None);
        let env = Env::from_pairs([("PLATE", "EH91427"), ("AWS_LAMBDA_RUNTIME_API", "x")]);
        assert_eq!(detect(&env, &[]), None);
    }

    #[tokio::test]
    async fn an_unconfigured_job_reports_and_exits_78() {
        let lookup = PlateLookup::from_context(&Context::default()).unwrap();
        let mut out = Vec::new();
        let code = run(&lookup, args(&["EH91427", "EC47213"]), &mut out).await;
        assert_eq!(code, EXIT_NOT_CONFIGURED);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "stops after the first: {text}");
        assert!(text.contains("not_configured"));
    }

    #[tokio::test]
    async fn invalid_plates_are_reported_per_line_and_exit_2() {
        let lookup = PlateLookup::from_context(&Context::default()).unwrap();
        let mut out = Vec::new();
        let code = run(&lookup, args(&["!!", "", "A"]), &mut out).await;
        assert_eq!(code, EXIT_INVALID_PLATE);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["ok"], false);
            assert!(v["error"]["code"].as_str().unwrap().starts_with("plate_"));
        }
    }
}
