//! `local-dev`: parses flags, reads `.env`, prints the route table and config report, serves.

use std::process::ExitCode;
use std::sync::Arc;

use elbatt::runtime::{EXIT_CONFIG, serve_blocking};

fn main() -> ExitCode {
    let code = run();
    // Log lines leave through a writer thread: write what is queued before the process exits.
    elbatt::telemetry::flush();
    code
}

fn run() -> ExitCode {
    let args = match local_dev::Args::parse(std::env::args().skip(1)) {
        Ok(a) if a.help => {
            local_dev::print(&format!("{}\n", local_dev::USAGE));
            return ExitCode::SUCCESS;
        }
        Ok(a) => a,
        Err(msg) => {
            eprintln!("local-dev: {msg}\n\n{}", local_dev::USAGE);
            return ExitCode::from(2);
        }
    };
    let setup = || {
        let env = local_dev::load_env(std::path::Path::new(".env"))?;
        elbatt::telemetry::init(&env);
        let server = local_dev::server_config(&env, &args)?;
        let functions = local_dev::mounts(&env)?;
        let router = local_dev::assemble(&env, server.host, functions.clone())?
            .with_body_timeout(server.body_timeout);
        let report = local_dev::startup_report(&router, &env, &functions);
        Ok::<_, elbatt::config::ConfigError>((router, server, report))
    };
    match setup() {
        Ok((router, server, report)) => {
            local_dev::print(&format!(
                "Elbatt local runner on http://{}:{}\n\n{report}\n",
                server.host, server.port
            ));
            serve_blocking(Arc::new(router), &server, "local-dev")
        }
        Err(e) => {
            eprintln!("local-dev: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}
