//! The local runner: every Elbatt function on one port, each called exactly as its platform
//! would call it (same router and request adapter as the `elbatt-api` container).
//!
//! `cargo run -p local-dev` → `http://127.0.0.1:8000`: `/health`, `/api/health`, `/chat`,
//! `/plate-lookup[/…]`. The route table lives in [`mounts`] and nowhere else.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use elbatt::config::{ConfigError, CorsConfig, Env, ServerConfig, VARIABLES};
use elbatt::http::Function;
use elbatt::runtime::Router;
use elbatt::vehicle::service::VehicleService;

/// The port the deployed `elbatt-api` container serves on (docs/deployment.md#architecture).
pub const DEFAULT_PORT: u16 = 8000;

/// A path prefix and the function mounted there.
pub type MountList = Vec<(&'static str, Arc<dyn Function>)>;

/// Where each function is mounted. The single source of the route table.
pub fn mounts(env: &Env) -> Result<MountList, ConfigError> {
    let health: Arc<dyn Function> = Arc::new(health::Health);
    // One vehicle service for both functions: one cache, as in the all-in-one container.
    let vehicles = VehicleService::from_env(env)?;
    let plate: Arc<dyn Function> = Arc::new(plate_lookup::PlateLookup::new(vehicles.clone()));
    let chat: Arc<dyn Function> = Arc::new(chat::Chat::new(
        chat::config::ChatConfig::from_env(env)?,
        vehicles,
    ));
    Ok(vec![
        ("/health", Arc::clone(&health)),
        ("/api/health", health),
        ("/plate-lookup", plate),
        ("/chat", chat),
    ])
}

/// Mounts that the function must see whole (it tells `/api/health` from `/health` by path).
const UNSTRIPPED: &[&str] = &["/api/health"];

/// The runner's router as used on a developer machine: the functions from [`mounts`], CORS
/// from `ALLOWED_ORIGINS` plus any `http://localhost:*` origin.
///
/// # Errors
/// A variable a function needs is malformed.
pub fn router(env: &Env) -> Result<Router, ConfigError> {
    router_for_host(env, IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The router for a runner bound to `host`. `http://localhost:*` origins are allowed only when
/// it listens on loopback: the same binary serves the `elbatt-api` container on `0.0.0.0`,
/// where a page on a visitor's own machine must not get CORS access.
///
/// # Errors
/// A variable a function needs is malformed.
pub fn router_for_host(env: &Env, host: IpAddr) -> Result<Router, ConfigError> {
    let cors = CorsConfig::from_env(env, host.is_loopback())?;
    Ok(mounts(env)?
        .into_iter()
        .fold(Router::new(cors), |r, (prefix, f)| {
            if UNSTRIPPED.contains(&prefix) {
                r.mount_unstripped(prefix, f)
            } else {
                r.mount(prefix, f)
            }
        }))
}

/// Command-line options (a handful of flags: hand-parsed, clap would double the build time).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Args {
    pub port: Option<u16>,
    pub host: Option<IpAddr>,
    pub help: bool,
}

pub const USAGE: &str = "\
Usage: local-dev [--port PORT] [--host ADDR]

Serves every Elbatt function on one port (default 127.0.0.1:8000).
  --port PORT   port to listen on (also: PORT)
  --host ADDR   address to bind, e.g. 0.0.0.0 to widen (also: HOST)
A .env file in the working directory is read; the real environment wins over it.";

impl Args {
    /// # Errors
    /// An unknown flag or a malformed value, as a message for the user.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut out = Args::default();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let mut value = |name: &str| {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or(format!("{name} needs a value"))
            };
            match flag.as_str() {
                "--port" | "-p" => {
                    out.port = Some(
                        value("--port")?
                            .parse()
                            .map_err(|_| "--port must be a port number".to_owned())?,
                    );
                }
                "--host" => {
                    out.host = Some(
                        value("--host")?
                            .parse()
                            .map_err(|_| "--host must be an IP address".to_owned())?,
                    );
                }
                "--help" | "-h" => out.help = true,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(out)
    }
}

/// The runner's environment: the process environment plus `.env` in the working directory.
///
/// # Errors
/// `.env` exists but cannot be parsed.
pub fn load_env(dotenv: &Path) -> Result<Env, ConfigError> {
    Env::from_process().with_dotenv(dotenv)
}

/// Where to listen: flags, then `HOST`/`PORT`, then 127.0.0.1:8000.
///
/// # Errors
/// `HOST`, `PORT` or `SHUTDOWN_GRACE_SECS` malformed.
pub fn server_config(env: &Env, args: &Args) -> Result<ServerConfig, ConfigError> {
    let mut cfg = ServerConfig::from_env(env, IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT)?;
    if let Some(p) = args.port {
        cfg.port = p;
    }
    if let Some(h) = args.host {
        cfg.host = h;
    }
    Ok(cfg)
}

/// The start-up report: routes, each function's status, and where every variable came from
/// (secrets only as set/unset).
pub fn startup_report(
    router: &Router,
    env: &Env,
    functions: &[(&'static str, Arc<dyn Function>)],
) -> String {
    let mut out = String::new();
    out.push_str("Routes (method, path, function):\n");
    let mut routes = router.routes();
    routes.sort_by(|a, b| a.path.cmp(&b.path));
    for r in routes {
        out.push_str(&format!(
            "  {:<12} {:<22} {}\n",
            r.methods, r.path, r.function
        ));
    }
    out.push_str("\nFunctions:\n");
    let mut seen = Vec::new();
    for (_, f) in functions {
        if !seen.contains(&f.name()) {
            seen.push(f.name());
            out.push_str(&format!("  {:<13} {}\n", f.name(), f.status()));
        }
    }
    out.push_str("\nConfiguration (variable, value, from):\n");
    for v in VARIABLES {
        let origin = env.origin(v.name);
        let value = match (v.secret, env.get(v.name)) {
            (true, Some(_)) => "set".to_owned(),
            (true, None) => "unset".to_owned(),
            (false, Some(val)) => val.to_owned(),
            (false, None) => v.default.unwrap_or("unset").to_owned(),
        };
        out.push_str(&format!("  {:<31} {:<45} {origin}\n", v.name, value));
    }
    out
}

/// Prints to stdout: the report is for the person who started the runner, not for the logs.
pub fn print(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
