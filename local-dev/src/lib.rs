//! The local runner: every Elbatt function on one port, each called exactly as its platform
//! would call it (same router and request adapter as the `elbatt-api` container).
//!
//! `cargo run -p local-dev` → `http://127.0.0.1:8000`: `/health`, `/api/health`, `/chat`,
//! `/plate-lookup[/…]`, `/conversations/{id}`, `/ready`. The route table comes from
//! `functions/list.txt` (see [`FUNCTIONS`]) and nowhere else.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use elbatt::config::{ConfigError, CorsConfig, Env, ServerConfig, VarSpec};
use elbatt::context::Context;
use elbatt::http::{Function, Handler};
use elbatt::runtime::Router;

pub mod openapi;
pub mod playground;
pub mod widget;

/// The runbook's port.
pub const DEFAULT_PORT: u16 = 8000;

/// Where a function is mounted in the all-in-one router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mount {
    pub prefix: &'static str,
    /// Whether the function sees the path with `prefix` removed (`false`: whole, as
    /// `/api/health` reaches `health`).
    pub strip: bool,
}

/// One line of `functions/list.txt`, the one list of functions.
#[derive(Debug, Clone, Copy)]
pub struct FunctionEntry {
    pub name: &'static str,
    /// The type implementing [`Function`], as written in the list.
    pub type_path: &'static str,
    /// What the type calls itself ([`Function::NAME`]); a test checks it matches `name`.
    pub type_name: &'static str,
    pub mounts: &'static [Mount],
    pub build: fn(&Context) -> Result<Arc<dyn Handler>, ConfigError>,
    pub variables: &'static [&'static [VarSpec]],
}

fn build<F: Function>(ctx: &Context) -> Result<Arc<dyn Handler>, ConfigError> {
    Ok(Arc::new(F::from_context(ctx)?))
}

include!(concat!(env!("OUT_DIR"), "/functions.rs"));

/// A mount and the function built for it.
pub type MountList = Vec<(Mount, Arc<dyn Handler>)>;

/// Builds every function once, from one context (so plate-lookup and chat share one vehicle
/// cache, as in the all-in-one container), and lists it at each of its mounts.
///
/// # Errors
/// A variable a function reads is malformed.
pub fn mounts(env: &Env) -> Result<MountList, ConfigError> {
    let ctx = Context::new(env.clone());
    let mut out = Vec::new();
    for entry in FUNCTIONS {
        let function = (entry.build)(&ctx)?;
        for mount in entry.mounts {
            out.push((*mount, Arc::clone(&function)));
        }
    }
    // Not a function of functions/list.txt: a WebSocket needs the server (no zip, no Lambda).
    out.push((WS_MOUNT, build::<chat::ws::WebSocket>(&ctx)?));
    Ok(out)
}

/// Chat over one WebSocket (docs/websocket.md): runner and `elbatt-api` container only.
pub const WS_MOUNT: Mount = Mount {
    prefix: "/api/ws",
    strip: false,
};

/// Every variable the runner's functions read: the server's own, then each function's, each
/// once, in the order they are declared.
pub fn variables() -> Vec<&'static VarSpec> {
    let mut seen = BTreeSet::new();
    std::iter::once(elbatt::config::VARIABLES)
        .chain(std::iter::once(elbatt::metrics::VARIABLES))
        .chain(std::iter::once(chat::ws::VARIABLES))
        .chain(FUNCTIONS.iter().flat_map(|f| f.variables.iter().copied()))
        .flatten()
        .filter(|v| seen.insert(v.name))
        .collect()
}

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
    assemble(env, host, mounts(env)?)
}

/// The router over functions already built (the runner builds them once, for its report and
/// its routes).
///
/// # Errors
/// `ALLOWED_ORIGINS` is malformed.
pub fn assemble(env: &Env, host: IpAddr, functions: MountList) -> Result<Router, ConfigError> {
    let cors = CorsConfig::from_env(env, host.is_loopback())?;
    let router = functions
        .into_iter()
        .fold(openapi::mount(Router::new(cors)), |r, (mount, f)| {
            if mount.strip {
                r.mount(mount.prefix, f)
            } else {
                r.mount_unstripped(mount.prefix, f)
            }
        })
        .mount("/widget.js", Arc::new(widget::Widget::new()));
    // `/metrics` only when METRICS_ENABLED (docs/metrics.md); never in a function binary or zip.
    let router = match elbatt::metrics::MetricsConfig::from_env(env, host)?.exporter() {
        Some(exporter) => router.mount("/metrics", Arc::new(exporter)),
        None => router,
    };
    // Last: the playground lists the routes mounted before it (runner on loopback only).
    playground::mount(router, env, host)
}

