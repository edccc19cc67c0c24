#!/usr/bin/env bash
# Deploys Elbatt functions to Scaleway Serverless Functions (runtime rust196, handler `handle`):
#   1. prerequisites; the rust196 runtime is available in the region
#   2. the zips (scripts/package-function.sh), settings (deploy/scaleway.env) and secrets
#   3. the namespace (created if missing, waited until ready)
#   then for each function: create or update it (runtime, handler, memory tier, env, secrets),
#   `get-upload-url`, upload the zip (curl PUT), deploy, wait until `ready` or fail with the
#   function's error_message and build_message (Scaleway compiles the crate: allow ~40 min).
#
#   scripts/deploy-functions.sh [health|plate-lookup|chat|conversations|scenarios ...]   # default: all
#
# Environment: REGION (fr-par); NAMESPACE (elbatt-functions); ENV_FILE (deploy/scaleway.env);
# DIST (dist/; SKIP_PACKAGE=1 uploads the zips already there); MEMORY_HEALTH (128),
# MEMORY_PLATE_LOOKUP (256), MEMORY_CHAT (512), MEMORY_CONVERSATIONS (256), MEMORY_SCENARIOS (256) in MB, one of Scaleway's tiers; MAX_SCALE (5);
# FUNCTION_TIMEOUT (2700 s of build + deploy); SCW_PROFILE.
# Secrets (environment, else typed without echo; all or none, ALLOW_PARTIAL_SECRETS=1): plate-lookup
# gets VEGVESEN_API_KEY, chat gets VEGVESEN_API_KEY and OPENAI_API_KEY; DATABASE_URL, only when set,
# goes to every function but health (and drops deploy/scaleway.env's STORE=memory); DATABASE_URL_FILE
# (scripts/create-database.sh) gives it from a file. ADMIN_TOKEN and PUBLISHED_EDIT_TOKEN, only when
# set, go to scenarios (never asked: without them its writes are refused and published scenarios
# locked; without DATABASE_URL each function has its own memory store, so chat cannot see them). As with deploy.sh they are scw arguments (scw cannot read
# them from a file): never echoed or logged, but visible in this machine's process list while
# scw runs. The zip upload's X-Auth-Token goes to curl in a header file, not on its command line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/scw-helpers.sh
source "$root/scripts/scw-helpers.sh"
# shellcheck source=scripts/lib/deploy-common.sh
source "$root/scripts/lib/deploy-common.sh"

REGION="${REGION:-fr-par}"
NAMESPACE="${NAMESPACE:-elbatt-functions}"
ENV_FILE="${ENV_FILE:-$root/deploy/scaleway.env}"
DIST="${DIST:-$root/dist}"
functions=("$@")
# Default: every function in functions/list.txt.
[[ ${#functions[@]} -gt 0 ]] || mapfile -t functions < <(python3 "$root/scripts/function-zip/generate.py" --list)
[[ $- != *x* ]] || die "refusing to run with xtrace (set -x): it would print the secrets"

memory_for() {
  local var v
  var="MEMORY_$(tr 'a-z-' 'A-Z_' <<<"$1")"
  case "$1" in health) v=128 ;; plate-lookup | conversations | scenarios) v=256 ;; *) v=512 ;; esac
  v="${!var:-$v}"
  # Only these memory:vCPU pairs exist (docs/upstreams/scaleway.md#functions-limits).
  [[ " 128 256 512 1024 2048 3072 4096 " == *" $v "* ]] || die "$var=$v is not a Functions memory tier (128 256 512 1024 2048 3072 4096)"
  printf '%s' "$v"
}
secrets_for() {
  case "$1" in
    health) ;;
    plate-lookup) echo VEGVESEN_API_KEY ;;
    chat) echo VEGVESEN_API_KEY OPENAI_API_KEY ;;
  esac
}

