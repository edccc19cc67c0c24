//! Turns `functions/list.txt`, the one list of functions, into the runner's route table
//! (`$OUT_DIR/functions.rs`), so the runner and the zip generator cannot disagree.

// Cargo reads its directives from a build script's stdout.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Read at run time, not with `env!`: a build script compiled for one checkout may be reused
    // for another that shares the target directory (CI's fresh-clone run does).
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let list = Path::new(&manifest_dir).join("../functions/list.txt");
    println!("cargo::rerun-if-changed={}", list.display());
    let text = std::fs::read_to_string(&list)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", list.display()));
    let mut out = String::from(
        "/// Every function, from `functions/list.txt`.\npub const FUNCTIONS: &[FunctionEntry] = &[\n",
    );
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, ty, mounts @ ..] = fields.as_slice() else {
            panic!(
                "functions/list.txt line {}: want `name type mount...`",
                n + 1
            );
        };
        assert!(
            !mounts.is_empty(),
            "functions/list.txt line {}: no mount",
            n + 1
        );
        let mounts = mounts
            .iter()
            .map(|m| match m.strip_suffix("=whole") {
                Some(prefix) => format!("Mount {{ prefix: {prefix:?}, strip: false }}"),
                None => format!("Mount {{ prefix: {m:?}, strip: true }}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "    FunctionEntry {{ name: {name:?}, type_path: {ty:?}, mounts: &[{mounts}], \
             build: build::<{ty}>, variables: <{ty} as Function>::VARIABLES, \
             type_name: <{ty} as Function>::NAME }},"
        );
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("functions.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", dest.display()));
}
