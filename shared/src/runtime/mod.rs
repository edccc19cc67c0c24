//! How a function binary runs, chosen at start from its environment:
//!
//! 1. **Lambda runtime** when `AWS_LAMBDA_RUNTIME_API` is set ([`lambda`]);
//! 2. otherwise an **HTTP server** on `$HOST:$PORT` (default `0.0.0.0:8080`, what Scaleway
//!    Serverless Containers and Kubernetes expect) with graceful shutdown ([`server`]).
//!
//! Two more entry points live beside these, as seams: the Scaleway Functions zip calls
//! [`crate::http::dispatch`] from its `handle` (the packaging issue), and `plate-lookup` checks
//! for job mode (`PLATE`, arguments or stdin) in its `main` before calling [`run_function`].

pub mod adapter;
mod conn;
pub mod lambda;
pub mod router;
pub mod server;
pub mod upgrade;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use crate::config::{ConfigError, CorsConfig, Env, ServerConfig};
use crate::context::Context;
use crate::http::{Function, Handler};
use crate::telemetry;

pub use router::{BODY_LIMIT, Router};

/// Exit code for a configuration error (`EX_CONFIG` from sysexits.h).
pub const EXIT_CONFIG: u8 = 78;
/// Exit code when the server or runtime fails after starting.
pub const EXIT_RUNTIME: u8 = 70;

/// What the Lambda runtime reads at start besides `AWS_LAMBDA_RUNTIME_API`.
const LAMBDA_REQUIRED: [&str; 3] = [
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Which runtime this process uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Lambda,
    Http,
}

impl Mode {
    pub fn detect(env: &Env) -> Mode {
        if env.get("AWS_LAMBDA_RUNTIME_API").is_some() {
            Mode::Lambda
        } else {
            Mode::Http
        }
    }
}

/// The whole `main` of a function binary: logging, config, then the runtime its environment
/// asks for. `F` reads only what it needs, so a missing chat key never stops `health`.
pub fn run_function<F: Function>() -> ExitCode {
    run_function_with::<F>(Env::from_process())
}

/// [`run_function`] with an environment already read (a binary that looked at it first, such
/// as `plate-lookup` deciding on job mode, does not read it twice).
pub fn run_function_with<F: Function>(env: Env) -> ExitCode {
    let code = run::<F>(env);
    // Log lines leave through a writer thread: write what is queued before the process exits.
    telemetry::flush();
    code
}

fn run<F: Function>(env: Env) -> ExitCode {
    let ctx = Context::new(env);
    let env = ctx.env();
    telemetry::init(env);
    let setup = || -> Result<(Arc<dyn Handler>, CorsConfig, ServerConfig), ConfigError> {
        let function: Arc<dyn Handler> = Arc::new(F::from_context(&ctx)?);
        let cors = CorsConfig::from_env(env, false)?;
        let server = ServerConfig::from_env(env, IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080)?;
        Ok((function, cors, server))
    };
    let (function, cors, server) = match setup() {
        Ok(parts) => parts,
        Err(e) => {
            tracing::error!(variable = e.var, "{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match Mode::detect(env) {
        Mode::Lambda => {
            // lambda_runtime panics on these; name the missing one instead.
            for var in LAMBDA_REQUIRED {
                if env.get(var).is_none() {
                    tracing::error!(
                        variable = var,
                        "{var} must be set when AWS_LAMBDA_RUNTIME_API is"
                    );
                    return ExitCode::from(EXIT_CONFIG);
                }
            }
            // One invocation at a time: a single-threaded runtime starts faster and is enough.
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return runtime_failed(&e),
            };
            match rt.block_on(lambda::run(function, cors)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => runtime_failed(&*e),
            }
        }
        Mode::Http => {
            let name = function.name();
            let router =
                Arc::new(Router::single(function, cors).with_body_timeout(server.body_timeout));
            serve_blocking(router, &server, name)
        }
    }
}

/// Builds a multi-threaded runtime and serves `router` until SIGTERM/Ctrl-C.
pub fn serve_blocking(router: Arc<Router>, server: &ServerConfig, name: &str) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return runtime_failed(&e),
    };
    rt.block_on(async {
        let addr = SocketAddr::new(server.host, server.port);
        let listener = match server::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(%addr, error = %e, "cannot listen");
                return ExitCode::from(EXIT_RUNTIME);
            }
        };
        let local = listener.local_addr().map_or(addr, |a| a);
        tracing::info!(function = name, addr = %local, "listening");
        let options = server::ServeOptions {
            shutdown_grace: server.shutdown_grace,
            write_timeout: server.write_timeout,
            ..Default::default()
        };
        match server::serve(listener, router, server::shutdown_signal(), options).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => runtime_failed(&e),
        }
    })
}

fn runtime_failed(e: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!(error = %e, "runtime failed");
    ExitCode::from(EXIT_RUNTIME)
}
