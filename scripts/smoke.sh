#!/usr/bin/env bash
# Curl checks against a running Elbatt backend: the local runner (default) or a deployment.
#   scripts/smoke.sh                                  # http://localhost:8000
#   BASE_URL=https://chatbot.elbatt.no scripts/smoke.sh
# EXPECT_PLATE_LOOKUP=unconfigured (no VEGVESEN_API_KEY: 503 expected) | configured | any (default)
# Exits non-zero and names the first check that failed.
set -euo pipefail

BASE_URL="${BASE_URL:-http://localhost:8000}"
BASE_URL="${BASE_URL%/}"
EXPECT_PLATE_LOOKUP="${EXPECT_PLATE_LOOKUP:-any}"

command -v curl >/dev/null || { echo "smoke: curl is required (apt-get install curl)" >&2; exit 2; }

passed=0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $1" >&2
  [[ -s "$tmp/body" ]] && { echo "--- body:" >&2; head -c 500 "$tmp/body" >&2; echo >&2; }
  exit 1
}
ok() { echo "ok   $1"; passed=$((passed + 1)); }

# request METHOD PATH [curl args...] -> sets $status; body in $tmp/body, headers in $tmp/headers
request() {
  local method="$1" path="$2"; shift 2
  status="$(curl -sS -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$method" \
    --max-time 30 "$@" "$BASE_URL$path")" || fail "$method $path: no answer from $BASE_URL"
}
header() { grep -i "^$1:" "$tmp/headers" | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
body_has() { grep -q -- "$1" "$tmp/body"; }

request GET /health
[[ "$status" == 200 ]] || fail "GET /health: status $status, want 200"
[[ "$(cat "$tmp/body")" == '{"status":"healthy"}' ]] || fail 'GET /health: body is not exactly {"status":"healthy"}'
[[ "$(header content-type)" == application/json* ]] || fail "GET /health: content-type $(header content-type)"
ok "GET /health -> 200 {\"status\":\"healthy\"}"

request GET /api/health
[[ "$status" == 200 && "$(cat "$tmp/body")" == '{"ok":true}' ]] || fail "GET /api/health: $status"
ok "GET /api/health -> 200 {\"ok\":true}"

request HEAD /health -I
[[ "$status" == 200 ]] || fail "HEAD /health: status $status"
ok "HEAD /health -> 200"

request GET /no-such-function
if [[ "$status" != 404 ]] || ! body_has '"code":"not_found"'; then
  fail "GET /no-such-function: want a JSON 404, got $status"
fi
ok "unknown path -> 404 JSON"

request POST /health -d x
[[ "$status" == 405 ]] || fail "POST /health: status $status, want 405"
[[ "$(header allow)" == *GET* ]] || fail "POST /health: no Allow header with GET"
ok "POST /health -> 405 with Allow"

request OPTIONS /chat -H 'Origin: https://elbatt.no' -H 'Access-Control-Request-Method: POST'
[[ "$status" == 204 && "$(header access-control-allow-origin)" == "https://elbatt.no" ]] \
  || fail "CORS preflight from https://elbatt.no: $status, allow-origin '$(header access-control-allow-origin)'"
ok "CORS preflight from an allowed origin"

request OPTIONS /chat -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: POST'
[[ -z "$(header access-control-allow-origin)" ]] || fail "CORS: a disallowed origin got Access-Control-Allow-Origin"
ok "CORS preflight from another origin gets no allow-origin"

request GET '/plate-lookup/NOT-A-PLATE!'
if [[ "$status" != 400 ]] || ! body_has '"code":"plate_'; then
  fail "GET /plate-lookup/NOT-A-PLATE!: want 400 plate_*, got $status"
fi
ok "plate-lookup with an invalid plate -> 400"

request GET '/plate-lookup?plate=SU18018'
case "$EXPECT_PLATE_LOOKUP:$status" in
  unconfigured:503 | any:503)
    if ! body_has '"code":"not_configured"' || ! body_has VEGVESEN_API_KEY; then
      fail "plate-lookup 503 does not say to set VEGVESEN_API_KEY"
    fi
    ok "plate-lookup without VEGVESEN_API_KEY -> 503 naming the variable" ;;
  configured:200 | configured:404 | any:200 | any:404)
    ok "plate-lookup SU18018 -> $status" ;;
  *) fail "GET /plate-lookup?plate=SU18018: status $status (expected: $EXPECT_PLATE_LOOKUP)" ;;
esac

echo "$passed passed, 0 failed"
