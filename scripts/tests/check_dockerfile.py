#!/usr/bin/env python3
"""Static checks of the Dockerfile and .dockerignore, for CI without a Docker engine.

    check_dockerfile.py REPO_ROOT

What a `docker build` would catch late (or never) is checked here from the files:
- the stages reference each other correctly and the runtime base matches the builder's Debian
  release (the binary links against the builder's glibc);
- every base image is pinned by digest, or its tag-only fallback is documented in the Dockerfile;
- every binary the Dockerfile can build is a workspace package with a binary of that name, and
  every function in functions/ (and functions/list.txt) can be built with FUNCTION=;
- the release build is `--locked`; the runtime image runs as uid 10001, exposes 8000, logs JSON,
  installs nothing but CA certificates;
- the build context after .dockerignore still holds every manifest, Cargo.lock, every crate's
  sources and every file `include_str!`/`include_bytes!` pulls in, and holds no target/ or .env;
  `cargo metadata --locked --offline` succeeds on that context alone.
Prints one `ok`/`FAIL` line per check and `N passed, M failed`.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok or not detail else f": {detail}"))


def instructions(text):
    """(instruction, arguments) pairs, with continuations joined and comments dropped."""
    out, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


def substitute(value, args):
    def repl(m):
        name = m.group(1) or m.group(2)
        return args.get(name, "")
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, value)


def stages_of(instrs):
    global_args, stages = {}, []
    for word, rest in instrs:
        if word == "ARG" and not stages:
            name, _, default = rest.partition("=")
            global_args[name] = default
        elif word == "FROM":
            parts = rest.split()
            ref = substitute(parts[0], global_args)
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            image, _, digest = ref.partition("@")
            stages.append({"image": image, "digest": digest, "from": parts[0], "name": name,
                           "instrs": []})
        elif stages:
            stages[-1]["instrs"].append((word, rest))
    return global_args, stages


def comment_above(text, line_re):
    """The comment block directly above the first line matching line_re, as one string."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(line_re, line):
            block = []
            for prev in reversed(lines[:i]):
                if not prev.startswith("#"):
                    break
                block.insert(0, prev.lstrip("#").strip())
            return " ".join(block)
    return ""


def check_pins(text, stages):
    """Every base image is pinned by digest (sha256), or its tag-only fallback is documented with
    `<image:tag>: unpinned: <reason>` in the comment above its digest ARG (or above the FROM).
    A digest from an ARG must sit under a comment naming the image:tag it was taken for."""
    names = [s["name"] for s in stages]
    for i, stage in enumerate(stages):
        if stage["image"] in names[:i]:
            continue  # an earlier stage, not a pulled image
        ref = stage["image"]
        arg = re.search(r"\$\{?(\w*DIGEST\w*)\}?", stage["from"])
        doc = comment_above(text, rf"ARG {arg.group(1)}=" if arg else rf"FROM {re.escape(stage['from'])}")
        if re.fullmatch(r"sha256:[0-9a-f]{64}", stage["digest"]):
            check(f"base image {ref} is pinned by digest", True)
            if arg:
                check(f"the comment above {arg.group(1)} names {ref}, the tag its digest was taken for",
                      re.search(rf"(^|\s){re.escape(ref)}\b", doc) is not None,
                      f"bump the tag and the digest together; comment: {doc[:120]!r}")
        else:
            documented = re.search(rf"(^|\s){re.escape(ref)}: unpinned: \S", doc) is not None
            check(f"base image {ref} is pinned by digest, or its tag-only fallback is documented",
                  documented, f"FROM {stage['from']} resolves to {ref}"
                  + (f"@{stage['digest']} (not a sha256 digest)" if stage["digest"] else " (no digest)")
                  + f"; pin it (@sha256:…) or write `# {ref}: unpinned: <why>` above its digest ARG")


def dockerignore_patterns(path):
    patterns = []
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pat = line[1:] if negate else line
            pat = pat.strip("/")
            rx = ""
            i = 0
            while i < len(pat):
                if pat.startswith("**", i):
                    rx += ".*"
                    i += 2
                    if i < len(pat) and pat[i] == "/":
                        rx = rx[:-2] + "(?:.*/)?"
                        i += 1
                elif pat[i] == "*":
                    rx += "[^/]*"
                    i += 1
                elif pat[i] == "?":
                    rx += "[^/]"
                    i += 1
                else:
                    rx += re.escape(pat[i])
                    i += 1
            patterns.append((re.compile(rx + r"\Z"), negate))
    return patterns


