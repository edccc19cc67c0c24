#!/usr/bin/env bash
# The benchmark table: builds everything in release mode, measures the functions and the runner
# against references taken in the same run (the bare hyper `hello` floor, the runner's own
# /health, calling the fake upstream directly), prints one markdown table and writes it, with the
# machine described, to bench/results.md.
#
#   scripts/bench.sh            # the full run: ~5 minutes after the release build
#   scripts/bench.sh --quick    # fewer runs and shorter loads: ~45 s, for a smoke check
#   scripts/bench.sh --no-build # reuse target/release as it is
#
# The store's rows (a chat turn with no store, in memory, on SQLite and on PostgreSQL) measure
# PostgreSQL only when BENCH_DATABASE_URL is set (e.g.
# postgres://postgres@127.0.0.1:5432/test?sslmode=disable; it needs psql): each run uses a fresh
# schema in that database and drops it afterwards. Without it those rows say "skipped".
#
# Everything runs on 127.0.0.1; every load is bounded (wrk -d, request counts) and every process
# this script starts is stopped when it exits. See docs/performance.md for what each figure means.
# Figures arrive as variables named after `measure`'s keys (see kv below), which shellcheck
# cannot follow.
# shellcheck disable=SC2154
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --no-build) BUILD=0 ;;
    -h | --help) sed -n "2,17p" scripts/bench.sh | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

# ---- prerequisites -------------------------------------------------------------------------
FIXTURE="${FAKE_VEGVESEN_FIXTURE:-shared/tests/fixtures/vegvesen/bev-kia-niro-ec47213.json}"
missing=0
need() { # command, how to install
  command -v "$1" >/dev/null || { echo "bench: $1 is missing: $2" >&2; missing=1; }
}
need cargo "install the Rust toolchain (https://rustup.rs), rustc 1.85 or newer"
need rustc "install the Rust toolchain (https://rustup.rs)"
need wrk "apt-get install -y wrk"
need curl "apt-get install -y curl"
need awk "apt-get install -y gawk"
[[ -r /proc/self/status ]] || { echo "bench: needs Linux /proc (RSS is read from /proc/PID/status)" >&2; missing=1; }
[[ -r "$FIXTURE" ]] || { echo "bench: the Vegvesen fixture $FIXTURE is missing: set FAKE_VEGVESEN_FIXTURE to a readable file" >&2; missing=1; }
((missing == 0)) || exit 2

if ((QUICK)); then
  COLD_ROUNDS=2 COLD_PER_ROUND=5 RSS_RUNS=3 WRK_RUNS=1 WRK_DURATION=3s TTFT_REQ_1=20 TTFT_REQ_50=200
  STORE_ROUNDS=2 STORE_TURNS_1=100 STORE_TURNS_50=1000
else
  COLD_ROUNDS=6 COLD_PER_ROUND=5 RSS_RUNS=5 WRK_RUNS=5 WRK_DURATION=10s TTFT_REQ_1=100 TTFT_REQ_50=1000
  STORE_ROUNDS=3 STORE_TURNS_1=300 STORE_TURNS_50=2000
fi
WRK_CONNECTIONS=64
WRK_THREADS=2
FIRST_TOKEN_MS=50
CHUNK_MS=5
CHUNKS=20
# The store's rows: a second fake upstream that answers at once, so the turn is our code and the
# store, not the model's delays; 150 chunks make an answer of about 1 KB, like a FAQ answer.
STORE_CHUNKS=150

# ---- build ---------------------------------------------------------------------------------
TARGET="${CARGO_TARGET_DIR:-target}"
REL="$TARGET/release"
build_secs="not built (--no-build)"
if ((BUILD)); then
  echo "== cargo build --release (functions, runner, bench tools)" >&2
  t0=$SECONDS
  cargo build --release --locked -p health -p plate-lookup -p chat -p conversations -p local-dev -p bench >&2
  cargo build --release --locked -p chat --example offline_bench >&2
  build_secs="$((SECONDS - t0)) s"
fi
for bin in health plate-lookup chat conversations local-dev hello fake-upstream measure; do
  [[ -x "$REL/$bin" ]] || { echo "bench: $REL/$bin not built (drop --no-build)" >&2; exit 2; }
done
M="$REL/measure"
REL_ABS="$(cd "$REL" && pwd)"

# ---- processes -----------------------------------------------------------------------------
# shellcheck source=scripts/lib/processes.sh
source scripts/lib/processes.sh bench

