#!/usr/bin/env bash
# Browser tests of the chat widget and the runner's playground (docs/widget.md#tests).
#
# Builds the runner and bench's fake-upstream, starts on 127.0.0.1 (port 0):
#   - fake-upstream --tool-calls: a fake LLM that streams its answer in several chunks and calls
#     lookup_vehicle for a plate in the question, and a fake Statens vegvesen (EC47213 known);
#   - the runner pointed at it, with a fresh SQLite store and a small chat rate limit, and a
#     second one whose daily token budget is spent after one answer;
# then runs e2e/widget.test.mjs (node's test runner, playwright-core driving Debian's headless
# Chromium; no browser is downloaded). Screenshots go to target/e2e/.
#
#   scripts/browser-tests.sh                  # what .ci/run runs
#   scripts/browser-tests.sh --update-docs    # also copies the screenshots to docs/img/
#
# Installs Debian's chromium and chromium-driver if missing (needs root, as CI has), and the
# pinned playwright-core from e2e/package-lock.json (npm ci). Needs Node.js 20 or later.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

update_docs=0
case "${1:-}" in
  --update-docs) update_docs=1 ;;
  "") ;;
  *) echo "usage: scripts/browser-tests.sh [--update-docs]" >&2; exit 2 ;;
esac

if ! command -v chromium >/dev/null; then
  echo "browser-tests: installing Debian's chromium and chromium-driver"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "browser-tests: Node.js 20+ and npm are needed (the machine's node, or apt-get install nodejs npm)" >&2
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
(( node_major >= 20 )) || { echo "browser-tests: Node.js $node_major found; playwright-core needs 20 or later" >&2; exit 1; }

(cd e2e && npm ci --no-audit --no-fund --loglevel=error)
cargo build --locked -p local-dev -p bench --bin local-dev --bin fake-upstream
bin="${CARGO_TARGET_DIR:-$root/target}/debug"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Waits for `pattern` in `file` and prints what follows it (a port or an address).
wait_for() {
  local file="$1" pattern="$2" found=""
  for _ in $(seq 1 150); do
    found="$(grep -o "${pattern}[0-9.:]*" "$file" 2>/dev/null | head -1 | cut -d= -f2 || true)"
    [[ -n "$found" ]] && { echo "$found"; return 0; }
    sleep 0.1
  done
  return 1
}

# ~1 s per answer: 8 chunks 90 ms apart, so the answer arrives in visible steps and a test can
# cut the stream in the middle.
"$bin/fake-upstream" --port 0 --tool-calls --first-token-ms 150 --chunk-ms 90 \
  --chunks 8 --exit-after 900 >"$work/up.out" 2>"$work/up.err" &
pids+=($!)
up_port="$(wait_for "$work/up.out" 'port=')" || { echo "browser-tests: fake-upstream did not start" >&2; cat "$work/up.err" >&2; exit 1; }

# A runner in an empty directory (no developer's .env) with only the variables given: `name`,
# then VAR=value pairs. Started in this shell (not in a `$(…)` subshell, where its pid would never
# reach `pids` and the runner would outlive the script); `runner_addr NAME` then prints its address.
start_runner() {
  local name="$1"
  shift
  mkdir -p "$work/$name"
  (
    cd "$work/$name"
    exec env -i PATH="$PATH" HOME="${HOME:-/root}" RUST_LOG=info \
      OPENAI_API_KEY=fake-key OPENAI_BASE_URL="http://127.0.0.1:$up_port/v1" \
      OPENAI_MODEL=fake-model LLM_MODELS_INCLUDE=fake-model-large \
      VEGVESEN_API_KEY=fake-key VEGVESEN_ENDPOINT="http://127.0.0.1:$up_port/enkeltoppslag/kjoretoydata" \
      "$@" "$bin/local-dev" --port 0
  ) >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
}
runner_addr() {
  local name="$1"
  wait_for "$work/$name.err" 'addr=' || { echo "browser-tests: the $name runner did not start" >&2; cat "$work/$name.out" "$work/$name.err" >&2; return 1; }
}
# The main one: a fresh SQLite store and a small chat rate limit.
start_runner runner DATABASE_PATH="$work/runner/elbatt.db" CHAT_RATE_LIMIT_PER_MINUTE=6 CHAT_RATE_LIMIT_BURST=6
# One whose daily token budget is spent by its first answer (the offline-mode note). STORE=off: a
# per-instance budget (a shared one reserves a whole answer ahead), and the widget without a store.
start_runner budget STORE=off CHAT_DAILY_TOKEN_BUDGET=1
addr="$(runner_addr runner)"
budget_addr="$(runner_addr budget)"

mkdir -p target/e2e
status=0
(
  cd e2e
  RUNNER_URL="http://$addr" BUDGET_RUNNER_URL="http://$budget_addr" ARTIFACTS="$root/target/e2e" CHROMIUM="$(command -v chromium)" \
    node --test --test-concurrency=1 widget.test.mjs
) || status=$?
if (( status != 0 )); then
  echo "browser-tests: failed; the runner's log:" >&2
  tail -n 40 "$work/runner.err" >&2
  exit "$status"
fi
echo "browser-tests: screenshots in target/e2e/: $(cd target/e2e && echo ./*.png)"
if (( update_docs )); then
  mkdir -p docs/img
  cp target/e2e/widget-desktop.png target/e2e/widget-375.png target/e2e/widget-dark.png docs/img/
  echo "browser-tests: copied to docs/img/"
fi
