#!/usr/bin/env python3
"""Lays out one Scaleway Functions crate (runtime rust196) for an Elbatt function.

Called by scripts/package-function.sh; see docs/deployment.md#scaleway-functions-optional.

    generate.py FUNCTION WORKSPACE_ROOT STAGING_DIR

The staging directory gets:

    Cargo.toml              package `handler`, [lib] src/lib.rs, every dependency pinned `=x.y.z`
    Cargo.lock              the same versions (Scaleway ignores it; the pins are what count)
    src/lib.rs              scripts/function-zip/handler.rs: `pub async fn handle(axum Request) -> axum Response`
    src/function.rs         which function this zip serves (generated below)
    shared/                 the `elbatt` crate's source, a path dependency
    functions/<name>/       the function's crate (and any workspace crate it depends on)

Why every crate in the build is pinned, not only the direct ones: Scaleway's build ignores
Cargo.lock and resolves afresh, so an unpinned transitive crate would drift to whatever is newest
on the day of the deploy. Each crate of the workspace's Cargo.lock that the function uses is
therefore also listed as a renamed, feature-less dependency of the root crate with its exact
version: that adds no features and no code, it only fixes the version. Crates the workspace does
not use (axum and its private dependencies, the rust196 interface) come from adapter-pins.txt.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Scaleway builds functions on linux/amd64: platform-specific crates for anything else are left out.
PLATFORM = "x86_64-unknown-linux-gnu"
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"



def read_functions(root):
    """The one list of functions (functions/list.txt): name -> the Rust type implementing
    elbatt::http::Function. Every function is built by that trait's one constructor, so the
    generated code needs nothing else from the list."""
    functions = {}
    for line in (Path(root) / "functions" / "list.txt").read_text().splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < 3:
            raise Failure(f"functions/list.txt: want `name type mount...`, got {line!r}")
        functions[fields[0]] = fields[1]
    return functions

# What the copy of a crate leaves behind: binaries (the platform calls `handle`), tests and
# build output.
SKIP_DIRS = {"target", "tests", "benches", "examples", ".git", "bin"}
SKIP_FILES = {"Cargo.toml", "Cargo.lock", "main.rs"}


class Failure(Exception):
    pass


def cargo_metadata(manifest, locked):
    cmd = ["cargo", "metadata", "--format-version", "1", "--filter-platform", PLATFORM,
           "--manifest-path", str(manifest)]
    if locked:
        cmd.append("--locked")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise Failure(f"{' '.join(cmd)} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout)


def toml_str(s):
    return json.dumps(s, ensure_ascii=False)


def toml_list(items):
    return "[" + ", ".join(toml_str(i) for i in items) + "]"


def read_adapter_pins():
    """adapter-pins.txt: `name version` per line, `#` comments."""
    pins = {}
    for line in (HERE / "adapter-pins.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, version = line.split()
        pins.setdefault(name, []).append(version)
    return pins


class Workspace:
    def __init__(self, root):
        self.root = Path(root).resolve()
        self.meta = cargo_metadata(self.root / "Cargo.toml", locked=True)
        self.pkgs = {p["id"]: p for p in self.meta["packages"]}
        self.members = set(self.meta["workspace_members"])
        self.nodes = {n["id"]: n for n in self.meta["resolve"]["nodes"]}

    def member(self, name):
        for pid in self.members:
            if self.pkgs[pid]["name"] == name:
                return pid
        raise Failure(f"no workspace member named {name!r}")

    def crate_dir(self, pid):
        return Path(self.pkgs[pid]["manifest_path"]).parent

    def resolved(self, pid, dep):
        """The package id a declared (non-dev) dependency of member `pid` resolved to."""
        found = [
            d["pkg"] for d in self.nodes[pid]["deps"]
            if self.pkgs[d["pkg"]]["name"] == dep["name"]
            and any(k["kind"] == dep["kind"] for k in d["dep_kinds"])
        ]
        if len(found) == 1:
            return found[0]
        if not found:
            # An optional dependency no feature turns on is not in the resolve: fall back to the
            # one version of it the lock holds, if there is exactly one.
            same = [i for i, p in self.pkgs.items() if p["name"] == dep["name"]]
            if len(same) == 1:
                return same[0]
        raise Failure(f"cannot tell which {dep['name']} {self.pkgs[pid]['name']} uses "
                      f"({len(found)} candidates in Cargo.lock)")

    def member_closure(self, start):
        """`start` and every workspace member it depends on (not through dev-dependencies)."""
        seen, todo = [], [start]
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.append(pid)
            for d in self.nodes[pid]["deps"]:
                if d["pkg"] in self.members and any(k["kind"] != "dev" for k in d["dep_kinds"]):
                    todo.append(d["pkg"])
        return seen

    def registry_closure(self, start):
        """Every registry package the build of `start` compiles (normal and build edges)."""
        seen, todo = set(), [start]
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            for d in self.nodes[pid]["deps"]:
                if any(k["kind"] != "dev" for k in d["dep_kinds"]):
                    todo.append(d["pkg"])
        return {p for p in seen if p not in self.members}


def dep_line(key, fields):
    parts = []
    for k, v in fields:
        if isinstance(v, bool):
            parts.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, list):
            parts.append(f"{k} = {toml_list(v)}")
        else:
            parts.append(f"{k} = {toml_str(v)}")
    return f"{key} = {{ {', '.join(parts)} }}"


def declared_dep_line(ws, pid, dep, crate_dir, rel_dirs):
    key = dep["rename"] or dep["name"]
    target = ws.resolved(pid, dep)
    fields = []
    if dep["rename"]:
        fields.append(("package", dep["name"]))
    if target in ws.members:
        dest = rel_dirs[target]
        fields.append(("path", os.path.relpath(dest, crate_dir)))
    else:
        src = ws.pkgs[target]["source"]
        if src != CRATES_IO:
            raise Failure(f"{dep['name']} comes from {src}: only crates.io dependencies can be pinned")
        fields.append(("version", "=" + ws.pkgs[target]["version"]))
    if not dep["uses_default_features"]:
        fields.append(("default-features", False))
    if dep["features"]:
        fields.append(("features", dep["features"]))
    if dep["optional"]:
        fields.append(("optional", True))
    return dep_line(key, fields)


def write_member(ws, pid, staging, rel_dirs):
    """Copies one workspace crate into the staging tree with a self-contained Cargo.toml."""
    pkg = ws.pkgs[pid]
    src_dir = ws.crate_dir(pid)
    dest = staging / rel_dirs[pid]

    def ignore(directory, names):
        skipped = [n for n in names if n in SKIP_DIRS and Path(directory, n).is_dir()]
        skipped += [n for n in names if n in SKIP_FILES and Path(directory, n).is_file()]
        return skipped

    shutil.copytree(src_dir, dest, ignore=ignore)

    lib = [t for t in pkg["targets"] if "lib" in t["kind"] or "proc-macro" in t["kind"]]
    if not lib:
        raise Failure(f"{pkg['name']} has no library target to call")
    build = [t for t in pkg["targets"] if "custom-build" in t["kind"]]

    out = [
        f"# Generated by scripts/package-function.sh from the workspace's {pkg['name']} crate and",
        "# Cargo.lock. Versions are exact because Scaleway's build ignores Cargo.lock.",
        "[package]",
        f"name = {toml_str(pkg['name'])}",
        f"version = {toml_str(pkg['version'])}",
        f"edition = {toml_str(pkg['edition'])}",
    ]
    if pkg.get("rust_version"):
        out.append(f"rust-version = {toml_str(pkg['rust_version'])}")
    if pkg.get("license"):
        out.append(f"license = {toml_str(pkg['license'])}")
    out += ["publish = false", "autobins = false", "autoexamples = false", "autotests = false",
            "autobenches = false"]
    if build:
        out.append(f"build = {toml_str(os.path.relpath(build[0]['src_path'], src_dir))}")
    out += ["", "[lib]", f"name = {toml_str(lib[0]['name'].replace('-', '_'))}",
            f"path = {toml_str(os.path.relpath(lib[0]['src_path'], src_dir))}"]

    sections = {}
    for dep in pkg["dependencies"]:
        if dep["kind"] == "dev":
            continue
        table = "dependencies" if dep["kind"] is None else "build-dependencies"
        if dep["target"]:
            table = f"target.{toml_str(dep['target'])}.{table}"
        sections.setdefault(table, []).append(
            declared_dep_line(ws, pid, dep, dest, {k: staging / v for k, v in rel_dirs.items()}))
    for table in sorted(sections, key=lambda t: (t.startswith("target"), t)):
        out += ["", f"[{table}]"] + sorted(sections[table])
    if pkg["features"]:
        out += ["", "[features]"]
        out += [f"{toml_str(k)} = {toml_list(v)}" for k, v in sorted(pkg["features"].items())]
    (dest / "Cargo.toml").write_text("\n".join(out) + "\n")


def pin_key(name, version):
    return "lock-" + re.sub(r"[^A-Za-z0-9]+", "-", f"{name}-{version}").strip("-")


def root_manifest(fn, direct, pins):
    """The handler crate's Cargo.toml. `direct`: ready lines; `pins`: {(name, version)}."""
    out = [
        f"# The Scaleway Functions crate for Elbatt's `{fn}` function (runtime rust196, handler",
        "# `handle`). Generated by scripts/package-function.sh from the workspace's Cargo.lock: do",
        "# not edit, regenerate.",
        "[package]",
        'name = "handler"',
        'version = "0.1.0"',
        'edition = "2024"',
        'rust-version = "1.85"',
        'license = "MIT"',
        "publish = false",
        "",
        "[lib]",
        'name = "handler"',
        'path = "src/lib.rs"',
        "",
        "[dependencies]",
        *direct,
        "",
        "# Every other crate of the build, pinned to its Cargo.lock version because Scaleway's build",
        "# ignores Cargo.lock. Renamed so two versions of one crate can coexist; no default features,",
        "# so a pin changes no feature set and adds no code: it only fixes the version.",
    ]
    for name, version in sorted(pins):
        out.append(dep_line(pin_key(name, version), [
            ("package", name), ("version", "=" + version), ("default-features", False)]))
    return "\n".join(out) + "\n"


