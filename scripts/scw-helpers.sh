#!/usr/bin/env bash
# Helpers around the Scaleway CLI (scw >= 2.56, containers API v1) for the Elbatt deploy scripts
# and for people at a shell:   source scripts/scw-helpers.sh
#
#   scw_require                              scw >= 2.56 and jq present (install hints otherwise)
#   scw_job_run DEF_ID [ARGS...]             start a job run, print its id (.job_runs[0].id)
#   scw_job_wait RUN_ID [REGION] [TIMEOUT]   poll until the run ends; fail unless it succeeded
#   scw_domain_delete_by_host HOST [REGION]  delete every container domain bound to HOST
#   scw_domain_status HOST [REGION]          print "hostname<TAB>status<TAB>error_message"
#   wait_domain_ready HOST [REGION] [TIMEOUT] poll until the domain is ready; fail on error
#   scw_container_endpoint CONTAINER_ID [REGION]  the container's host (public_endpoint, no https://)
#
# REGION defaults to $REGION, else fr-par. Polling every $SCW_POLL_INTERVAL seconds (default 10).
# The CLI profile is scw's own business: set SCW_PROFILE=elbatt (or activate the profile).
# Every helper returns non-zero and explains on stderr when something fails; none echoes a
# secret. See docs/deployment.md#helpers.

# Deliberately no `set -euo pipefail` here: this file is sourced into interactive shells too.
# The functions check every step themselves.

SCW_MIN_VERSION="2.56.0"

_scw_region() { printf '%s' "${1:-${REGION:-fr-par}}"; }

# Prints a hint for the errors people meet first (no credentials, wrong profile, old CLI).
_scw_hint() {
  local err="$1"
  case "$err" in
    *"access key is required"* | *"secret key is required"* | *"organization ID is required"* | \
      *"credentials"* | *"401"* | *"authentication is denied"* | *"permission"*)
      echo "hint: the Scaleway CLI has no usable credentials: run 'scw init', or set up the" \
        "elbatt profile and export SCW_PROFILE=elbatt (README, 'Deployment' → 'CLI profile')." >&2 ;;
    *"unknown argument"*)
      echo "hint: an argument the CLI does not know: is scw >= $SCW_MIN_VERSION? ('scw version')" >&2 ;;
  esac
}

# scw_run ARGS...: runs `scw ARGS... -o json`, prints its JSON on stdout. On failure prints what
# scw said (its own message never contains our secrets' values) plus a hint, and returns 1.
scw_run() {
  local out err rc=0 errfile
  errfile="$(mktemp)"
  # SCW_DEBUG would make scw print request bodies, secrets included.
  out="$(env -u SCW_DEBUG scw "$@" -o json 2>"$errfile")" || rc=$?
  err="$(cat "$errfile")"
  rm -f "$errfile"
  if [[ $rc == 0 ]]; then
    printf '%s\n' "$out"
    return 0
  fi
  # Only the command's first words: the rest may carry secret values.
  echo "error: 'scw $1 $2 $3' failed (exit $rc):" >&2
  printf '%s\n' "$err" | sed 's/^/  /' >&2
  _scw_hint "$err"
  return 1
}

scw_require() {
  local missing=0 v
  command -v scw >/dev/null || {
    echo "error: the Scaleway CLI (scw >= $SCW_MIN_VERSION) is required: https://github.com/scaleway/scaleway-cli#installation" \
      "(e.g. 'brew install scw', or the release binary)" >&2
    missing=1
  }
  command -v jq >/dev/null || { echo "error: jq is required (apt-get install jq / brew install jq)" >&2; missing=1; }
  [[ $missing == 0 ]] || return 1
  v="$(scw version -o json 2>/dev/null | jq -r '.version // empty' 2>/dev/null)"
  v="${v#v}"
  if [[ -z "$v" ]]; then
    echo "error: cannot read the scw version ('scw version -o json')" >&2
    return 1
  fi
  if [[ "$(printf '%s\n%s\n' "$SCW_MIN_VERSION" "$v" | sort -V | head -1)" != "$SCW_MIN_VERSION" ]]; then
    echo "error: scw $v is too old: >= $SCW_MIN_VERSION speaks the containers v1 API these scripts use" \
      "(image=, secret-environment-variables.KEY=VALUE, public_endpoint). Upgrade scw." >&2
    return 1
  fi
}

# scw_job_run DEF_ID [ARGS...] -> prints the run id.
scw_job_run() {
  local def_id="${1:?usage: scw_job_run JOB_DEFINITION_ID [ARGS...]}" out id
  shift
  out="$(scw_run jobs definition start "$def_id" "$@" region="$(_scw_region)")" || return 1
  id="$(jq -r '.job_runs[0].id // empty' <<<"$out")"
  if [[ -z "$id" ]]; then
    echo "error: 'scw jobs definition start' returned no job run (.job_runs[0].id)" >&2
    return 1
  fi
  printf '%s\n' "$id"
}