# start VAR NAME BIN [K=V...]: starts BIN on a free port with a clean environment; sets VAR to the
# port and VAR_pid to the process id.
start() {
  local var="$1" name="$2" bin="$3" port
  shift 3
  port="$("$M" free-port)"
  (cd "$work/cwd" && exec env -i PORT="$port" HOST=127.0.0.1 "$@" "$REL_ABS/$bin") \
    >"$work/$name.out" 2>"$work/$name.err" &
  pids+=("$!")
  printf -v "$var" '%s' "$port"
  printf -v "${var}_pid" '%s' "$!"
  "$M" wait --port "$port" --timeout-secs 20 >/dev/null ||
    { echo "bench: $name did not start:" >&2; tail -5 "$work/$name.err" >&2; exit 1; }
}
stop() { # PID
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# kv PREFIX LINE: every key=value of a `measure` line becomes the variable PREFIX_key.
kv() {
  local prefix="$1" pair
  for pair in $2; do printf -v "${prefix}_${pair%%=*}" '%s' "${pair#*=}"; done
}

# ---- formatting ----------------------------------------------------------------------------
rows=()
row() { rows+=("| $1 | $2 | $3 | $4 | $5 | $6 | $7 |"); }
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { printf f, v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else printf "—" }'; }
delta_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f ms", a - b }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }
kib_mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. cold start -------------------------------------------------------------------------
# Rounds of a few runs per binary, binaries interleaved, so drift on a shared machine (another
# build, a noisy neighbour) hits the floor and the functions alike.
echo "== cold start (exec → first answer), $((COLD_ROUNDS * COLD_PER_ROUND)) runs each in $COLD_ROUNDS interleaved rounds" >&2
cold_specs=(
  "hello GET /health 200"
  "health GET /health 200"
  "plate-lookup GET /EC47213 503"
  "chat OPTIONS / 204"
  "conversations OPTIONS / 204"
  "local-dev GET /health 200"
)
declare -A cold_all listen_all
for ((round = 0; round < COLD_ROUNDS; round++)); do
  for spec in "${cold_specs[@]}"; do
    read -r bin method path expect <<<"$spec"
    kv c "$("$M" coldstart --bin "$REL_ABS/$bin" --runs "$COLD_PER_ROUND" --warmup 1 \
      --method "$method" --path "$path" --expect "$expect" --cwd "$work/cwd")"
    cold_all[$bin]+="$c_cold_ms_all,"
    listen_all[$bin]+="$c_listen_ms_all,"
  done
done
for spec in "${cold_specs[@]}"; do
  read -r bin _ <<<"$spec"
  prefix="c_${bin//-/_}"
  # shellcheck disable=SC2086 # the comma lists split into arguments on purpose
  kv "$prefix" "$("$M" stats --prefix cold_ms -- ${cold_all[$bin]//,/ })"
  # shellcheck disable=SC2086
  kv "$prefix" "$("$M" stats --prefix listen_ms -- ${listen_all[$bin]//,/ })"
done
cold_row() { # PREFIX SUBJECT
  local p="$1"
  local med="${p}_cold_ms_p50" p10="${p}_cold_ms_p10" p90="${p}_cold_ms_p90" mn="${p}_cold_ms_min" mx="${p}_cold_ms_max" lis="${p}_listen_ms_p50" n="${p}_cold_ms_n"
  row "cold start: exec → first answer" "$2" "$(fmt "${!med}" "%.2f ms")" \
    "p10–p90 $(fmt "${!p10}" "%.2f")–$(fmt "${!p90}" "%.2f"), min–max $(fmt "${!mn}" "%.2f")–$(fmt "${!mx}" "%.2f") (n=${!n}); listening at $(fmt "${!lis}" "%.2f") ms" \
    "\`hello\` (bare hyper)" "$(fmt "$c_hello_cold_ms_p50" "%.2f ms")" "$(ratio "${!med}" "$c_hello_cold_ms_p50")"
}
row "cold start: exec → first answer" "\`hello\` GET /health → 200 (the floor)" "$(fmt "$c_hello_cold_ms_p50" "%.2f ms")" \
  "p10–p90 $(fmt "$c_hello_cold_ms_p10" "%.2f")–$(fmt "$c_hello_cold_ms_p90" "%.2f"), min–max $(fmt "$c_hello_cold_ms_min" "%.2f")–$(fmt "$c_hello_cold_ms_max" "%.2f") (n=$c_hello_cold_ms_n); listening at $(fmt "$c_hello_listen_ms_p50" "%.2f") ms" \
  "—" "—" "1.00×"
cold_row c_health "\`health\` GET /health → 200"
cold_row c_plate_lookup "\`plate-lookup\` GET /EC47213 → 503 (no key)"
cold_row c_chat "\`chat\` OPTIONS / → 204"
cold_row c_conversations "\`conversations\` OPTIONS / → 204"
cold_row c_local_dev "runner (\`local-dev\`) GET /health → 200"

# ---- 2. binary sizes -----------------------------------------------------------------------
size_hello="$(stat -c %s "$REL/hello")"
for bin in health plate-lookup chat conversations local-dev; do
  s="$(stat -c %s "$REL/$bin")"
  row "binary size (release, stripped)" "\`$bin\`" "$(mib "$s")" "$s B" "\`hello\`" "$(mib "$size_hello") ($size_hello B)" "$(ratio "$s" "$size_hello")"
done

# ---- 3. idle RSS ---------------------------------------------------------------------------
echo "== idle RSS, $RSS_RUNS starts each" >&2
idle_rss() { # PREFIX BIN
  local values=() i line
  for ((i = 0; i < RSS_RUNS; i++)); do
    start _p rss-probe "$2"
    sleep 0.3
    line="$("$M" rss --pid "$_p_pid")"
    values+=("${line%% *}")
    stop "$_p_pid"
  done
  kv "$1" "$("$M" stats --prefix rss -- "${values[@]#rss_kib=}")"
}
idle_rss i_hello hello
idle_rss i_health health
idle_rss i_runner local-dev
for p in health runner; do
  med="i_${p}_rss_p50" mn="i_${p}_rss_min" mx="i_${p}_rss_max"
  subject="\`health\`"; [[ "$p" == runner ]] && subject="runner (\`local-dev\`)"
  row "idle RSS after start" "$subject" "$(kib_mib "${!med}")" "min–max $(kib_mib "${!mn}")–$(kib_mib "${!mx}") ($RSS_RUNS starts)" \
    "\`hello\`" "$(kib_mib "$i_hello_rss_p50")" "$(ratio "${!med}" "$i_hello_rss_p50")"
done

# ---- 4. /health throughput: runner vs hello ------------------------------------------------
"$REL/fake-upstream" --fixture "$FIXTURE" --first-token-ms "$FIRST_TOKEN_MS" --chunk-ms "$CHUNK_MS" \
  --chunks "$CHUNKS" --exit-after 1200 >"$work/up.out" 2>"$work/up.err" &
pids+=("$!")
for _ in $(seq 1 100); do grep -q '^port=' "$work/up.out" 2>/dev/null && break; sleep 0.05; done
UP="$(sed -n 's/^port=//p' "$work/up.out")"
[[ -n "$UP" ]] || { echo "bench: fake-upstream did not start:" >&2; cat "$work/up.err" >&2; exit 1; }

start HELLO hello hello
start RUNNER runner local-dev \
  VEGVESEN_API_KEY=bench VEGVESEN_ENDPOINT="http://127.0.0.1:$UP/enkeltoppslag/kjoretoydata" \
  OPENAI_API_KEY=bench OPENAI_BASE_URL="http://127.0.0.1:$UP/v1" \
  CHAT_RATE_LIMIT_PER_MINUTE=1000000 CHAT_RATE_LIMIT_BURST=1000000
wrk_args=(-t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --timeout 5s)

# The loads run in rounds rather than blocks: each round measures the floor, the runner's
# /health and a plate cache hit back to back, so drift on a shared machine (another build, a
# noisy neighbour, CPU steal) hits all three alike. A ratio is the median of each round's
# ratio, not the ratio of two medians taken minutes apart.
declare -A L # L[subject.key]: that figure of each round, space-separated
wrk_round() { # SUBJECT PID URL: one wrk run, its figures appended to SUBJECT's lists
  local subject="$1" pid="$2" url="$3" pair
  for pair in $("$M" wrk --runs 1 --pid "$pid" -- "${wrk_args[@]}" "$url"); do
    L[$subject.${pair%%=*}]+="${pair#*=} "
  done
}
# wrk_summary SUBJECT PREFIX: PREFIX_rps_{p50,min,max}, PREFIX_cpu_us_per_req_{p50,min,max},
# PREFIX_lat_p50_ms, PREFIX_lat_p99_ms{,_min,_max} (medians and spread over the rounds), and
# PREFIX_{requests,socket_errors,non2xx} (sums).
wrk_summary() {
  local subject="$1" prefix="$2" key v sum
  # shellcheck disable=SC2086 # the lists split into arguments on purpose
  {
    kv "$prefix" "$("$M" stats --prefix rps -- ${L[$subject.rps_p50]})"
    kv "$prefix" "$("$M" stats --prefix cpu_us_per_req -- ${L[$subject.cpu_us_per_req_p50]})"
    kv lat50 "$("$M" stats --prefix v -- ${L[$subject.lat_p50_ms]})"
    kv lat99 "$("$M" stats --prefix v -- ${L[$subject.lat_p99_ms]})"
  }
  printf -v "${prefix}_lat_p50_ms" '%s' "$lat50_v_p50"
  printf -v "${prefix}_lat_p99_ms" '%s' "$lat99_v_p50"
  printf -v "${prefix}_lat_p99_ms_min" '%s' "$lat99_v_min"
  printf -v "${prefix}_lat_p99_ms_max" '%s' "$lat99_v_max"
  for key in requests socket_errors non2xx; do
    sum=0
    for v in ${L[$subject.$key]}; do sum=$((sum + v)); done
    printf -v "${prefix}_$key" '%s' "$sum"
  done
}

status="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RUNNER/plate-lookup/EC47213")"
[[ "$status" == 200 ]] || { echo "bench: warming the plate cache answered $status" >&2; exit 1; }
calls_before="$(curl -s "http://127.0.0.1:$UP/count" | sed 's/.*"vegvesen":\([0-9]*\).*/\1/')"
echo "== load: wrk ${wrk_args[*]}, $WRK_RUNS rounds of hello /health, runner /health, runner plate cache hit" >&2
health_ratios="" plate_ratios="" plate_health_ratios=""
for ((round = 0; round < WRK_RUNS; round++)); do
  wrk_round hello "$HELLO_pid" "http://127.0.0.1:$HELLO/health"
  wrk_round runner "$RUNNER_pid" "http://127.0.0.1:$RUNNER/health"
  wrk_round plate "$RUNNER_pid" "http://127.0.0.1:$RUNNER/plate-lookup/EC47213"
  read -r -a h <<<"${L[hello.rps_p50]}"
  read -r -a r <<<"${L[runner.rps_p50]}"
  read -r -a p <<<"${L[plate.rps_p50]}"
  health_ratios+="$(awk -v a="${r[round]}" -v b="${h[round]}" 'BEGIN { printf "%.4f", a / b }') "
  plate_ratios+="$(awk -v a="${p[round]}" -v b="${h[round]}" 'BEGIN { printf "%.4f", a / b }') "
  plate_health_ratios+="$(awk -v a="${p[round]}" -v b="${r[round]}" 'BEGIN { printf "%.4f", a / b }') "
done
calls_after="$(curl -s "http://127.0.0.1:$UP/count" | sed 's/.*"vegvesen":\([0-9]*\).*/\1/')"
wrk_summary hello w_hello
wrk_summary runner w_runner
wrk_summary plate w_plate
# shellcheck disable=SC2086
{
  kv q_health "$("$M" stats --prefix r -- $health_ratios)"
  kv q_plate "$("$M" stats --prefix r -- $plate_ratios)"
  kv q_plate_health "$("$M" stats --prefix r -- $plate_health_ratios)"
}
kv h_hello "$("$M" rss --pid "$HELLO_pid")"
kv h_runner "$("$M" rss --pid "$RUNNER_pid")"
stop "$HELLO_pid"
paired() { # PREFIX: "0.78× (0.74–0.81)", the median of the rounds' ratios and their spread
  local p50="${1}_r_p50" min="${1}_r_min" max="${1}_r_max"
  awk -v m="${!p50}" -v lo="${!min}" -v hi="${!max}" 'BEGIN { printf "%.2f× (%.2f–%.2f)", m, lo, hi }'
}

row "/health throughput" "runner GET /health" "$(fmt "$w_runner_rps_p50" "%.0f req/s")" \
  "min–max $(fmt "$w_runner_rps_min" "%.0f")–$(fmt "$w_runner_rps_max" "%.0f") over $WRK_RUNS rounds; errors $((w_runner_socket_errors + w_runner_non2xx))" \
  "\`hello\`" "$(fmt "$w_hello_rps_p50" "%.0f req/s")" "$(paired q_health)"
row "/health latency p50 / p99" "runner GET /health" "$(fmt "$w_runner_lat_p50_ms" "%.3f") / $(fmt "$w_runner_lat_p99_ms" "%.3f ms")" \
  "p99 min–max $(fmt "$w_runner_lat_p99_ms_min" "%.3f")–$(fmt "$w_runner_lat_p99_ms_max" "%.3f") ms" \
  "\`hello\`" "$(fmt "$w_hello_lat_p50_ms" "%.3f") / $(fmt "$w_hello_lat_p99_ms" "%.3f ms")" "$(ratio "$w_runner_lat_p50_ms" "$w_hello_lat_p50_ms") (p50)"
row "/health server CPU per request" "runner GET /health" "$(fmt "$w_runner_cpu_us_per_req_p50" "%.2f µs")" \
  "min–max $(fmt "$w_runner_cpu_us_per_req_min" "%.2f")–$(fmt "$w_runner_cpu_us_per_req_max" "%.2f") µs (user + system time of the server ÷ requests)" \
  "\`hello\`" "$(fmt "$w_hello_cpu_us_per_req_p50" "%.2f µs")" "$(ratio "$w_runner_cpu_us_per_req_p50" "$w_hello_cpu_us_per_req_p50")"
row "peak RSS (VmHWM) after the loads" "runner" "$(kib_mib "$h_runner_hwm_kib")" "one process, $WRK_RUNS rounds × $WRK_DURATION at $WRK_CONNECTIONS connections (/health and plate hits)" \
  "\`hello\`" "$(kib_mib "$h_hello_hwm_kib")" "$(ratio "$h_runner_hwm_kib" "$h_hello_hwm_kib")"

# ---- 5. plate lookup, cache hits -----------------------------------------------------------
row "plate lookup throughput (cache hits)" "runner GET /plate-lookup/EC47213" "$(fmt "$w_plate_rps_p50" "%.0f req/s")" \
  "min–max $(fmt "$w_plate_rps_min" "%.0f")–$(fmt "$w_plate_rps_max" "%.0f"); p50/p99 $(fmt "$w_plate_lat_p50_ms" "%.3f")/$(fmt "$w_plate_lat_p99_ms" "%.3f") ms; $w_plate_requests requests → $((calls_after - calls_before)) upstream calls ($calls_before to warm); errors $((w_plate_socket_errors + w_plate_non2xx))" \
  "\`hello\` GET /health (the floor)" "$(fmt "$w_hello_rps_p50" "%.0f req/s")" "$(paired q_plate)"
row "plate lookup throughput (cache hits) against the runner's /health" "runner GET /plate-lookup/EC47213" "$(fmt "$w_plate_rps_p50" "%.0f req/s")" \
  "the same rounds" \
  "runner GET /health" "$(fmt "$w_runner_rps_p50" "%.0f req/s")" "$(paired q_plate_health)"
row "plate lookup server CPU per request (cache hits)" "runner GET /plate-lookup/EC47213" "$(fmt "$w_plate_cpu_us_per_req_p50" "%.2f µs")" \
  "min–max $(fmt "$w_plate_cpu_us_per_req_min" "%.2f")–$(fmt "$w_plate_cpu_us_per_req_max" "%.2f") µs" \
  "runner GET /health" "$(fmt "$w_runner_cpu_us_per_req_p50" "%.2f µs")" "$(ratio "$w_plate_cpu_us_per_req_p50" "$w_runner_cpu_us_per_req_p50")"

# ---- 6. chat pass-through ------------------------------------------------------------------
echo "== chat pass-through (fake upstream: ${FIRST_TOKEN_MS} ms to the first chunk, ${CHUNK_MS} ms between $CHUNKS chunks)" >&2
chat_body='{"message":"Hvor lenge varer batterigarantien?","stream":true}'
direct_body='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hvor lenge varer batterigarantien?"}]}'
for c in 1 50; do
  n="$TTFT_REQ_1"; ((c == 50)) && n="$TTFT_REQ_50"
  kv "t_direct_$c" "$("$M" ttft --url "http://127.0.0.1:$UP/v1/chat/completions" --body "$direct_body" --format openai --concurrency "$c" --requests "$n")"
  kv "t_runner_$c" "$("$M" ttft --url "http://127.0.0.1:$RUNNER/chat" --body "$chat_body" --format elbatt --concurrency "$c" --requests "$n")"
  for what in ttft total; do
    label="time to first token"; [[ "$what" == total ]] && label="whole reply"
    r50="t_runner_${c}_${what}_ms_p50" r99="t_runner_${c}_${what}_ms_p99" d50="t_direct_${c}_${what}_ms_p50" d99="t_direct_${c}_${what}_ms_p99"
    rerr="t_runner_${c}_errors" derr="t_direct_${c}_errors"
    row "chat $label p50 / p99, $c concurrent" "runner POST /chat (SSE)" "$(fmt "${!r50}" "%.2f") / $(fmt "${!r99}" "%.2f ms")" \
      "$n requests; errors ${!rerr} (direct ${!derr})" \
      "fake upstream directly" "$(fmt "${!d50}" "%.2f") / $(fmt "${!d99}" "%.2f ms")" "$(delta_ms "${!r50}" "${!d50}") / $(delta_ms "${!r99}" "${!d99}")"
  done
done
kv h_runner_all "$("$M" rss --pid "$RUNNER_pid")"
# ---- offline answers (no model: the FAQ ranked by BM25) ---------------------------------------
echo "== offline answer time: every evaluation question, 200 rounds" >&2
kv o "$("$REL/examples/offline_bench" | tail -1)"
row "offline answer (one question)" "chat FAQ search p50 / p95" "$(fmt "$o_p50_us" "%.1f") / $(fmt "$o_p95_us" "%.1f µs")" \
  "$o_answers answers; index built on the first: $(fmt "$o_first_ms" "%.1f ms")" "—" "—" "—"
row "peak RSS (VmHWM) after all loads" "runner" "$(kib_mib "$h_runner_all_hwm_kib")" "now $(kib_mib "$h_runner_all_rss_kib") resident" \
  "runner after the /health and plate loads" "$(kib_mib "$h_runner_hwm_kib")" "$(ratio "$h_runner_all_hwm_kib" "$h_runner_hwm_kib")"

# ---- 7. the store: a chat turn without it, in memory, on SQLite and on PostgreSQL ----------
# One runner per mode, all started together against one fake upstream that answers at once; the
# same turn (no conversation_id: it starts a conversation and stores both messages before replying)
# in rounds with the modes interleaved, so drift on a shared machine hits every mode alike.
echo "== the store: chat turns, $STORE_ROUNDS interleaved rounds of $STORE_TURNS_1 at 1 and $STORE_TURNS_50 at 50 concurrent per mode" >&2
"$REL/fake-upstream" --first-token-ms 0 --chunk-ms 0 --chunks "$STORE_CHUNKS" --exit-after 900 \
  >"$work/up0.out" 2>"$work/up0.err" &
pids+=("$!")
for _ in $(seq 1 100); do grep -q '^port=' "$work/up0.out" 2>/dev/null && break; sleep 0.05; done
UP0="$(sed -n 's/^port=//p' "$work/up0.out")"
[[ -n "$UP0" ]] || { echo "bench: fake-upstream (no delays) did not start:" >&2; cat "$work/up0.err" >&2; exit 1; }
store_env=(OPENAI_API_KEY=bench OPENAI_BASE_URL="http://127.0.0.1:$UP0/v1"
  CHAT_RATE_LIMIT_PER_MINUTE=1000000 CHAT_RATE_LIMIT_BURST=1000000)

# PostgreSQL only with BENCH_DATABASE_URL, in a schema of its own (search_path through the URL's
# `options`), dropped when the run ends however it ends.
PG_URL="${BENCH_DATABASE_URL:-}"
pg_skip="" pg_schema=""
if [[ -z "$PG_URL" ]]; then
  pg_skip="skipped: set BENCH_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to measure PostgreSQL"
elif ! command -v psql >/dev/null; then
  pg_skip="skipped: BENCH_DATABASE_URL is set but psql is missing (apt-get install -y postgresql-client)"
elif ! psql "$PG_URL" -qAtX -c 'SELECT 1' >/dev/null 2>"$work/psql.err"; then
  pg_skip="skipped: PostgreSQL at BENCH_DATABASE_URL does not answer ($(head -1 "$work/psql.err"))"
else
  pg_schema="elbatt_bench_$(date +%s)_$$"
  pg_drop() { [[ -z "$pg_schema" ]] || psql "$PG_URL" -qAtX -c "DROP SCHEMA IF EXISTS $pg_schema CASCADE" >/dev/null 2>&1 || true; }
  trap 'cleanup; pg_drop' EXIT
  psql "$PG_URL" -qAtX -v ON_ERROR_STOP=1 -c "CREATE SCHEMA $pg_schema" >/dev/null
fi
[[ -z "$pg_skip" ]] || echo "bench: PostgreSQL $pg_skip" >&2

store_modes=(off memory sqlite)
start S_off store-off local-dev STORE=off "${store_env[@]}"
start S_memory store-memory local-dev STORE=memory "${store_env[@]}"
start S_sqlite store-sqlite local-dev STORE=auto DATABASE_PATH="$work/store.db" "${store_env[@]}"
if [[ -n "$pg_schema" ]]; then
  sep="?"; [[ "$PG_URL" == *\?* ]] && sep="&"
  start S_pg store-pg local-dev STORE=auto \
    DATABASE_URL="${PG_URL}${sep}options=-c%20search_path%3D${pg_schema}" "${store_env[@]}"
  store_modes+=(pg)
fi
# Opens each store (migrations) before anything is timed.
for m in "${store_modes[@]}"; do
  port_var="S_$m"
  curl -s -o /dev/null "http://127.0.0.1:${!port_var}/ready"
done

# `"stream": false`: one JSON reply, stored before it is sent. (Streamed, a kept-alive connection
# to the runner waits ~40 ms per turn here: small SSE writes without TCP_NODELAY meet the client's
# delayed ACK, which would bury the store's fraction of a millisecond.)
turn_body='{"message":"Hvor lenge varer batterigarantien?","stream":false}'
declare -A lat_all tps_all stored_all errors_all
for m in "${store_modes[@]}"; do stored_all[$m]=0; errors_all[$m]=0; done
for ((round = 0; round < STORE_ROUNDS; round++)); do
  for m in "${store_modes[@]}"; do
    port_var="S_$m"
    kv s "$("$M" turns --url "http://127.0.0.1:${!port_var}/chat" --body "$turn_body" --concurrency 1 --requests "$STORE_TURNS_1" --all)"
    lat_all[$m]+="$s_total_ms_all,"
    stored_all[$m]=$((stored_all[$m] + s_stored)); errors_all[$m]=$((errors_all[$m] + s_errors))
    kv s "$("$M" turns --url "http://127.0.0.1:${!port_var}/chat" --body "$turn_body" --concurrency 50 --requests "$STORE_TURNS_50")"
    tps_all[$m]+="$s_turns_per_s,"
    stored_all[$m]=$((stored_all[$m] + s_stored)); errors_all[$m]=$((errors_all[$m] + s_errors))
  done
done
for m in "${store_modes[@]}"; do
  # shellcheck disable=SC2086 # the comma lists split into arguments on purpose
  kv "st_$m" "$("$M" stats --prefix lat -- ${lat_all[$m]//,/ })"
  # shellcheck disable=SC2086
  kv "st_$m" "$("$M" stats --prefix tps -- ${tps_all[$m]//,/ })"
done
store_label() { # MODE
  case "$1" in
    off) echo "runner, \`STORE=off\` (stateless)" ;;
    memory) echo "runner, \`STORE=memory\`" ;;
    sqlite) echo "runner, SQLite (WAL, \`synchronous=NORMAL\`)" ;;
    pg) echo "runner, PostgreSQL (\`BENCH_DATABASE_URL\`)" ;;
  esac
}
# Every turn of a mode, warm-ups included; each stored one is 2 messages.
store_turns=$((STORE_ROUNDS * (STORE_TURNS_1 + 1 + STORE_TURNS_50 + 50)))
for m in "${store_modes[@]}"; do
  p50="st_${m}_lat_p50" p99="st_${m}_lat_p99" n="st_${m}_lat_n"
  row "chat turn with the store p50 / p99, 1 concurrent" "$(store_label "$m") POST /chat (JSON, new conversation)" \
    "$(fmt "${!p50}" "%.3f") / $(fmt "${!p99}" "%.3f ms")" \
    "POST → end of the reply, ${!n} turns in $STORE_ROUNDS rounds; stored ${stored_all[$m]} of the mode's $store_turns turns; errors ${errors_all[$m]}" \
    "$(store_label off)" "$(fmt "$st_off_lat_p50" "%.3f") / $(fmt "$st_off_lat_p99" "%.3f ms")" \
    "$(delta_ms "${!p50}" "$st_off_lat_p50") / $(delta_ms "${!p99}" "$st_off_lat_p99")"
