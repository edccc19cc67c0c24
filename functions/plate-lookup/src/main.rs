//! The `plate-lookup` binary: job mode when given plates (arguments, `PLATE`, `PLATES`, `-` for
//! stdin), otherwise the runtime its environment asks for.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = elbatt::config::Env::from_process();
    if let Some(input) = plate_lookup::job::detect(&env, &args) {
        return plate_lookup::job::main(env, input);
    }
    elbatt::runtime::run_function_with::<plate_lookup::PlateLookup>(env)
}
