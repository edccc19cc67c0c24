#!/usr/bin/env bash
# Zip parity test for the Scaleway Functions packages (scripts/package-function.sh).
#
# For each function: packages the zip, unpacks it, adds a stand-in for Scaleway's rust196 wrapper
# (scripts/function-zip/standin: an axum 0.8 server calling the zip's `handle`), builds it offline
# against the local cargo cache (after one `cargo fetch`), starts it on a free port and runs the
# same request/response checks as the runner's tests for that function.
#   scripts/test-function-zips.sh [health|plate-lookup|chat|conversations|scenarios ...]   # default: all
# Scaleway's build ignores Cargo.lock, so each zip's manifest is also resolved without it
# (scripts/function-zip/resolve-unlocked.py: resolution only, crates.io must be reachable) and must
# give the lock's versions.
# Env: ZIP_PARITY_FETCH=0 skips `cargo fetch` and that resolution (fully offline; the cache must be
# warm).
# Prints zip sizes and build times, then `N passed, M failed`; exits non-zero on any failure.
# The checks are `check NAME eval '…'`: the single-quoted conditions are expanded when eval runs.
# shellcheck disable=SC2016
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
functions=("$@")
# Default: every function in functions/list.txt.
[[ ${#functions[@]} -gt 0 ]] || mapfile -t functions < <(python3 "$root/scripts/function-zip/generate.py" --list)

need() { command -v "$1" >/dev/null || { echo "zip-parity: $1 is required ($2)" >&2; exit 2; }; }
need cargo "install Rust: https://rustup.rs"
need python3 "apt-get install python3"
need zip "apt-get install zip"
need unzip "apt-get install unzip"
need curl "apt-get install curl"

# One target dir for the three builds (and for later runs): the crates they share compile once.
# The zips are unpacked at fixed paths for the same reason (a path dependency's identity is its
# path).
export CARGO_TARGET_DIR="$root/target/zip-parity"
work="$CARGO_TARGET_DIR/unpacked"
mkdir -p "$work"
tmp="$(mktemp -d)"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

passed=0
failed=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() {
  echo "FAIL $1" >&2
  if [[ -s "$tmp/body" ]]; then echo "--- body: $(head -c 400 "$tmp/body")" >&2; fi
  failed=$((failed + 1))
}
# check DESCRIPTION COMMAND...: one check, passed when COMMAND succeeds.
check() { local what="$1"; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

# request METHOD PATH [curl args...]: sets $status; body in $tmp/body, headers in $tmp/headers.
request() {
  local method="$1" path="$2"; shift 2
  : >"$tmp/body"; : >"$tmp/headers"
  status="$(curl -sS -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$method" \
    --max-time 60 "$@" "$base$path" 2>"$tmp/curl.err")" || status="${status:-000}"
}
header() { grep -i "^$1:" "$tmp/headers" | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//' || true; }
body_is() { [[ "$(cat "$tmp/body")" == "$1" ]]; }
body_has() { grep -q -- "$1" "$tmp/body"; }
is() { [[ "$1" == "$2" ]]; }
json_ct() { [[ "$(header content-type)" == application/json* ]]; }
is_json_object() { python3 -c 'import json,sys; sys.exit(0 if isinstance(json.load(open(sys.argv[1])), dict) else 1)' "$tmp/body" 2>/dev/null; }

# Sends only the headers of a POST declaring LENGTH bytes and prints the status the server
# answers with before the body arrives ("none" if it waits).
declared_post() {
  python3 - "$1" "$2" "$3" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(f"POST {sys.argv[2]} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          f"Content-Length: {sys.argv[3]}\r\n\r\n".encode())
try:
    line = s.recv(4096).split(b"\r\n", 1)[0].decode()
    print(line.split(" ")[1] if line.startswith("HTTP/") else "none")
except socket.timeout:
    print("none")
PY
}

# start_standin ENV...: starts the built stand-in with exactly ENV (no keys from the caller's
# environment) and sets $base.
start_standin() {
  local log="$tmp/standin.$RANDOM"
  : >"$log.out"; : >"$log.err"
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" RUST_LOG=warn "$@" \
    "$CARGO_TARGET_DIR/debug/standin" >"$log.out" 2>"$log.err" &
  pids+=("$!")
  local addr=""
  for _ in $(seq 1 100); do
    addr="$(sed -n 's/^listening on //p' "$log.out" | head -1)"
    [[ -n "$addr" ]] && break
    sleep 0.1
  done
  [[ -n "$addr" ]] || { echo "zip-parity: the stand-in did not start" >&2; cat "$log.err" >&2; exit 1; }
  base="http://$addr"
}
stop_standins() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  pids=()
}

echo "== packaging"
started=$SECONDS
"$root/scripts/package-function.sh" all "$work/dist" | sed 's/^/   /'
echo "   packaged in $((SECONDS - started)) s"
for fn in "${functions[@]}"; do
  printf '   %-13s %8s bytes (zip)\n' "$fn" "$(stat -c %s "$work/dist/$fn.zip")"
done

# Writes the stand-in crate for the unpacked zip at $work/fn, with the zip's own axum and tokio.
write_standin() {
  local dir="$work/standin" axum tokio
  rm -rf "$dir"; mkdir -p "$dir"
  axum="$(sed -n 's/^axum = { version = "=\([^"]*\)".*/\1/p' "$work/fn/Cargo.toml")"
  tokio="$(sed -n 's/^tokio = { version = "=\([^"]*\)".*/\1/p' "$work/fn/shared/Cargo.toml")"
  [[ -n "$axum" && -n "$tokio" ]] || { echo "zip-parity: no axum/tokio pin in the zip" >&2; exit 1; }
  cp "$root/scripts/function-zip/standin/main.rs" "$dir/main.rs"
  cat >"$dir/Cargo.toml" <<EOF
[package]
name = "standin"
version = "0.0.0"
edition = "2024"
publish = false

[[bin]]
name = "standin"
path = "main.rs"

[dependencies]
handler = { path = "../fn" }
axum = { version = "=$axum", default-features = false, features = ["tokio", "http1"] }
tokio = { version = "=$tokio", default-features = false, features = ["rt-multi-thread", "macros", "net"] }

[profile.dev]
debug = false

[workspace]
EOF
  # Start from the zip's lock: the same versions Scaleway is told to use.
  cp "$work/fn/Cargo.lock" "$dir/Cargo.lock"
}

fetched=0
build_total=0
if [[ "${ZIP_PARITY_FETCH:-1}" != 0 ]]; then
  check "the lock-free resolution check reports a crate that drifts from its lock" \
    python3 "$root/scripts/function-zip/resolve-unlocked.py" --self-test
fi
for fn in "${functions[@]}"; do
  echo "== $fn"
  rm -rf "$work/fn"; mkdir -p "$work/fn"
  unzip -q "$work/dist/$fn.zip" -d "$work/fn"
  # The zips carry fixed timestamps (reproducible builds); cargo decides by mtime, so without
  # this a reused target directory keeps running the previous zip's build.
  find "$work/fn" -exec touch {} +
  write_standin
  manifest="$work/standin/Cargo.toml"
  if [[ "${ZIP_PARITY_FETCH:-1}" != 0 && $fetched == 0 ]]; then
    # Registries are reachable in CI; afterwards every build is --offline.
    cargo fetch --quiet --target x86_64-unknown-linux-gnu --manifest-path "$manifest" || echo "   cargo fetch failed; trying offline" >&2
    fetched=1
  fi
  if [[ "${ZIP_PARITY_FETCH:-1}" != 0 ]]; then
    check "$fn: without Cargo.lock (as Scaleway builds it) the manifest resolves to the lock's versions" \
      python3 "$root/scripts/function-zip/resolve-unlocked.py" "$work/fn"
  fi
  started=$SECONDS
  if ! cargo build --offline --quiet --manifest-path "$manifest" 2>"$tmp/build.err"; then
    cat "$tmp/build.err" >&2
    fail "$fn: the unpacked zip builds offline"
    continue
  fi
  took=$((SECONDS - started)); build_total=$((build_total + took))
  pass "$fn: the unpacked zip builds offline with the stand-in wrapper (${took} s)"

  case "$fn" in
    health)
      start_standin
      for path in /health / ; do
        request GET "$path" -H 'x-request-id: trace-42'
        check "health: GET $path -> 200 {\"status\":\"healthy\"} byte for byte, application/json" \
          eval 'is "$status" 200 && body_is "{\"status\":\"healthy\"}" && is "$(header content-type)" application/json'
        check "health: GET $path echoes the client's x-request-id" is "$(header x-request-id)" trace-42
      done
      request GET /api/health
      check 'health: GET /api/health -> 200 {"ok":true}' eval 'is "$status" 200 && body_is "{\"ok\":true}"'
      request HEAD /health -I
      check "health: HEAD /health -> 200 with the GET's content-length (20)" \
        eval 'is "$status" 200 && is "$(header content-length)" 20'
      request POST /health -d x
      check "health: POST /health -> 405 with Allow: GET, HEAD, OPTIONS" \
        eval 'is "$status" 405 && is "$(header allow)" "GET, HEAD, OPTIONS" && body_has "\"code\":\"method_not_allowed\""'
      request GET /health/extra
      check "health: an unknown path -> 404 JSON" eval 'is "$status" 404 && json_ct && body_has "\"code\":\"not_found\""'
      request OPTIONS /health -H 'Origin: https://elbatt.no' -H 'Access-Control-Request-Method: GET'
      check "health: CORS preflight from https://elbatt.no -> 204 with allow-origin" \
        eval 'is "$status" 204 && is "$(header access-control-allow-origin)" https://elbatt.no'
      request OPTIONS /health -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: GET'
      check "health: CORS preflight from another origin gets no allow-origin" is "$(header access-control-allow-origin)" ""
      check "health: a declared body over 6 MiB -> 413 before it is read" \
        is "$(declared_post "${base#http://}" /health $((6 * 1024 * 1024 + 1)))" 413
      head -c $((6 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$tmp/six-mib"
      request POST /health --data-binary @"$tmp/six-mib" -H 'Expect:'
      check "health: a body of exactly 6 MiB passes the limit (405, not 413)" is "$status" 405
      ;;
    plate-lookup)
      start_standin
      for path in '/NOT-A-PLATE!' '/plate-lookup/NOT-A-PLATE!'; do
        request GET "$path"
        check "plate-lookup: GET $path -> 400 plate_*" eval 'is "$status" 400 && json_ct && body_has "\"code\":\"plate_"'
      done
      for path in '/?plate=EC47213' '/EC47213' '/plate-lookup/EC47213'; do
        request GET "$path"
        check "plate-lookup: GET $path without a key -> 503 not_configured naming VEGVESEN_API_KEY" \
          eval 'is "$status" 503 && body_has "\"code\":\"not_configured\"" && body_has VEGVESEN_API_KEY'
      done
      request GET /
      check "plate-lookup: GET / without a plate -> 400 plate_missing" eval 'is "$status" 400 && body_has plate_missing'
      stop_standins
      fixture="$root/shared/tests/fixtures/vegvesen/bev-kia-niro-ec47213.json"
      if [[ -f "$fixture" ]]; then
        : >"$tmp/fake.out"; : >"$tmp/fake.err"
        python3 "$root/scripts/tests/fake_vegvesen.py" "$fixture" EC47213 test-key >"$tmp/fake.out" 2>"$tmp/fake.err" &
        pids+=("$!")
        upstream=""
        for _ in $(seq 1 50); do
          upstream="$(sed -n 's/^listening on //p' "$tmp/fake.out" | head -1)"
          [[ -n "$upstream" ]] && break
          sleep 0.1
        done
        start_standin VEGVESEN_API_KEY=test-key VEGVESEN_ENDPOINT="http://$upstream/"
        for path in /EC47213 '/plate-lookup?plate=EC%2047213' /plate-lookup/ec47213; do
          request GET "$path"
          check "plate-lookup: GET $path with a key -> 200 KIA from the (fake) registry" \
            eval 'is "$status" 200 && json_ct && body_has "\"make\":\"KIA\""'
        done
        request GET /AA12345
        check "plate-lookup: a plate the registry does not know -> 404" eval 'is "$status" 404 && body_has "\"code\":\"not_found\""'
        check "plate-lookup: one upstream call per plate (the instance cache works across calls)" \
          is "$(grep -c '^call' "$tmp/fake.err")" 2
      else
        echo "   (skipped the configured lookup: $fixture not found)"
      fi
      ;;
    chat)
      (
        cd "$work/fn"
        # The adapter's own unit tests (stream rewriting, peer address), built in the same
        # target dir through the stand-in's workspace.
        cargo test --offline --quiet --manifest-path "$manifest" -p handler --lib 2>&1
      ) >"$tmp/unit.out" || true
      check "chat zip: the adapter's unit tests pass ($(grep -o '[0-9]* passed' "$tmp/unit.out" | head -1))" \
        grep -q 'test result: ok' "$tmp/unit.out"
      # Every request comes from 127.0.0.1: lift the per-client burst so the checks are not
      # rate limited (the limiter itself is chat's own tests' business).
      start_standin CHAT_RATE_LIMIT_BURST=100 STORE=memory
      msg='{"message":"Hvor lenge varer batterigarantien?"}'
      for path in / /chat; do
        request POST "$path" -H 'Content-Type: application/json' -d "$msg"
        check "chat: POST $path with a message and no keys -> 200 JSON object (offline mode)" \
          eval 'is "$status" 200 && json_ct && is_json_object'
        check "chat: POST $path without a stream request has no x-elbatt-streaming" is "$(header x-elbatt-streaming)" ""
      done
      request POST / -H 'Content-Type: application/json' -d '{"message":"Hvor lenge varer batterigarantien?","stream":true}'
      check 'chat: "stream":true -> 200 whole JSON answer with x-elbatt-streaming: unavailable' \
        eval 'is "$status" 200 && json_ct && is_json_object && is "$(header x-elbatt-streaming)" unavailable'
      request POST / -H 'Content-Type: application/json' -H 'Accept: text/event-stream' -d "$msg"
      check "chat: Accept: text/event-stream -> 200 JSON with x-elbatt-streaming: unavailable" \
        eval 'is "$status" 200 && json_ct && is "$(header x-elbatt-streaming)" unavailable'
      request GET /
      check "chat: GET -> 405 with Allow: POST, OPTIONS" eval 'is "$status" 405 && is "$(header allow)" "POST, OPTIONS"'
      request OPTIONS / -H 'Origin: https://www.elbatt.no' -H 'Access-Control-Request-Method: POST'
      check "chat: CORS preflight from https://www.elbatt.no -> 204 with allow-origin" \
        eval 'is "$status" 204 && is "$(header access-control-allow-origin)" https://www.elbatt.no'
      check "chat: a declared body over 6 MiB -> 413 before it is read" \
        is "$(declared_post "${base#http://}" / $((6 * 1024 * 1024 + 1)))" 413
      head -c $((7 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$tmp/seven-mib"
      request POST / --data-binary @"$tmp/seven-mib" -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' -H 'Expect:'
      # The server may close before curl has sent everything (000); it must never accept it.
      check "chat: a chunked body over 6 MiB -> 413 (or the connection closed), never 2xx" \
        eval '[[ "$status" == 413 || "$status" == 000 ]]'
      ;;
    conversations)
      # No DATABASE_URL and no persistent disk: the store lives in the instance's memory.
      start_standin STORE=memory
      request GET /ready
      check "conversations: GET /ready with STORE=memory -> 200 ready, store ok" \
        eval 'is "$status" 200 && json_ct && body_has "\"state\":\"ok\""'
      request GET "/conversations/$(printf 'a%.0s' $(seq 64))"
      check "conversations: an unknown id -> 404 JSON" eval 'is "$status" 404 && json_ct && body_has "\"code\":\"not_found\""'
      request DELETE /conversations/short
      check "conversations: DELETE of a malformed id -> 404" is "$status" 404
      ;;
    scenarios)
      # Its own memory store here (chat in another zip cannot see it: docs/scenarios.md).
      start_standin STORE=memory ADMIN_TOKEN=zip-test-admin-token-0123
      request GET /
      check "scenarios: GET / -> 200 JSON listing the seeded default" \
        eval 'is "$status" 200 && json_ct && body_has "\"id\":\"default\""'
      request POST / -H 'Content-Type: application/json' -d '{"id":"x","name":"x","system_prompt":"y"}'
      check "scenarios: POST without the admin token -> 401 with WWW-Authenticate: Bearer" \
        eval 'is "$status" 401 && [[ "$(header www-authenticate)" == Bearer* ]]'
      request POST / -H 'Authorization: Bearer zip-test-admin-token-0123' -H 'Content-Type: application/json' \
        -d '{"id":"x","name":"x","system_prompt":"y","tags":["published"]}'
      check "scenarios: POST with the admin token -> 201" is "$status" 201
      request DELETE /x -H 'Authorization: Bearer zip-test-admin-token-0123'
      check "scenarios: DELETE of a published scenario without PUBLISHED_EDIT_TOKEN -> 423" is "$status" 423
      ;;
  esac
  stop_standins
done

echo "== zip parity: ${build_total} s building (debug, shared target dir $CARGO_TARGET_DIR)"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