done
for m in "${store_modes[@]}"; do
  [[ "$m" == off ]] && continue
  med="st_${m}_tps_p50" mn="st_${m}_tps_min" mx="st_${m}_tps_max"
  row "messages stored per second, 50 concurrent chats" "$(store_label "$m")" "$(awk -v t="${!med}" 'BEGIN { printf "%.0f msg/s", 2 * t }')" \
    "$(fmt "${!med}" "%.0f") turns/s (2 messages each), min–max $(fmt "${!mn}" "%.0f")–$(fmt "${!mx}" "%.0f") over $STORE_ROUNDS runs of $STORE_TURNS_50 turns" \
    "$(store_label off), turns/s" "$(fmt "$st_off_tps_p50" "%.0f turns/s")" "$(ratio "${!med}" "$st_off_tps_p50")"
done
if [[ -n "$pg_skip" ]]; then
  row "chat turn with the store / messages stored per second" "runner, PostgreSQL" "—" "$pg_skip" "—" "—" "—"
fi

# Database size: SQLite's file (and WAL) once the runner has stopped; PostgreSQL's tables with
# their indexes and TOAST. Messages: 2 per stored turn (warm-ups included).
stop "$S_sqlite_pid"
sqlite_bytes=0
for f in "$work/store.db" "$work/store.db-wal"; do
  [[ -e "$f" ]] && sqlite_bytes=$((sqlite_bytes + $(stat -c %s "$f")))