/// Command-line options.
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
        use lexopt::prelude::*;
        let mut out = Args::default();
        let mut parser = lexopt::Parser::from_args(args);
        let bad = |flag: &str, what: &str| format!("{flag} must be {what}");
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Short('p') | Long("port") => {
                    let v = parser.value().map_err(|e| e.to_string())?;
                    out.port = Some(v.parse().map_err(|_| bad("--port", "a port number"))?);
                }
                Long("host") => {
                    let v = parser.value().map_err(|e| e.to_string())?;
                    out.host = Some(v.parse().map_err(|_| bad("--host", "an IP address"))?);
                }
                Short('h') | Long("help") => out.help = true,
                other => return Err(other.unexpected().to_string()),
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
pub fn startup_report(router: &Router, env: &Env, functions: &MountList) -> String {
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
    for v in variables() {
        let origin = env.origin(v.name);
        let value = match (v.secret, env.get(v.name)) {
            (true, Some(_)) => "set".to_owned(),
            (true, None) => "unset".to_owned(),
            (false, Some(val)) => val.to_owned(),
            (false, None) => v.default.describe().to_owned(),
        };
        out.push_str(&format!("  {:<31} {:<45} {origin}\n", v.name, value));
    }
    out
}

/// Prints to stdout: the report is for the person who started the runner, not for the logs.
pub fn print(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// `docs/configuration.md`'s generated part: every variable, grouped by the functions that
/// read it.
pub fn configuration_tables() -> String {
    let mut out = String::from("### Every binary and the runner\n\n");
    out.push_str(&elbatt::config::markdown_table(elbatt::config::VARIABLES));
    out.push_str("\n### Read by the runner and the `elbatt-api` container (`/metrics`)\n\n");
    out.push_str(&elbatt::config::markdown_table(elbatt::metrics::VARIABLES));
    out.push_str("\n### Read by the runner and the `elbatt-api` container (`/api/ws`)\n\n");
    out.push_str(&elbatt::config::markdown_table(chat::ws::VARIABLES));
    let mut groups: Vec<(String, Vec<VarSpec>)> = Vec::new();
    for v in variables().into_iter().skip(
        elbatt::config::VARIABLES.len()
            + elbatt::metrics::VARIABLES.len()
            + chat::ws::VARIABLES.len(),
    ) {
        let readers = FUNCTIONS
            .iter()
            .filter(|f| {
                f.variables
                    .iter()
                    .flat_map(|vs| vs.iter())
                    .any(|r| r.name == v.name)
            })
            .map(|f| f.name)
            .collect::<Vec<_>>()
            .join(", ");
        match groups.iter_mut().find(|(r, _)| *r == readers) {
            Some((_, vars)) => vars.push(*v),
            None => groups.push((readers, vec![*v])),
        }
    }
    for (readers, vars) in groups {
        out.push_str(&format!("\n### Read by {readers}\n\n"));
        out.push_str(&elbatt::config::markdown_table(&vars));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        Args::parse(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn flags_take_values_separately_or_inline() {
        let a = args(&["--port", "9000", "--host=0.0.0.0"]).unwrap();
        assert_eq!(a.port, Some(9000));
        assert_eq!(a.host, Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert_eq!(args(&["-p", "1"]).unwrap().port, Some(1));
        assert!(args(&["-h"]).unwrap().help);
    }

    #[test]
    fn bad_flags_and_values_are_refused_with_a_message() {
        assert!(args(&["--port", "high"]).unwrap_err().contains("--port"));
        assert!(
            args(&["--host", "example.com"])
                .unwrap_err()
                .contains("--host")
        );
        assert!(args(&["--port"]).is_err(), "a missing value");
        assert!(args(&["--verbose"]).unwrap_err().contains("--verbose"));
        assert!(args(&["extra"]).is_err(), "a positional argument");
    }

    #[test]
    fn every_listed_function_calls_itself_by_its_listed_name() {
        for entry in FUNCTIONS {
            assert_eq!(entry.name, entry.type_name, "{}", entry.type_path);
        }
        let names: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "health",
                "plate-lookup",
                "chat",
                "conversations",
                "scenarios"
            ]
        );
    }

    #[test]
    fn the_report_lists_every_variable_once_including_each_functions_own() {
        let vars = variables();
        let names: BTreeSet<&str> = vars.iter().map(|v| v.name).collect();
        assert_eq!(names.len(), vars.len());
        for name in ["PORT", "VEGVESEN_API_KEY", "OPENAI_API_KEY", "LLM_API_KEY"] {
            assert!(names.contains(name), "{name}");
        }
    }

    /// `docs/configuration.md` is generated from the code's variable tables. Run with
    /// `ELBATT_WRITE_DOCS=1` to rewrite it after changing a variable.
    #[test]
    fn docs_configuration_md_is_generated_from_the_code() {
        const BEGIN: &str =
            "<!-- BEGIN GENERATED: cargo test -p local-dev docs_configuration -->\n";
        const END: &str = "<!-- END GENERATED -->\n";
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
        let doc = std::fs::read_to_string(&path).expect("docs/configuration.md exists");
        let (Some(start), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
            panic!("docs/configuration.md lacks the generated-section markers");
        };
        let fresh = format!(
            "{}{BEGIN}\n{}\n{END}{}",
            &doc[..start],
            configuration_tables(),
            &doc[end + END.len()..]
        );
        if std::env::var_os("ELBATT_WRITE_DOCS").is_some() {
            std::fs::write(&path, &fresh).expect("write docs/configuration.md");
        } else {
            assert!(
                doc == fresh,
                "docs/configuration.md is stale: run `ELBATT_WRITE_DOCS=1 cargo test -p local-dev docs_configuration`"
            );
        }
    }
}