# scw_job_wait RUN_ID [REGION] [TIMEOUT_SECS]: `scw jobs run wait` exits 0 even for a failed run
# and gives up after 15 min, so this polls `scw jobs run get` itself and judges state/exit_code.
scw_job_wait() {
  local run_id="${1:?usage: scw_job_wait RUN_ID [REGION] [TIMEOUT_SECS]}"
  local region timeout started out state last=""
  region="$(_scw_region "${2:-}")"
  timeout="${3:-${JOB_TIMEOUT:-1800}}"
  started=$SECONDS
  while :; do
    out="$(scw_run jobs run get "$run_id" region="$region")" || return 1
    state="$(jq -r '.state // "unknown"' <<<"$out")"
    if [[ "$state" != "$last" ]]; then
      echo "job run $run_id: $state" >&2
      last="$state"
    fi
    case "$state" in
      succeeded)
        local code
        code="$(jq -r '.exit_code // 0' <<<"$out")"
        if [[ "$code" != 0 ]]; then
          echo "error: job run $run_id succeeded with exit code $code" >&2
          return 1
        fi
        return 0 ;;
      failed | interrupted)
        echo "error: job run $run_id $state: $(jq -r '"reason=\(.reason // "-") exit_code=\(.exit_code // "-") error_message=\(.error_message // "-")"' <<<"$out")" >&2
        return 1 ;;
    esac
    if (( SECONDS - started >= timeout )); then
      echo "error: job run $run_id still '$state' after ${timeout}s (timeout)" >&2
      return 1
    fi
    sleep "${SCW_POLL_INTERVAL:-10}"
  done
}

# The domains bound to HOST, as a JSON array (v1: id, container_id, hostname, status, error_message).
_scw_domains_for() {
  local host="$1" region="$2" out
  out="$(scw_run container domain list region="$region")" || return 1
  jq -c --arg h "$host" '[.[] | select(.hostname == $h)]' <<<"$out"
}

scw_domain_delete_by_host() {
  local host="${1:?usage: scw_domain_delete_by_host HOST [REGION]}" region domains id
  region="$(_scw_region "${2:-}")"
  domains="$(_scw_domains_for "$host" "$region")" || return 1
  for id in $(jq -r '.[].id' <<<"$domains"); do
    scw_run container domain delete "$id" region="$region" >/dev/null || return 1
    echo "deleted domain $id ($host)" >&2
  done
}

scw_domain_status() {
  local host="${1:?usage: scw_domain_status HOST [REGION]}" region domains
  region="$(_scw_region "${2:-}")"
  domains="$(_scw_domains_for "$host" "$region")" || return 1
  if [[ "$(jq 'length' <<<"$domains")" == 0 ]]; then
    echo "error: no container domain for $host in $region" >&2
    return 1
  fi
  jq -r '.[] | "\(.hostname)\t\(.status)\t\(.error_message // "")"' <<<"$domains"
}

# wait_domain_ready HOST [REGION] [TIMEOUT_SECS]: ready -> 0; error or locked -> prints
# error_message, 1; creating/updating (and the other transient states) -> keeps polling until
# the timeout. Let's Encrypt's HTTP-01 challenge gives up after 3 min, so the default of 10 min
# leaves room for DNS to propagate first.
wait_domain_ready() {
  local host="${1:?usage: wait_domain_ready HOST [REGION] [TIMEOUT_SECS]}"
  local region timeout started domains status last=""
  region="$(_scw_region "${2:-}")"
  timeout="${3:-${DOMAIN_TIMEOUT:-600}}"
  started=$SECONDS
  while :; do
    domains="$(_scw_domains_for "$host" "$region")" || return 1
    if [[ "$(jq 'length' <<<"$domains")" == 0 ]]; then
      echo "error: no container domain for $host in $region (bind it first: scw container domain create)" >&2
      return 1
    fi
    status="$(jq -r '.[0].status // "unknown_status"' <<<"$domains")"
    if [[ "$status" != "$last" ]]; then
      echo "domain $host: $status" >&2
      last="$status"
    fi
    case "$status" in
      ready) return 0 ;;
      error | locked)
        echo "error: domain $host is '$status': $(jq -r '.[0].error_message // "no error_message"' <<<"$domains")" >&2
        echo "hint: check that $host is a CNAME to the container's endpoint, that CAA on the apex allows" \
          "letsencrypt.org, then delete and re-create the binding (README, 'Deployment' → 'Troubleshooting')." >&2
        return 1 ;;
    esac
    if (( SECONDS - started >= timeout )); then
      echo "error: domain $host still '$status' after ${timeout}s (timeout); is the CNAME published?" >&2
      return 1
    fi
    sleep "${SCW_POLL_INTERVAL:-10}"
  done
}

# scw_container_endpoint CONTAINER_ID [REGION] -> the bare host of public_endpoint.
scw_container_endpoint() {
  local id="${1:?usage: scw_container_endpoint CONTAINER_ID [REGION]}" region out ep
  region="$(_scw_region "${2:-}")"
  out="$(scw_run container container get "$id" region="$region")" || return 1
  ep="$(jq -r '.public_endpoint // empty' <<<"$out")"
  if [[ -z "$ep" ]]; then
    echo "error: container $id has no public_endpoint" >&2
    return 1
  fi
  ep="${ep#https://}"
  ep="${ep#http://}"
  printf '%s\n' "${ep%/}"
}
