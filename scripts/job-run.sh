#!/usr/bin/env bash
# Looks a plate up as a Scaleway Serverless Job: starts the plate-lookup job definition with
# PLATE set, waits for the run, fails if it did not succeed, prints the result.
#   JOB_DEF_ID=<uuid> scripts/job-run.sh EH91427
# Environment: JOB_DEF_ID (required), REGION (fr-par), JOB_TIMEOUT (1800 s), SCW_PROFILE.
# Exit: 0 when the run succeeded; 1 otherwise, with the run's reason, exit code and what that
# exit code means for plate-lookup (docs/api.md#job-mode).
#
# Unlike `scw jobs run wait` (exit 0 even for a failed run, gives up after 15 min) this judges the
# run's state and exit code itself.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/scw-helpers.sh
source "$root/scripts/scw-helpers.sh"

REGION="${REGION:-fr-par}"
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[[ $# == 1 && -n "$1" ]] || { echo "usage: JOB_DEF_ID=<uuid> $0 PLATE" >&2; exit 2; }
plate="$1"
# The job validates the plate; this only keeps shell-hostile input out of the CLI call.
[[ "$plate" =~ ^[[:alnum:][:space:]ÆØÅæøå.-]{1,16}$ ]] || die "that does not look like a plate"
[[ -n "${JOB_DEF_ID:-}" ]] || die "set JOB_DEF_ID (scw jobs definition list region=$REGION)"

scw_require || exit 1

# What plate-lookup's exit codes mean (docs/api.md#job-mode).
meaning() {
  case "$1" in
    0) echo "vehicle found" ;;
    2) echo "invalid plate" ;;
    3) echo "no vehicle with that plate" ;;
    4) echo "Statens vegvesen failed (upstream error)" ;;
    78) echo "not configured: VEGVESEN_API_KEY is not set on the job definition" ;;
    *) echo "unexpected exit code" ;;
  esac
}

run_id="$(scw_job_run "$JOB_DEF_ID" environment-variables.PLATE="$plate")" || exit 1
echo "started job run $run_id" >&2

if ! scw_job_wait "$run_id" "$REGION" "${JOB_TIMEOUT:-1800}"; then
  run="$(scw_run jobs run get "$run_id" region="$REGION")" || exit 1
  code="$(jq -r '.exit_code // empty' <<<"$run")"
  [[ -z "$code" ]] || echo "exit code $code: $(meaning "$code")" >&2
  exit 1
fi

run="$(scw_run jobs run get "$run_id" region="$REGION")" || exit 1
jq -r '"job run \(.id): \(.state), exit code \(.exit_code // 0), took \(.run_duration // "?")"' <<<"$run"
# The result is the JSON line the job printed on stdout, in the run's logs. Newer CLIs can print
# them; otherwise they are in Cockpit (docs/deployment.md#batch-jobs-scaleway-jobs).
if scw jobs run logs --help >/dev/null 2>&1; then
  env -u SCW_DEBUG scw jobs run logs "$run_id" region="$REGION"
else
  echo "result: in Cockpit > Logs for job run $run_id (this scw has no 'jobs run logs')" >&2
fi
