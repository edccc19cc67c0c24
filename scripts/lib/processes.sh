# shellcheck shell=bash
# Sourced by scripts/bench.sh and scripts/load.sh: a scratch folder ($work, with an empty
# $work/cwd so a runner never reads a developer's .env) and the processes they start ($pids),
# all stopped and removed on exit.
work="$(mktemp -d "${TMPDIR:-/tmp}/elbatt-${1:-run}.XXXXXX")"
mkdir -p "$work/cwd"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
