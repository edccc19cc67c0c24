#!/usr/bin/env bash
# A bounded soak of the local runner on 127.0.0.1: /health, plate lookups (cache hits) and
# streamed chat (against bench's fake upstream) at the same time, then a report of errors,
# latency percentiles and the runner's memory before and after. Exits non-zero on any error.
#
#   scripts/load.sh                          # 60 s, 256 connections
#   DURATION=300 CONNECTIONS=512 scripts/load.sh
#   scripts/load.sh --no-build               # reuse target/release as it is
#
# Connections are split: half on /health, a quarter each on plate lookup and chat. The fake
# upstream answers chat after FIRST_TOKEN_MS (50) then CHUNKS (20) chunks CHUNK_MS (5) apart.
# Figures arrive as variables named after `measure`'s keys (see kv below), which shellcheck
# cannot follow.
# shellcheck disable=SC2154
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-60}"
CONNECTIONS="${CONNECTIONS:-256}"
FIRST_TOKEN_MS="${FIRST_TOKEN_MS:-50}"
CHUNK_MS="${CHUNK_MS:-5}"
CHUNKS="${CHUNKS:-20}"
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    -h | --help) sed -n "2,11p" scripts/load.sh | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "load: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done
if ! [[ "$DURATION" =~ ^[0-9]+$ ]] || ((DURATION < 1 || DURATION > 3600)); then
  echo "load: DURATION is whole seconds, 1 to 3600" >&2; exit 2
fi
if ! [[ "$CONNECTIONS" =~ ^[0-9]+$ ]] || ((CONNECTIONS < 4 || CONNECTIONS > 10000)); then
  echo "load: CONNECTIONS is 4 to 10000" >&2; exit 2
fi

FIXTURE="${FAKE_VEGVESEN_FIXTURE:-shared/tests/fixtures/vegvesen/bev-kia-niro-ec47213.json}"
missing=0
need() { command -v "$1" >/dev/null || { echo "load: $1 is missing: $2" >&2; missing=1; }; }
need cargo "install the Rust toolchain (https://rustup.rs)"
need wrk "apt-get install -y wrk"
need curl "apt-get install -y curl"
need awk "apt-get install -y gawk"
[[ -r "$FIXTURE" ]] || { echo "load: the Vegvesen fixture $FIXTURE is missing: set FAKE_VEGVESEN_FIXTURE to a readable file" >&2; missing=1; }
((missing == 0)) || exit 2

REL="${CARGO_TARGET_DIR:-target}/release"
if ((BUILD)); then
  cargo build --release --locked -p local-dev -p bench >&2
fi
for bin in local-dev fake-upstream measure; do
  [[ -x "$REL/$bin" ]] || { echo "load: $REL/$bin not built (drop --no-build)" >&2; exit 2; }
done
M="$REL/measure"
REL_ABS="$(cd "$REL" && pwd)"
# Every connection is a file descriptor, in wrk and in the runner (plus its upstream pool).
ulimit -n $((CONNECTIONS * 2 + 1024)) 2>/dev/null || true

# shellcheck source=scripts/lib/processes.sh
source scripts/lib/processes.sh load

"$REL/fake-upstream" --fixture "$FIXTURE" --first-token-ms "$FIRST_TOKEN_MS" --chunk-ms "$CHUNK_MS" \
  --chunks "$CHUNKS" --exit-after $((DURATION + 600)) >"$work/up.out" 2>"$work/up.err" &
pids+=("$!")
for _ in $(seq 1 100); do grep -q '^port=' "$work/up.out" 2>/dev/null && break; sleep 0.05; done
UP="$(sed -n 's/^port=//p' "$work/up.out")"
[[ -n "$UP" ]] || { echo "load: fake-upstream did not start:" >&2; cat "$work/up.err" >&2; exit 1; }

PORT="$("$M" free-port)"
# An empty working directory (no developer .env) and a clean environment; the access log goes to
# a file as it would to a collector. The chat rate limit is per client IP, and every request
# here comes from 127.0.0.1, so it is lifted.
(cd "$work/cwd" && exec env -i PORT="$PORT" HOST=127.0.0.1 \
  VEGVESEN_API_KEY=load VEGVESEN_ENDPOINT="http://127.0.0.1:$UP/enkeltoppslag/kjoretoydata" \
  OPENAI_API_KEY=load OPENAI_BASE_URL="http://127.0.0.1:$UP/v1" \
  CHAT_RATE_LIMIT_PER_MINUTE=100000000 CHAT_RATE_LIMIT_BURST=100000000 \
  "$REL_ABS/local-dev") >"$work/runner.out" 2>"$work/runner.err" &
RUNNER_PID=$!
pids+=("$RUNNER_PID")
"$M" wait --port "$PORT" --timeout-secs 20 >/dev/null ||
  { echo "load: the runner did not start:" >&2; tail -5 "$work/runner.err" >&2; exit 1; }