done
sqlite_msgs=$((2 * stored_all[sqlite]))
size_row() { # SUBJECT BYTES MESSAGES HOW
  row "database size per 1,000 messages" "$1" "$(awk -v b="$2" -v m="$3" 'BEGIN { if (m > 0) printf "%.2f MB", b / m / 1000; else printf "—" }')" \
    "$2 B for $3 messages ($4); answers of ~1 KB, one conversation per turn" "—" "—" "—"
}
size_row "SQLite file" "$sqlite_bytes" "$sqlite_msgs" "file + WAL after the runner stopped"
if [[ -n "$pg_schema" ]]; then
  stop "$S_pg_pid"
  read -r pg_bytes pg_msgs < <(psql "$PG_URL" -qAtX -F ' ' -c \
    "SELECT pg_total_relation_size('$pg_schema.conversations') + pg_total_relation_size('$pg_schema.messages'), (SELECT count(*) FROM $pg_schema.messages)")
  size_row "PostgreSQL \`conversations\` + \`messages\`" "$pg_bytes" "$pg_msgs" "pg_total_relation_size: tables, indexes, TOAST"
  pg_drop
  pg_schema=""
else
  row "database size per 1,000 messages" "PostgreSQL" "—" "$pg_skip" "—" "—" "—"
fi
stop "$S_off_pid"
stop "$S_memory_pid"

