#!/usr/bin/env bash
# Packages Elbatt functions as Scaleway Serverless Functions zips (runtime rust196, handler
# `handle`): one self-contained crate per function, every dependency pinned to the workspace's
# Cargo.lock, the shared crate's source inside as a path dependency.
#   scripts/package-function.sh <FUNCTION|all> [outdir]   # a name in functions/list.txt; default outdir: dist/
# Prints one line per zip: its path and size. See docs/deployment.md#scaleway-functions-optional.
set -euo pipefail

usage() { echo "usage: $0 <FUNCTION|all> [outdir]   (FUNCTION: a name in functions/list.txt)" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
outdir="${2:-$root/dist}"

need() { command -v "$1" >/dev/null || { echo "package-function: $1 is required ($2)" >&2; exit 2; }; }
need cargo "install Rust: https://rustup.rs"
need python3 "apt-get install python3"
need zip "apt-get install zip"

# The one list of functions: functions/list.txt.
mapfile -t known < <(python3 "$root/scripts/function-zip/generate.py" --list)
case "$1" in
  all) functions=("${known[@]}") ;;
  *)
    [[ " ${known[*]} " == *" $1 "* ]] || usage
    functions=("$1")
    ;;
esac

mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT

for fn in "${functions[@]}"; do
  python3 "$root/scripts/function-zip/generate.py" "$fn" "$root" "$staging/$fn"
  zipfile="$outdir/$fn.zip"
  rm -f "$zipfile"
  # The zip holds the crate's contents, not a parent folder (Scaleway's rule). Fixed times and a
  # sorted file list make the same sources give the same zip.
  (
    cd "$staging/$fn"
    find . -exec touch -h -d '2000-01-01T00:00:00Z' {} +
    find . -type f | LC_ALL=C sort | zip -q -X -D "$zipfile" -@
  )
  size="$(stat -c %s "$zipfile")"
  # Scaleway refuses zips over 100 MiB.
  (( size <= 100 * 1024 * 1024 )) || { echo "package-function: $zipfile is over 100 MiB" >&2; exit 1; }
  printf '%s\t%s bytes\n' "$zipfile" "$size"
done