def compiled_packages(meta):
    """(name, version) of every registry crate the build needs, not counting the pins' own edges
    (a pin must never be the only reason a crate is built)."""
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    by_id = {p["id"]: p for p in meta["packages"]}
    root = meta["resolve"]["root"]
    seen, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        for d in nodes[pid]["deps"]:
            if pid == root and d["name"].startswith("lock_"):
                continue
            if any(k["kind"] != "dev" for k in d["dep_kinds"]):
                todo.append(d["pkg"])
    return {(by_id[p]["name"], by_id[p]["version"]) for p in seen if by_id[p]["source"] is not None}


def function_rs(fn, type_path):
    return f"""//! Which Elbatt function this zip serves: `{fn}`. Generated by scripts/package-function.sh
//! from functions/list.txt.

use std::sync::Arc;

use elbatt::config::ConfigError;
use elbatt::context::Context;
use elbatt::http::{{Function, Handler}};

/// The function's type.
type F = {type_path};

/// Whether the function can answer with a stream, which Functions cannot deliver: requests
/// asking for one are turned into `stream:false` requests (see `lib.rs`).
pub(crate) const STREAMS: bool = <F as Function>::STREAMS;

/// Builds the function from the instance's environment, once per instance.
pub(crate) fn build(ctx: &Context) -> Result<Arc<dyn Handler>, ConfigError> {{
    Ok(Arc::new(F::from_context(ctx)?))
}}
"""