# ---- the table -----------------------------------------------------------------------------
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
ram="$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
mode="full"; ((QUICK)) && mode="--quick"
{
  echo "Machine: ${cpu:-unknown CPU}, $(nproc) cores, $ram RAM, Linux $(uname -r); $(rustc --version)."
  echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), scripts/bench.sh $mode; release build $build_secs; load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (anything above 0 is other work sharing the 2 cores)."
  echo "Cold starts: $((COLD_ROUNDS * COLD_PER_ROUND)) runs each in $COLD_ROUNDS interleaved rounds (one unrecorded warm-up run per round), page cache warm. Load: wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION, $WRK_RUNS rounds of the floor, the runner's /health and a plate cache hit back to back, on the same 2 cores as the server; a throughput ratio is the median (and range) of the rounds' ratios."
  echo "Fake upstream: $FIRST_TOKEN_MS ms to the first chunk, $CHUNK_MS ms between $CHUNKS chunks; for the store's rows a second one answering at once with $STORE_CHUNKS chunks (~1 KB)."
  echo
  echo "| figure | subject | median | spread | reference (same run) | reference | ratio / Δ |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$work/table.md"
{
  echo "# Benchmark results"
  echo
  echo "Written by \`scripts/bench.sh\`; what each figure means is in the [README](../README.md#performance)."
  echo
  cat "$work/table.md"
} >bench/results.md
cat "$work/table.md"
echo >&2
echo "bench: written to bench/results.md" >&2
