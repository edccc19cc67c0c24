//! The `scenarios` binary: hands the handler to the runtime its environment asks for.

fn main() -> std::process::ExitCode {
    elbatt::runtime::run_function::<scenarios::ScenariosApi>()
}
