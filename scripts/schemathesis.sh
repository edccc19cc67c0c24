#!/usr/bin/env bash
# schemathesis (PyPI, pinned with hashes in scripts/requirements-schemathesis.txt) against the
# local runner on a free port, loading the spec the runner serves at /openapi.json
# (docs/openapi.md). The runner gets fake keys for a fake Statens vegvesen and a fake model
# (bench's fake-upstream on loopback), an in-memory store and rate limits it will not reach;
# nothing leaves the machine.
#   scripts/schemathesis.sh                  # 25 examples per operation
#   EXAMPLES=100 scripts/schemathesis.sh     # more
#   SCHEMATHESIS_ARGS='--seed 1' scripts/schemathesis.sh
# Exit status: schemathesis's (0 when every check passed), 2 when it could not start.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
EXAMPLES="${EXAMPLES:-25}"
venv="$root/target/schemathesis-venv"
reqs="$root/scripts/requirements-schemathesis.txt"
want="$(sed -n 's/^schemathesis==\([^ ]*\).*/\1/p' "$reqs")"

# The venv is rebuilt when the pinned version changes.
if [[ "$("$venv/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$want" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv" || { echo "schemathesis: python3 -m venv failed (apt-get install python3-venv)" >&2; exit 2; }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r scripts/requirements-schemathesis.txt >&2 \
    || { echo "schemathesis: cannot install schemathesis==$want" >&2; exit 2; }
fi

cargo build --quiet --locked -p local-dev -p bench >&2
bin="${CARGO_TARGET_DIR:-$root/target}/debug"

# shellcheck source=scripts/lib/processes.sh
source "$root/scripts/lib/processes.sh" schemathesis

# Zero delays: the fake model answers at once, so a chat example costs milliseconds.
"$bin/fake-upstream" --port 0 --first-token-ms 0 --chunk-ms 0 --chunks 3 --exit-after 1800 \
  >"$work/up.out" 2>"$work/up.err" &
pids+=("$!")
for _ in $(seq 1 100); do grep -q '^port=' "$work/up.out" 2>/dev/null && break; sleep 0.05; done
up="$(sed -n 's/^port=//p' "$work/up.out")"
[[ -n "$up" ]] || { echo "schemathesis: fake-upstream did not start:" >&2; cat "$work/up.err" >&2; exit 2; }

# Writes to /api/scenarios are exercised with the admin token (ignored_auth checks they are
# refused without it). A fresh one per run: it never leaves this script.
admin="st-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
# An empty working directory (no developer .env) and a clean environment. Every request comes
# from 127.0.0.1, so the per-client limits are lifted (429 is in the spec all the same).
(cd "$work/cwd" && exec env -i PATH="$PATH" PORT=0 HOST=127.0.0.1 STORE=memory \
  VEGVESEN_API_KEY=fake VEGVESEN_ENDPOINT="http://127.0.0.1:$up/enkeltoppslag/kjoretoydata" \
  OPENAI_API_KEY=fake OPENAI_BASE_URL="http://127.0.0.1:$up/v1" \
  CHAT_RATE_LIMIT_PER_MINUTE=1000000 CHAT_RATE_LIMIT_BURST=1000000 \
  PLATE_RATE_LIMIT_PER_MINUTE=1000000 PLATE_RATE_LIMIT_BURST=1000000 \
  METRICS_ENABLED=true ADMIN_TOKEN="$admin" \
  "$bin/local-dev") >"$work/runner.out" 2>"$work/runner.err" &
pids+=("$!")
addr=""
for _ in $(seq 1 100); do
  addr="$(grep -o 'addr=[0-9.:]*' "$work/runner.err" | head -1 | cut -d= -f2 || true)"
  [[ -n "$addr" ]] && break
  sleep 0.1
done
[[ -n "$addr" ]] || { echo "schemathesis: the runner did not start:" >&2; tail -5 "$work/runner.err" >&2; exit 2; }
base="http://$addr"

# Every check but those scripts/schemathesis.toml turns off, and says why.
echo "== schemathesis $want: $EXAMPLES examples per operation against $base/openapi.json"
started=$SECONDS
rc=0
# From the scratch folder: schemathesis keeps a crash cache (.schemathesis/) in its working
# directory, which must neither land in the repository nor carry over between runs.
cd "$work"
# shellcheck disable=SC2086 # SCHEMATHESIS_ARGS is a list of flags
"$venv/bin/schemathesis" --config-file "$root/scripts/schemathesis.toml" run "$base/openapi.json" --url "$base" \
  --max-examples "$EXAMPLES" --workers 1 \
  --header "Authorization: Bearer $admin" \
  --report junit --report-junit-path "$root/target/schemathesis-junit.xml" \
  ${SCHEMATHESIS_ARGS:-} || rc=$?
echo "== schemathesis finished in $((SECONDS - started)) s (exit $rc)"
if [[ $rc -ne 0 ]]; then
  echo "--- the runner's last log lines:" >&2
  tail -20 "$work/runner.err" >&2
fi
exit "$rc"