# upload_url_ok URL: the zip upload carries the Scaleway secret key (X-Auth-Token), so it may go
# only to Scaleway over HTTPS: https://, no user-info, a host under scw.cloud or scaleway.com
# (the presigned Object Storage URL is https://s3.<region>.scw.cloud/…), an optional port, then
# a path. Anything else (http://, another host, s3.fr-par.scw.cloud.evil.example,
# scw.cloud@evil.example, a backslash) is refused before curl sees it.
upload_url_ok() {
  local url="$1" rest authority host
  [[ "$url" == https://* ]] || return 1
  [[ "$url" != *[[:space:][:cntrl:]\\]* ]] || return 1
  rest="${url#https://}"
  authority="${rest%%[/?#]*}"
  # The authority must end at a path: `https://host?x` and `https://host#x` are refused too.
  [[ "$rest" == "$authority" || "${rest:${#authority}:1}" == / ]] || return 1
  [[ "$authority" != *@* ]] || return 1
  host="${authority%:*}"
  [[ "$host" == "$authority" || "${authority##*:}" =~ ^[0-9]{1,5}$ ]] || return 1
  host="${host,,}"
  [[ "$host" =~ ^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+(scw\.cloud|scaleway\.com)$ ]]
}

# wait_function ID NAME: polls until ready; error -> error_message and build_message.
wait_function() {
  local id="$1" name="$2" started=$SECONDS out status last=""
  while :; do
    out="$(scw_run function function get "$id" region="$REGION")" || return 1
    status="$(jq -r '.status' <<<"$out")"
    if [[ "$status" != "$last" ]]; then echo "function $name: $status" >&2; last="$status"; fi
    case "$status" in
      ready)
        echo "function $name ready at https://$(jq -r '.domain_name' <<<"$out")" >&2
        return 0 ;;
      error | locked)
        echo "error: function $name is '$status'" >&2
        jq -r '"  error_message: \(.error_message // "-")\n  build_message: \(.build_message // "-")"' <<<"$out" >&2
        return 1 ;;
    esac
    if (( SECONDS - started >= ${FUNCTION_TIMEOUT:-2700} )); then
      echo "error: function $name still '$status' after ${FUNCTION_TIMEOUT:-2700}s (timeout)" >&2
      return 1
    fi
    sleep "${SCW_POLL_INTERVAL:-10}"
  done
}

step "1/3 prerequisites"
scw_require || exit 1
need curl "apt-get install curl"
for fn in "${functions[@]}"; do
  case "$fn" in health | plate-lookup | chat | conversations | scenarios) ;; *) die "unknown function $fn" ;; esac
  memory_for "$fn" >/dev/null
done
runtimes="$(scw_run function runtime list region="$REGION")" || exit 1
rt_status="$(jq -r '[.[] | select(.name == "rust196") | .status][0] // "missing"' <<<"$runtimes")"
[[ "$rt_status" == available || "$rt_status" == beta ]] \
  || die "runtime rust196 is '$rt_status' in $REGION: use the container instead (scripts/deploy.sh)"

step "2/3 zips, settings and secrets"
if [[ "${SKIP_PACKAGE:-}" != 1 ]]; then
  for fn in "${functions[@]}"; do "$root/scripts/package-function.sh" "$fn" "$DIST" >&2; done
fi
for fn in "${functions[@]}"; do
  [[ -s "$DIST/$fn.zip" ]] || die "$DIST/$fn.zip is missing (scripts/package-function.sh $fn)"
done
declare -a ENV_ARGS
load_env_file "$ENV_FILE"
load_database_url
declare -A SECRETS
wanted=()
for fn in "${functions[@]}"; do
  for name in $(secrets_for "$fn"); do
    [[ " ${wanted[*]} " == *" $name "* ]] || wanted+=("$name")
  done
done
read_secrets "${wanted[@]}"
missing=()
for name in "${wanted[@]}"; do
  [[ -n "${SECRETS[$name]+set}" ]] || missing+=("$name")