def in_context(rel, patterns):
    """Docker's rule: the last matching pattern wins; a pattern matching a parent excludes all
    below it."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for rx, negate in patterns:
        if any(rx.match(p) for p in prefixes):
            excluded = not negate
    return not excluded


def repo_files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in (".git", "target")]
        for f in filenames:
            yield os.path.relpath(os.path.join(dirpath, f), root)


def main(root):
    root = Path(root).resolve()
    text = (root / "Dockerfile").read_text()
    instrs = instructions(text)
    global_args, stages = stages_of(instrs)

    check("Dockerfile has a builder and a runtime stage", len(stages) >= 2)
    check_pins(text, stages)
    names = [s["name"] for s in stages]
    for i, stage in enumerate(stages):
        for word, rest in stage["instrs"]:
            m = re.search(r"--from=(\S+)", rest) if word == "COPY" else None
            if m:
                check(f"COPY --from={m.group(1)} names an earlier stage",
                      m.group(1) in names[:i], f"stages before it: {names[:i]}")
    builder, runtime = stages[0], stages[-1]
    bm = re.fullmatch(r"rust:(\d+)\.(\d+)(?:\.\d+)?-slim-(\w+)", builder["image"])
    rm = re.fullmatch(r"debian:(\w+)-slim", runtime["image"])
    check("builder is rust:<version>-slim-<release>", bool(bm), builder["image"])
    check("runtime is debian:<release>-slim", bool(rm), runtime["image"])
    if bm and rm:
        check("builder and runtime share a Debian release (glibc)", bm.group(3) == rm.group(1),
              f"{builder['image']} vs {runtime['image']}")
        ws_manifest = (root / "Cargo.toml").read_text()
        rv = re.search(r'rust-version\s*=\s*"(\d+)\.(\d+)', ws_manifest)
        if rv:
            check(f"builder's Rust {bm.group(1)}.{bm.group(2)} >= the workspace's rust-version",
                  (int(bm.group(1)), int(bm.group(2))) >= (int(rv.group(1)), int(rv.group(2))))

    run = " ".join(rest for word, rest in builder["instrs"] if word == "RUN")
    check("the release build is --locked", "cargo build --release --locked" in run)
    # The Dockerfile builds local-dev when FUNCTION is empty, else any name in functions/list.txt
    # (which it checks); so every listed name must be buildable.
    buildable = {"local-dev"} if 'bin="${FUNCTION:-local-dev}"' in run else set()
    if "functions/list.txt" in run:
        for line in (root / "functions" / "list.txt").read_text().splitlines():
            if line.split() and not line.startswith("#"):
                buildable.add(line.split()[0])
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--manifest-path",
         str(root / "Cargo.toml")], capture_output=True, text=True, check=True).stdout)
    bins = {t["name"]: p for p in meta["packages"] for t in p["targets"] if "bin" in t["kind"]}
    for b in sorted(buildable):
        check(f"FUNCTION target {b!r} is a workspace package with a binary {b!r}",
              b in bins and bins[b]["name"] == b)
    functions = {p["name"] for p in meta["packages"]
                 if Path(p["manifest_path"]).parent.parent == root / "functions"}
    check("every function in functions/ can be built with FUNCTION=", functions <= buildable,
          f"missing: {sorted(functions - buildable)}")

    rt = runtime["instrs"]
    users = [rest for word, rest in rt if word == "USER"]
    check("the runtime runs as uid 10001 (numeric, for runAsNonRoot)",
          bool(users) and users[-1].split(":")[0] == "10001", str(users))
    check("the runtime exposes 8000", any(w == "EXPOSE" and "8000" in r.split() for w, r in rt))
    envs = " ".join(rest for word, rest in rt if word == "ENV")
    check("the runtime logs JSON (LOG_FORMAT=json) and binds 0.0.0.0",
          "LOG_FORMAT=json" in envs and "HOST=0.0.0.0" in envs, envs)
    cmds = [rest for word, rest in rt if word == "CMD"]
    check("CMD is in exec (JSON) form", bool(cmds) and cmds[-1].startswith("["), str(cmds))
    apt = " ".join(rest for word, rest in rt if word == "RUN")
    installed = re.findall(r"apt-get install ([^&]*)", apt)
    pkgs = {w for chunk in installed for w in chunk.split() if not w.startswith("-")}
    check("the runtime installs only ca-certificates, without recommends",
          pkgs == {"ca-certificates"} and "--no-install-recommends" in apt, str(pkgs))
    copies = [rest for word, rest in rt if word == "COPY"]
    check("the runtime copies only the builder's output", all("--from=builder" in c for c in copies))

    # The build context.
    patterns = dockerignore_patterns(root / ".dockerignore")
    files = sorted(repo_files(root))
    kept = [f for f in files if in_context(f, patterns)]
    kept_set = set(kept)
    need = ["Cargo.toml", "Cargo.lock"]
    for p in meta["packages"]:
        crate = Path(p["manifest_path"]).parent.relative_to(root)
        need.append(str(crate / "Cargo.toml"))
        for t in p["targets"]:
            if "bin" in t["kind"] or "lib" in t["kind"]:
                need.append(str(Path(t["src_path"]).relative_to(root)))
        # Files compiled in with include_str!/include_bytes! outside tests.
        for src in (root / crate).rglob("*.rs"):
            if "tests" in src.relative_to(root / crate).parts:
                continue
            code = src.read_text(errors="replace").split("#[cfg(test)]", 1)[0]
            for inc in re.findall(r'include_(?:str|bytes)!\(\s*"([^"]+)"\s*\)', code):
                need.append(os.path.normpath(os.path.relpath(src.parent / inc, root)))
    missing = [n for n in need if n not in kept_set]
    check(f"the build context keeps the {len(need)} files the build needs", not missing,
          f"excluded or absent: {missing}")
    leaked = [f for f in kept if f.split("/")[0] in ("target", "dist", ".git")
              or os.path.basename(f) == ".env" or f.endswith(".zip")]
    check("the build context holds no build output, zips or .env", not leaked, str(leaked[:5]))

    with tempfile.TemporaryDirectory() as tmp:
        for f in kept:
            dest = Path(tmp, f)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / f, dest)
        done = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--offline",
             "--filter-platform", "x86_64-unknown-linux-gnu",
             "--manifest-path", str(Path(tmp, "Cargo.toml"))],
            capture_output=True, text=True)
        check("cargo metadata --locked --offline (linux/amd64) succeeds on the context alone",
              done.returncode == 0, done.stderr.strip()[-400:])

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