def generate(fn, root, staging):
    functions = read_functions(root)
    if fn not in functions:
        raise Failure(f"unknown function {fn!r}; one of {', '.join(functions)}")
    ws = Workspace(root)
    fn_pid = ws.member(fn)
    staging = Path(staging)
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "src").mkdir(parents=True)

    members = ws.member_closure(fn_pid)
    rel_dirs = {pid: os.path.relpath(ws.crate_dir(pid), ws.root) for pid in members}
    for pid in members:
        if rel_dirs[pid].startswith(".."):
            raise Failure(f"{ws.pkgs[pid]['name']} lives outside the workspace")
        write_member(ws, pid, staging, rel_dirs)

    # The adapter's direct dependencies: the two local crates, axum (the rust196 interface),
    # and crates elbatt already uses, at elbatt's versions and features.
    elbatt = ws.member("elbatt")
    if elbatt not in members:
        raise Failure(f"{fn} does not depend on elbatt")
    adapter_pins = read_adapter_pins()
    if len(adapter_pins.get("axum", [])) != 1:
        raise Failure("adapter-pins.txt must name exactly one axum version")
    direct = [
        dep_line("axum", [("version", "=" + adapter_pins["axum"][0]), ("default-features", False)]),
        dep_line("elbatt", [("path", rel_dirs[elbatt])]),
        # Without the function's default features: those are for its binaries (the runner, the
        # container), e.g. chat's `debug-log`, which writes files no Functions instance may write.
        dep_line(ws.pkgs[fn_pid]["name"], [("path", rel_dirs[fn_pid]), ("default-features", False)]),
    ]
    direct_pins = {("axum", adapter_pins["axum"][0])}
    by_name = {d["name"]: d for d in ws.pkgs[elbatt]["dependencies"] if d["kind"] is None}
    for name in ["bytes", "http", "http-body-util", "serde_json", "tracing"]:
        if name not in by_name:
            raise Failure(f"elbatt no longer depends on {name}; update generate.py")
        dep = by_name[name]
        direct.append(declared_dep_line(ws, elbatt, dep, staging, {}))
        direct_pins.add((name, ws.pkgs[ws.resolved(elbatt, dep)]["version"]))

    pins = {(ws.pkgs[p]["name"], ws.pkgs[p]["version"]) for p in ws.registry_closure(fn_pid)}
    pins |= {(n, v) for n, vs in adapter_pins.items() for v in vs}
    pins -= direct_pins

    shutil.copy(HERE / "handler.rs", staging / "src" / "lib.rs")
    (staging / "src" / "function.rs").write_text(function_rs(fn, functions[fn]))
    (staging / "Cargo.toml").write_text(root_manifest(fn, direct, pins))

    # Resolve once, starting from the workspace's lock so every shared crate keeps its version,
    # then check that nothing in the result is unpinned (a new dependency of axum would be).
    shutil.copy(ws.root / "Cargo.lock", staging / "Cargo.lock")
    meta = cargo_metadata(staging / "Cargo.toml", locked=False)
    resolved = compiled_packages(meta)
    unpinned = resolved - pins - direct_pins
    if unpinned:
        listing = ", ".join(f"{n} {v}" for n, v in sorted(unpinned))
        raise Failure(f"not pinned: {listing}. Add them to scripts/function-zip/adapter-pins.txt")
    # A pin nothing else needs (an adapter pin the chosen features never use, a crate the
    # workspace dropped) would still be downloaded and built: leave it out.
    unused = pins - resolved
    if unused:
        listing = ", ".join(f"{n} {v}" for n, v in sorted(unused))
        print(f"package-function: {fn}: not needed, not pinned: {listing}", file=sys.stderr)
        (staging / "Cargo.toml").write_text(root_manifest(fn, direct, pins - unused))
        cargo_metadata(staging / "Cargo.toml", locked=False)
    cargo_metadata(staging / "Cargo.toml", locked=True)
    return len(resolved | direct_pins)


def main(argv):
    if argv[1:] == ["--list"]:
        # For the shell scripts: the function names, one a line.
        root = Path(__file__).resolve().parents[2]
        print("\n".join(read_functions(root)))
        return 0
    if len(argv) != 4:
        print("usage: generate.py FUNCTION WORKSPACE_ROOT STAGING_DIR", file=sys.stderr)
        return 2
    try:
        count = generate(argv[1], argv[2], argv[3])
    except Failure as e:
        print(f"package-function: {e}", file=sys.stderr)
        return 1
    print(f"{argv[1]}: {count} crates pinned", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