done
if (( ${#SECRETS[@]} > 0 && ${#missing[@]} > 0 )) && [[ "${ALLOW_PARTIAL_SECRETS:-}" != 1 ]]; then
  # Whether an update merges or replaces the secret set is not documented: all or none.
  die "secrets given for ${!SECRETS[*]} but not for ${missing[*]}: give all of them, or none to" \
    "keep the current ones (ALLOW_PARTIAL_SECRETS=1 to send only those given)"
fi
if (( ${#SECRETS[@]} == 0 )); then
  echo "no secrets given: the functions keep their current secrets" >&2
else
  echo "secrets to set: ${!SECRETS[*]}" >&2
fi
# The upload goes to a URL of Scaleway's; like `scw function deploy`, send the API key with it,
# from a header file so it is not on curl's command line.
headers_dir="$(mktemp -d)"
trap 'rm -rf "$headers_dir"' EXIT
chmod 700 "$headers_dir"
auth_token="${SCW_SECRET_KEY:-$(env -u SCW_DEBUG scw config get secret-key 2>/dev/null || true)}"

step "3/3 namespace $NAMESPACE"
namespaces="$(scw_run function namespace list name="$NAMESPACE" region="$REGION")" || exit 1
ns_id="$(jq -r --arg n "$NAMESPACE" '[.[] | select(.name == $n) | .id][0] // empty' <<<"$namespaces")"
if [[ -z "$ns_id" ]]; then
  ns_id="$(scw_run function namespace create name="$NAMESPACE" region="$REGION" | jq -r '.id')"
  [[ -n "$ns_id" && "$ns_id" != null ]] || die "the namespace could not be created"
  echo "created namespace $NAMESPACE ($ns_id)" >&2
fi
started=$SECONDS
while :; do
  ns_status="$(scw_run function namespace get "$ns_id" region="$REGION" | jq -r '.status')"
  [[ "$ns_status" == ready ]] && break
  [[ "$ns_status" != error && "$ns_status" != locked ]] || die "namespace $NAMESPACE is '$ns_status'"
  (( SECONDS - started < 600 )) || die "namespace $NAMESPACE still '$ns_status' after 600s"
  sleep "${SCW_POLL_INTERVAL:-10}"
done

failed=()
for fn in "${functions[@]}"; do
  step "$fn"
  memory="$(memory_for "$fn")"
  args=(runtime=rust196 handler=handle memory-limit="$memory" min-scale=0 max-scale="${MAX_SCALE:-5}"
    timeout=300s http-option=redirected privacy=public)
  for kv in "${ENV_ARGS[@]}"; do
    # With a shared database the store is PostgreSQL, not each instance's memory.
    [[ -n "${DATABASE_URL:-}" && "$kv" == STORE=* ]] && continue
    args+=("environment-variables.$kv")
  done
  i=0
  for name in $(secrets_for "$fn"); do
    if [[ -n "${SECRETS[$name]+set}" ]]; then
      args+=("secret-environment-variables.$i.key=$name" "secret-environment-variables.$i.value=${SECRETS[$name]}")
      i=$((i + 1))
    fi
  done
  # Optional, never asked for: the shared store (docs/state.md) for the functions that use it.
  if [[ -n "${DATABASE_URL:-}" && "$fn" != health ]]; then
    args+=("secret-environment-variables.$i.key=DATABASE_URL" "secret-environment-variables.$i.value=$DATABASE_URL")
    i=$((i + 1))
  fi
  # Optional, never asked for: the scenarios admin and edit tokens (docs/scenarios.md).
  if [[ "$fn" == scenarios ]]; then
    for name in ADMIN_TOKEN PUBLISHED_EDIT_TOKEN; do
      if [[ -n "${!name:-}" ]]; then
        args+=("secret-environment-variables.$i.key=$name" "secret-environment-variables.$i.value=${!name}")
        i=$((i + 1))
      fi
    done
  fi
  existing="$(scw_run function function list namespace-id="$ns_id" name="$fn" region="$REGION")" || exit 1
  fn_id="$(jq -r --arg n "$fn" '[.[] | select(.name == $n) | .id][0] // empty' <<<"$existing")"
  if [[ -z "$fn_id" ]]; then
    fn_id="$(scw_run function function create namespace-id="$ns_id" name="$fn" "${args[@]}" region="$REGION" | jq -r '.id')"
    [[ -n "$fn_id" && "$fn_id" != null ]] || die "function $fn could not be created"
    echo "created function $fn ($fn_id, ${memory} MB)" >&2
  else
    # redeploy=false: the deploy below follows the upload.
    scw_run function function update "$fn_id" "${args[@]}" redeploy=false region="$REGION" >/dev/null || exit 1
    echo "updated function $fn ($fn_id, ${memory} MB)" >&2
  fi
  unset args

  zip="$DIST/$fn.zip"
  size="$(stat -c %s "$zip")"
  upload="$(scw_run function function get-upload-url "$fn_id" content-length="$size" region="$REGION")" || exit 1
  url="$(jq -r '.url' <<<"$upload")"
  upload_url_ok "$url" || die "refusing to upload $fn: the upload URL '$url' is not https:// on a" \
    "Scaleway host (*.scw.cloud, *.scaleway.com), and the upload would carry the secret key"
  hdr="$headers_dir/$fn"
  {
    echo "Content-Type: application/octet-stream"
    jq -r '(.headers // {}) | to_entries[] | .key as $k | (.value // [])[] | "\($k): \(.)"' <<<"$upload" \
      | grep -iv '^content-type:' || true
    [[ -z "$auth_token" ]] || echo "X-Auth-Token: $auth_token"
  } >"$hdr"
  curl -fsS --max-time 600 -X PUT -H @"$hdr" --data-binary @"$zip" "$url" >/dev/null \
    || die "uploading $zip failed"
  echo "uploaded $zip ($size bytes)" >&2

  scw_run function function deploy "$fn_id" region="$REGION" >/dev/null || exit 1
  wait_function "$fn_id" "$fn" || failed+=("$fn")
done

if (( ${#failed[@]} > 0 )); then
  die "not deployed: ${failed[*]}"
fi
echo "deployed: ${functions[*]} (namespace $NAMESPACE, $REGION)" >&2
