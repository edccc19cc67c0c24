#!/usr/bin/env bash
# Curl checks against a running Elbatt backend: the local runner (default) or a deployment.
#   scripts/smoke.sh                                  # http://localhost:8000
#   BASE_URL=https://chatbot.elbatt.no scripts/smoke.sh
# EXPECT_PLATE_LOOKUP=unconfigured (no VEGVESEN_API_KEY: 503 expected) | configured | any (default)
# Every check runs; each failure is named (FAIL: …) and counted. The last line is
# `N passed, M failed`; the exit status is non-zero when any check failed.
set -euo pipefail

BASE_URL="${BASE_URL:-http://localhost:8000}"
BASE_URL="${BASE_URL%/}"
EXPECT_PLATE_LOOKUP="${EXPECT_PLATE_LOOKUP:-any}"

command -v curl >/dev/null || { echo "smoke: curl is required (apt-get install curl)" >&2; exit 2; }

passed=0
failed=0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# A check runs in a subshell (see `check`): fail ends that check only, and `check` counts it.
fail() {
  echo "FAIL: $1" >&2
  if [[ -s "$tmp/body" ]]; then echo "--- body:" >&2; head -c 500 "$tmp/body" >&2; echo >&2; fi
  exit 1
}
ok() { echo "ok   $1"; }
# check FUNCTION: runs one check; it passes when it reaches its `ok` without a `fail`.
check() {
  if ( "$1" ); then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

# request METHOD PATH [curl args...] -> sets $status; body in $tmp/body, headers in $tmp/headers
request() {
  local method="$1" path="$2"; shift 2
  : >"$tmp/body"; : >"$tmp/headers"
  status="$(curl -sS -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$method" \
    --max-time 30 "$@" "$BASE_URL$path")" || fail "$method $path: no answer from $BASE_URL"
}
header() { grep -i "^$1:" "$tmp/headers" | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
body_has() { grep -q -- "$1" "$tmp/body"; }

check_health() {
  request GET /health
  [[ "$status" == 200 ]] || fail "GET /health: status $status, want 200"
  [[ "$(cat "$tmp/body")" == '{"status":"healthy"}' ]] || fail 'GET /health: body is not exactly {"status":"healthy"}'
  [[ "$(header content-type)" == application/json* ]] || fail "GET /health: content-type $(header content-type)"
  ok "GET /health -> 200 {\"status\":\"healthy\"}"
}

check_api_health() {
  request GET /api/health
  [[ "$status" == 200 && "$(cat "$tmp/body")" == '{"ok":true}' ]] || fail "GET /api/health: $status"
  ok "GET /api/health -> 200 {\"ok\":true}"
}

check_head() {
  request HEAD /health -I
  [[ "$status" == 200 ]] || fail "HEAD /health: status $status"
  ok "HEAD /health -> 200"
}

check_not_found() {
  request GET /no-such-function
  if [[ "$status" != 404 ]] || ! body_has '"code":"not_found"'; then
    fail "GET /no-such-function: want a JSON 404, got $status"
  fi
  ok "unknown path -> 404 JSON"
}

check_method() {
  request POST /health -d x
  [[ "$status" == 405 ]] || fail "POST /health: status $status, want 405"
  [[ "$(header allow)" == *GET* ]] || fail "POST /health: no Allow header with GET"
  ok "POST /health -> 405 with Allow"
}

check_cors_allowed() {
  request OPTIONS /chat -H 'Origin: https://elbatt.no' -H 'Access-Control-Request-Method: POST'
  [[ "$status" == 204 && "$(header access-control-allow-origin)" == "https://elbatt.no" ]] \
    || fail "CORS preflight from https://elbatt.no: $status, allow-origin '$(header access-control-allow-origin)'"
  ok "CORS preflight from an allowed origin"
}

check_cors_other() {
  request OPTIONS /chat -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: POST'
  [[ -z "$(header access-control-allow-origin)" ]] || fail "CORS: a disallowed origin got Access-Control-Allow-Origin"
  ok "CORS preflight from another origin gets no allow-origin"
}

check_bad_plate() {
  request GET '/plate-lookup/NOT-A-PLATE!'
  if [[ "$status" != 400 ]] || ! body_has '"code":"plate_'; then
    fail "GET /plate-lookup/NOT-A-PLATE!: want 400 plate_*, got $status"
  fi
  ok "plate-lookup with an invalid plate -> 400"
}

check_plate() {
  request GET '/plate-lookup?plate=EC47213'
  case "$EXPECT_PLATE_LOOKUP:$status" in
    unconfigured:503 | any:503)
      if ! body_has '"code":"not_configured"' || ! body_has VEGVESEN_API_KEY; then
        fail "plate-lookup 503 does not say to set VEGVESEN_API_KEY"
      fi
      ok "plate-lookup without VEGVESEN_API_KEY -> 503 naming the variable" ;;
    configured:200 | configured:404 | any:200 | any:404)
      ok "plate-lookup EC47213 -> $status" ;;
    *) fail "GET /plate-lookup?plate=EC47213: status $status (expected: $EXPECT_PLATE_LOOKUP)" ;;
  esac
}

for c in check_health check_api_health check_head check_not_found check_method check_cors_allowed \
  check_cors_other check_bad_plate check_plate; do
  check "$c"
done

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