base="http://127.0.0.1:$PORT"
status="$(curl -s -o /dev/null -w '%{http_code}' "$base/plate-lookup/EC47213")"
[[ "$status" == 200 ]] || { echo "load: warming the plate cache answered $status" >&2; exit 1; }
count() { curl -s "http://127.0.0.1:$UP/count" | sed "s/.*\"$1\":\([0-9]*\).*/\1/"; }
plate_calls_before="$(count vegvesen)"
rss_before="$("$M" rss --pid "$RUNNER_PID")"

c_health=$((CONNECTIONS / 2))
c_plate=$((CONNECTIONS / 4))
c_chat=$((CONNECTIONS - c_health - c_plate))
echo "== soak: ${DURATION} s, $CONNECTIONS connections ($c_health /health, $c_plate plate lookup, $c_chat chat) on $base" >&2
soak() { # NAME CONNECTIONS [wrk args...] URL
  local name="$1" conns="$2"
  shift 2
  "$M" wrk --runs 1 --log "$work/$name.wrk" -- -t1 -c"$conns" -d"${DURATION}s" --timeout 10s "$@" \
    >"$work/$name.kv" 2>"$work/$name.err"
}
soak health "$c_health" "$base/health" &
w1=$!
soak plate "$c_plate" "$base/plate-lookup/EC47213" &
w2=$!
soak chat "$c_chat" -s scripts/chat.lua "$base/chat" &
w3=$!
pids+=("$w1" "$w2" "$w3")
# Mid-soak memory, halfway through.
sleep $((DURATION / 2))
rss_mid="$("$M" rss --pid "$RUNNER_PID")"
failed=0
for w in "$w1" "$w2" "$w3"; do wait "$w" || failed=1; done
rss_after="$("$M" rss --pid "$RUNNER_PID")"
sleep 2
rss_settled="$("$M" rss --pid "$RUNNER_PID")"
health_after="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/health" || true)"
plate_calls=$(($(count vegvesen) - plate_calls_before))
chat_calls="$(count chat)"

if ((failed)); then
  echo "load: a wrk run failed:" >&2
  cat "$work"/*.err "$work"/*.wrk >&2 2>/dev/null || true
  exit 1
fi

kv() { local prefix="$1" pair; for pair in $2; do printf -v "${prefix}_${pair%%=*}" '%s' "${pair#*=}"; done; }
kv before "$rss_before"
kv mid "$rss_mid"
kv after "$rss_after"
kv settled "$rss_settled"
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

errors=0
# The report is built in this shell (not in a pipeline's subshell) so `errors` survives it.
{
  echo "Soak: ${DURATION} s, $CONNECTIONS connections on 127.0.0.1 ($(nproc) cores; wrk and the runner share them)."
  echo
  echo "| endpoint | connections | requests | req/s | p50 | p90 | p99 | max | non-2xx | socket errors | incomplete streams |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for name in health plate chat; do
    kv r "$(cat "$work/$name.kv")"
    case "$name" in
      health) label="GET /health"; conns=$c_health; inc="—" ;;
      plate) label="GET /plate-lookup/EC47213 (cache hits)"; conns=$c_plate; inc="—" ;;
      chat) label="POST /chat (SSE, fake upstream)"; conns=$c_chat; inc="$r_incomplete" ;;
    esac
    errors=$((errors + r_non2xx + r_socket_errors + r_incomplete))
    printf '| %s | %s | %s | %s | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %s | %s | %s |\n' \
      "$label" "$conns" "$r_requests" "$r_rps_p50" "$r_lat_p50_ms" "$r_lat_p90_ms" "$r_lat_p99_ms" "$r_lat_max_ms" \
      "$r_non2xx" "$r_socket_errors" "$inc"
  done
  echo
  echo "Runner memory: RSS $(mib "$before_rss_kib") before → $(mib "$mid_rss_kib") halfway → $(mib "$after_rss_kib") at the end → $(mib "$settled_rss_kib") 2 s later; peak (VmHWM) $(mib "$settled_hwm_kib")."
  echo "Upstream calls during the soak: $plate_calls Statens vegvesen (all plate lookups were cache hits if 0), $chat_calls chat completions."
  echo "/health after the soak: $health_after."
} >"$work/report.md"
cat "$work/report.md"

if ((errors > 0)) || [[ "$health_after" != 200 ]] || ((plate_calls > 0)); then
  echo "load: FAILED ($errors errors, /health after: $health_after, $plate_calls uncached lookups)" >&2
  echo "--- wrk output:" >&2
  cat "$work"/*.wrk "$work"/*.err >&2 2>/dev/null || true
  exit 1
fi
echo "load: ok" >&2
