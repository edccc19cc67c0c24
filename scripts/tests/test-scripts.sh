#!/usr/bin/env bash
# Tests for the deploy scripts without the cloud: a fake `scw` (scripts/tests/fakes/scw, real
# >= 2.56 JSON shapes), fake `curl` and `openssl`, and a stand-in for smoke.sh come first on PATH.
# Each case runs a script against one scenario of the fake and checks its exit code, its
# messages and the exact commands it ran (the fakes log every call). Prints `N passed, M failed`.
#   scripts/tests/test-scripts.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fakes="$root/scripts/tests/fakes"
command -v jq >/dev/null || { echo "test-scripts: jq is required (apt-get install jq)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "test-scripts: python3 is required" >&2; exit 2; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export FAKE_LOG="$tmp/calls.log" FAKE_STATE="$tmp/state"
# scripts/smoke.sh is tested with the real curl against scripts/tests/fake_elbatt.py.
real_path="$PATH"
export PATH="$fakes:$PATH" SCW_POLL_INTERVAL=0 SMOKE_SCRIPT="$fakes/smoke.sh"
unset SCW_PROFILE VEGVESEN_API_KEY OPENAI_API_KEY SCW_SECRET_KEY REBIND_DOMAIN SKIP_SMOKE DATABASE_URL DATABASE_URL_FILE ADMIN_TOKEN PUBLISHED_EDIT_TOKEN

CONTAINER=3f1c2b9a-6d4e-4c1a-9b2f-8e7d6c5b4a39
VEG_SECRET="veg-$RANDOM-s3cr3t-value"
LLM_SECRET="sk-$RANDOM-llm-s3cr3t"

passed=0
failed=0
problems=()
# begin NAME: starts a case; its checks add to $problems; finish judges it.
begin() { case_name="$1"; problems=(); }
finish() {
  if [[ ${#problems[@]} -eq 0 ]]; then
    echo "ok   $case_name"; passed=$((passed + 1))
  else
    echo "FAIL $case_name"; printf '     %s\n' "${problems[@]}"
    echo "     --- output:"; sed 's/^/     | /' "$tmp/out" | head -40
    echo "     --- calls:"; sed 's/^/     | /' "$FAKE_LOG" | head -40
    failed=$((failed + 1))
  fi
}
# run SCENARIO [VAR=VALUE...] -- COMMAND...: fresh fake state, no stdin, output in $tmp/out.
run() {
  local scenario="$1"; shift
  local envs=()
  while [[ "$1" != -- ]]; do envs+=("$1"); shift; done
  shift
  : >"$FAKE_LOG"; rm -rf "$FAKE_STATE"; mkdir -p "$FAKE_STATE"
  [[ -z "${seed_domains:-}" ]] || printf '%s' "$seed_domains" >"$FAKE_STATE/domains.json"
  rc=0
  env FAKE_SCW_SCENARIO="$scenario" "${envs[@]}" "$@" >"$tmp/out" 2>&1 </dev/null || rc=$?
}
want_rc() { [[ "$rc" == "$1" ]] || problems+=("exit code $rc, want $1"); }
says() { grep -qF -- "$1" "$tmp/out" || problems+=("output does not say: $1"); }
never_says() { ! grep -qF -- "$1" "$tmp/out" || problems+=("output must not contain: $1"); }
called() { grep -qE -- "$1" "$FAKE_LOG" || problems+=("no call matching: $1"); }
not_called() { ! grep -qE -- "$1" "$FAKE_LOG" || problems+=("unexpected call matching: $1"); }
calls_count() {
  local n; n="$(grep -cE -- "$1" "$FAKE_LOG" || true)"
  [[ "$n" == "$2" ]] || problems+=("$n calls matching '$1', want $2")
}
# in_order REGEX...: the calls happened in this order (other calls may sit between them).
in_order() {
  local line=0 re n
  for re in "$@"; do
    n="$(tail -n +$((line + 1)) "$FAKE_LOG" | grep -nE -m1 -- "$re" | cut -d: -f1 || true)"
    if [[ -z "$n" ]]; then problems+=("no call matching '$re' after call $line"); return; fi
    line=$((line + n))
  done
}
out_is() { [[ "$(cat "$tmp/out")" == "$1" ]] || problems+=("output is '$(head -c 200 "$tmp/out")', want '$1'"); }

# helpers CODE: runs CODE in a fresh bash with scripts/scw-helpers.sh sourced.
helpers=(bash -c "source '$root/scripts/scw-helpers.sh'; eval \"\$1\"" helpers)

# ---------------------------------------------------------------------------------------------
# scripts/scw-helpers.sh

begin "helpers: scw_container_endpoint strips https:// from the v1 public_endpoint"
run success -- "${helpers[@]}" "scw_container_endpoint $CONTAINER"
want_rc 0
out_is "elbattapiq7x2kd9m-elbatt-api.functions.fnc.fr-par.scw.cloud"
called "^scw container container get $CONTAINER region=fr-par -o json$"
finish

begin "helpers: scw_job_run prints .job_runs[0].id"
run success REGION=nl-ams -- "${helpers[@]}" "scw_job_run def-1 environment-variables.PLATE=EH91427"
want_rc 0
out_is "7c9e6679-7425-40de-944b-e07fc1f90ae7"
called "^scw jobs definition start def-1 environment-variables.PLATE=EH91427 region=nl-ams -o json$"
finish

begin "helpers: scw_domain_status prints hostname, status and error_message (no url field)"
seed_domains='[{"id":"d-1","container_id":"c-1","hostname":"chatbot.elbatt.no","status":"error","error_message":"CAA forbids letsencrypt.org","created_at":"x","updated_at":"x","tags":[]}]'
run success -- "${helpers[@]}" "scw_domain_status chatbot.elbatt.no"
want_rc 0
out_is "$(printf 'chatbot.elbatt.no\terror\tCAA forbids letsencrypt.org')"
seed_domains=''
run success -- "${helpers[@]}" "scw_domain_status chatbot.elbatt.no"
want_rc 1
says "no container domain for chatbot.elbatt.no"
finish

begin "helpers: scw_domain_delete_by_host deletes every binding of the host and nothing else"
seed_domains='[{"id":"d-1","container_id":"c-1","hostname":"chatbot.elbatt.no","status":"ready","error_message":null},{"id":"d-2","container_id":"c-2","hostname":"chatbot.elbatt.no","status":"error","error_message":"x"},{"id":"d-3","container_id":"c-1","hostname":"other.elbatt.no","status":"ready","error_message":null}]'
run success -- "${helpers[@]}" "scw_domain_delete_by_host chatbot.elbatt.no"
seed_domains=''
want_rc 0
called "^scw container domain delete d-1 region=fr-par"
called "^scw container domain delete d-2 region=fr-par"
not_called "domain delete d-3"
finish

begin "helpers: wait_domain_ready gives up after its timeout while the domain stays creating"
seed_domains='[{"id":"d-1","container_id":"c-1","hostname":"chatbot.elbatt.no","status":"creating","error_message":null}]'
run domain_stuck SCW_POLL_INTERVAL=0.2 -- "${helpers[@]}" "wait_domain_ready chatbot.elbatt.no fr-par 1"
seed_domains=''
want_rc 1
says "still 'creating' after 1s (timeout)"
finish

begin "helpers: scw_require refuses a CLI older than 2.56 and names the version"
run old_cli -- "${helpers[@]}" "scw_require"
want_rc 1
says "scw 2.41.0 is too old"
finish

# ---------------------------------------------------------------------------------------------
# scripts/deploy.sh

begin "deploy.sh: settings, secrets, update, bind, ready, certificate, health, smoke, in order"
run success CONTAINER_ID="$CONTAINER" IMAGE=rg.fr-par.scw.cloud/elbatt/chatbot-backend:v42 \
  VEGVESEN_API_KEY="$VEG_SECRET" OPENAI_API_KEY="$LLM_SECRET" -- "$root/scripts/deploy.sh"
want_rc 0
in_order "^scw version -o json$" \
  "^scw container container get $CONTAINER region=fr-par -o json$" \
  "^scw container container update $CONTAINER image=rg.fr-par.scw.cloud/elbatt/chatbot-backend:v42 port=8000 " \
  "^scw container domain list region=fr-par" \
  "^scw container domain create container-id=$CONTAINER hostname=chatbot.elbatt.no region=fr-par -o json$" \
  "^scw container domain list" "^scw container domain list" \
  "^openssl s_client -servername chatbot.elbatt.no -connect chatbot.elbatt.no:443" \
  "^curl .*https://chatbot.elbatt.no/health$" \
  "^smoke BASE_URL=https://chatbot.elbatt.no EXPECT_PLATE_LOOKUP=configured$"
called "container update .* environment-variables.LOG_FORMAT=json .*environment-variables.ALLOWED_ORIGINS=https://elbatt.no,https://www.elbatt.no .*region=fr-par --wait -o json$"
called "container update .* secret-environment-variables.VEGVESEN_API_KEY=$VEG_SECRET"
called "container update .* secret-environment-variables.OPENAI_API_KEY=$LLM_SECRET"
called "container update .* https-connection-only=true liveness-probe.http.path=/health"
not_called "registry-image=|secret-environment-variables\.[0-9]+\.|memory-limit=|health-check"
never_says "$VEG_SECRET"
never_says "$LLM_SECRET"
says "deployed rg.fr-par.scw.cloud/elbatt/chatbot-backend:v42 to https://chatbot.elbatt.no"
finish

begin "deploy.sh: a binding that is already ready for this container is kept"
seed_domains="[{\"id\":\"d-9\",\"container_id\":\"$CONTAINER\",\"hostname\":\"chatbot.elbatt.no\",\"status\":\"ready\",\"error_message\":null}]"
run success CONTAINER_ID="$CONTAINER" -- "$root/scripts/deploy.sh"
seed_domains=''
want_rc 0
not_called "domain (create|delete)"
says "already bound to this container"
finish

begin "deploy.sh: a binding in error is deleted and created again"
seed_domains="[{\"id\":\"d-9\",\"container_id\":\"$CONTAINER\",\"hostname\":\"chatbot.elbatt.no\",\"status\":\"error\",\"error_message\":\"old failure\"}]"
run success CONTAINER_ID="$CONTAINER" -- "$root/scripts/deploy.sh"
seed_domains=''
want_rc 0
in_order "domain delete d-9" "domain create container-id=$CONTAINER hostname=chatbot.elbatt.no"
finish

begin "deploy.sh: a domain that ends in error fails with Scaleway's error_message, before any HTTPS check"
run domain_error CONTAINER_ID="$CONTAINER" -- "$root/scripts/deploy.sh"
want_rc 1
says "domain chatbot.elbatt.no is 'error': Let's Encrypt HTTP-01 challenge failed for chatbot.elbatt.no"
says "CNAME"
not_called "^openssl|^curl|^smoke"
finish

begin "deploy.sh: missing credentials stop it at the first API call with scw's message and a hint"
run no_credentials CONTAINER_ID="$CONTAINER" VEGVESEN_API_KEY="$VEG_SECRET" OPENAI_API_KEY="$LLM_SECRET" -- "$root/scripts/deploy.sh"
want_rc 1
says "access key is required"
says "scw init"
not_called "container update"
never_says "$VEG_SECRET"
finish

begin "deploy.sh: a container that ends in error after the update fails with its error_message"
run container_error CONTAINER_ID="$CONTAINER" -- "$root/scripts/deploy.sh"
want_rc 1
says "container is 'error' after the update: image pull failed: manifest unknown"
not_called "domain"
finish

begin "deploy.sh: some secrets but not all is refused before anything changes"
run success CI=true CONTAINER_ID="$CONTAINER" VEGVESEN_API_KEY="$VEG_SECRET" -- "$root/scripts/deploy.sh"
want_rc 1
says "not for OPENAI_API_KEY"
not_called "container update"
never_says "$VEG_SECRET"
finish

begin "deploy.sh: no secrets at all leaves the container's secrets alone"
run success CI=true CONTAINER_ID="$CONTAINER" -- "$root/scripts/deploy.sh"
want_rc 0
says "keeps its current secrets"
not_called "secret-environment-variables"
finish

begin "deploy.sh: a certificate that does not name the domain fails before the health check"
run success CONTAINER_ID="$CONTAINER" FAKE_CERT_SAN="DNS:*.functions.fnc.fr-par.scw.cloud" -- "$root/scripts/deploy.sh"
want_rc 1
says "does not name it"
not_called "^curl|^smoke"
finish

begin "deploy.sh: a health body other than {\"status\":\"healthy\"} fails"
run success CONTAINER_ID="$CONTAINER" FAKE_CURL_HEALTH_BODY='{"ok":true}' -- "$root/scripts/deploy.sh"
want_rc 1
says 'answered {"ok":true}'
not_called "^smoke"
finish

begin "deploy.sh: without CONTAINER_ID it says what to set"
run success -- "$root/scripts/deploy.sh"
want_rc 1
says "set CONTAINER_ID"
finish

begin "deploy.sh: secrets typed at a terminal are sent to scw and never shown"
: >"$FAKE_LOG"; rm -rf "$FAKE_STATE"; mkdir -p "$FAKE_STATE"
rc=0
env -u CI FAKE_SCW_SCENARIO=success CONTAINER_ID="$CONTAINER" python3 - "$root/scripts/deploy.sh" \
  "$VEG_SECRET" "$LLM_SECRET" >"$tmp/out" 2>&1 <<'PY' || rc=$?
import os, pty, sys, time
script, answers = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(script, [script])
seen, buf = 0, b""
deadline = time.time() + 60
while time.time() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    buf += chunk
    if seen < len(answers) and buf.count(b"(typing is hidden") > seen:
        os.write(fd, answers[seen].encode() + b"\n")
        seen += 1
sys.stdout.write(buf.decode(errors="replace"))
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
PY
want_rc 0
says "VEGVESEN_API_KEY (typing is hidden"
says "OPENAI_API_KEY (typing is hidden"
never_says "$VEG_SECRET"
never_says "$LLM_SECRET"
called "secret-environment-variables.VEGVESEN_API_KEY=$VEG_SECRET"
called "secret-environment-variables.OPENAI_API_KEY=$LLM_SECRET"
finish

# ---------------------------------------------------------------------------------------------
# scripts/job-run.sh

begin "job-run.sh: starts the plate job, polls the run it got back, prints the result"
run success JOB_DEF_ID=def-7 -- "$root/scripts/job-run.sh" EH91427
want_rc 0
in_order "^scw jobs definition start def-7 environment-variables.PLATE=EH91427 region=fr-par -o json$" \
  "^scw jobs run get 7c9e6679-7425-40de-944b-e07fc1f90ae7 region=fr-par -o json$" \
  "^scw jobs run get 7c9e6679-7425-40de-944b-e07fc1f90ae7"
says "job run 7c9e6679-7425-40de-944b-e07fc1f90ae7: succeeded, exit code 0, took 3s"
says '"plate":"EH91427","ok":true'
finish

begin "job-run.sh: a failed run (exited_with_error) fails with reason, exit code and its meaning"
run job_failed JOB_DEF_ID=def-7 -- "$root/scripts/job-run.sh" AA12345
want_rc 1
says "job run 7c9e6679-7425-40de-944b-e07fc1f90ae7 failed: reason=exited_with_error exit_code=3"
says "exit code 3: no vehicle with that plate"
never_says "succeeded"
finish

begin "job-run.sh: missing credentials fail with scw's message and a hint"
run no_credentials JOB_DEF_ID=def-7 -- "$root/scripts/job-run.sh" EH91427
want_rc 1
says "access key is required"
says "scw init"
finish

begin "job-run.sh: without a plate it prints its usage"
run success JOB_DEF_ID=def-7 -- "$root/scripts/job-run.sh"
want_rc 2
says "usage:"
not_called "jobs"
finish

# ---------------------------------------------------------------------------------------------
# scripts/deploy-functions.sh (small stand-in zips; packaging is tested by test-function-zips.sh)

mkdir -p "$tmp/dist"
for fn in health plate-lookup chat conversations scenarios; do
  head -c $((1000 + ${#fn})) /dev/zero >"$tmp/dist/$fn.zip"
done
fnenv=(SKIP_PACKAGE=1 DIST="$tmp/dist")

begin "deploy-functions.sh: namespace, then create, upload, deploy and wait for each function"
run success "${fnenv[@]}" VEGVESEN_API_KEY="$VEG_SECRET" OPENAI_API_KEY="$LLM_SECRET" -- "$root/scripts/deploy-functions.sh"
want_rc 0
in_order "^scw version" "^scw function runtime list region=fr-par" \
  "^scw function namespace list name=elbatt-functions" "^scw function namespace create name=elbatt-functions" \
  "^scw function namespace get fns-1" "^scw function namespace get fns-1" \
  "^scw function function list namespace-id=fns-1 name=health" \
  "^scw function function create namespace-id=fns-1 name=health runtime=rust196 handler=handle memory-limit=128 " \
  "^scw function function get-upload-url fn-health content-length=1006 region=fr-par" \
  "^curl .*-X PUT -H @.* --data-binary @$tmp/dist/health.zip https://s3.fr-par.scw.cloud/" \
  "^scw function function deploy fn-health" "^scw function function get fn-health" "^scw function function get fn-health" \
  "^scw function function create namespace-id=fns-1 name=plate-lookup runtime=rust196 handler=handle memory-limit=256 " \
  "^scw function function create namespace-id=fns-1 name=chat runtime=rust196 handler=handle memory-limit=512 " \
  "^scw function function get-upload-url fn-chat content-length=1004"
called "create .*name=plate-lookup .*secret-environment-variables.0.key=VEGVESEN_API_KEY secret-environment-variables.0.value=$VEG_SECRET"
called "create .*name=chat .*secret-environment-variables.1.key=OPENAI_API_KEY secret-environment-variables.1.value=$LLM_SECRET"
not_called "create .*name=health .*secret-environment"
called "create .*name=health .*environment-variables.LOG_FORMAT=json"
not_called "^curl .*11111111-2222-4333-8444-555555555555"
grep -q "^X-Auth-Token: 11111111-2222-4333-8444-555555555555$" "$FAKE_STATE/upload-headers" \
  || problems+=("the upload's header file has no X-Auth-Token")
grep -qi "^content-type: application/octet-stream$" "$FAKE_STATE/upload-headers" \
  || problems+=("the upload's header file has no Content-Type")
never_says "$VEG_SECRET"
never_says "$LLM_SECRET"
says "deployed: health plate-lookup chat conversations scenarios"
finish

begin "deploy-functions.sh: DATABASE_URL, when set, is a secret of every function but health and replaces STORE=memory"
db_url="postgres://app-4242:db-s3cr3t-77@db-1.pg.sdb.fr-par.scw.cloud:5432/elbatt?sslmode=verify-full"
run success "${fnenv[@]}" VEGVESEN_API_KEY="$VEG_SECRET" OPENAI_API_KEY="$LLM_SECRET" DATABASE_URL="$db_url" -- "$root/scripts/deploy-functions.sh"
want_rc 0
called "create .*name=chat .*secret-environment-variables.2.key=DATABASE_URL secret-environment-variables.2.value=postgres://app-4242:db-s3cr3t-77@db-1"
called "create .*name=conversations .*secret-environment-variables.0.key=DATABASE_URL"
not_called "create .*name=health .*DATABASE_URL"
not_called "environment-variables.STORE=memory"
never_says "db-s3cr3t-77"
finish

begin "deploy-functions.sh: ADMIN_TOKEN and PUBLISHED_EDIT_TOKEN, when set, are secrets of scenarios only"
adm="adm-$(printf 't%.0s' {1..20})" edt="edt-$(printf 'e%.0s' {1..20})"
run success "${fnenv[@]}" VEGVESEN_API_KEY="$VEG_SECRET" OPENAI_API_KEY="$LLM_SECRET" ADMIN_TOKEN="$adm" PUBLISHED_EDIT_TOKEN="$edt" -- "$root/scripts/deploy-functions.sh"
want_rc 0
called "create .*name=scenarios .*secret-environment-variables.0.key=ADMIN_TOKEN secret-environment-variables.0.value=$adm"
called "create .*name=scenarios .*secret-environment-variables.1.key=PUBLISHED_EDIT_TOKEN secret-environment-variables.1.value=$edt"
not_called "create .*name=chat .*ADMIN_TOKEN"
not_called "create .*name=conversations .*PUBLISHED_EDIT_TOKEN"
never_says "$adm"
never_says "$edt"
finish

begin "deploy-functions.sh: existing functions are updated (redeploy=false), not created"
run functions_exist "${fnenv[@]}" -- "$root/scripts/deploy-functions.sh" health
want_rc 0
called "^scw function function update fn-health runtime=rust196 handler=handle memory-limit=128 .* redeploy=false region=fr-par"
not_called "function (create|namespace create)"
in_order "function update fn-health" "get-upload-url fn-health" "function deploy fn-health"
finish

begin "deploy-functions.sh: a failed build fails with error_message and build_message"
run function_error "${fnenv[@]}" -- "$root/scripts/deploy-functions.sh"
want_rc 1
says "function chat is 'error'"
says "error_message: function build failed"
says "build_message: error[E0432]: unresolved import"
says "not deployed: chat"
finish

begin "deploy-functions.sh: a memory size that is not a tier is refused before any API call"
run success "${fnenv[@]}" MEMORY_CHAT=300 -- "$root/scripts/deploy-functions.sh"
want_rc 1
says "MEMORY_CHAT=300 is not a Functions memory tier"
not_called "^scw function"
finish

begin "deploy-functions.sh: a refused upload stops the deploy of that function"
run success "${fnenv[@]}" FAKE_CURL_UPLOAD_STATUS=403 -- "$root/scripts/deploy-functions.sh" health
want_rc 1
says "uploading $tmp/dist/health.zip failed"
not_called "function function deploy"
finish

# The upload carries the Scaleway secret key: only https:// to a Scaleway host may get it.
for bad in "http://s3.fr-par.scw.cloud/scw-srvless-uploads/fn-health.zip?X-Amz-Signature=f4k3" \
  "https://uploads.evil.example/fn-health.zip?X-Amz-Signature=f4k3" \
  "https://s3.fr-par.scw.cloud.evil.example/fn-health.zip?X-Amz-Signature=f4k3"; do
  begin "deploy-functions.sh: an upload URL off Scaleway's HTTPS is refused, the key never sent: $bad"
  run success "${fnenv[@]}" FAKE_SCW_UPLOAD_URL="$bad" -- "$root/scripts/deploy-functions.sh" health
  want_rc 1
  says "refusing to upload health"
  not_called "^curl"
  not_called "function function deploy"
  [[ ! -e "$FAKE_STATE/upload-headers" ]] || problems+=("a header file (with X-Auth-Token) reached curl")
  finish
done

begin "deploy-functions.sh: a Scaleway HTTPS upload URL in another region is used"
good="https://s3.nl-ams.scw.cloud/scw-srvless-uploads/fn-health.zip?X-Amz-Signature=f4k3"
run success "${fnenv[@]}" FAKE_SCW_UPLOAD_URL="$good" -- "$root/scripts/deploy-functions.sh" health
want_rc 0
grep -qF -- "--data-binary @$tmp/dist/health.zip $good" "$FAKE_LOG" || problems+=("no upload to $good")
finish

begin "deploy-functions.sh: upload_url_ok refuses look-alikes, user-info, ports and queries that hide the host"
# shellcheck disable=SC2016  # $1 belongs to the inner bash
url_ok=(bash -c "$(sed -n '/^upload_url_ok() {/,/^}/p' "$root/scripts/deploy-functions.sh")"'; upload_url_ok "$1"' url_ok)
for bad in "https://evilscw.cloud/x" "https://scw.cloud.evil.example/x" "https://s3.fr-par.scw.cloud@evil.example/x" \
  "https://s3.fr-par.scw.cloud:443@evil.example/x" 'https://evil.example\@s3.fr-par.scw.cloud/x' \
  "https://evil.example?.scw.cloud/x" "https://evil.example#.scaleway.com/x" "https://s3.fr-par.scw.cloud:x/x" \
  "https://s3.fr-par.scw.cloud /x" "HTTP://s3.fr-par.scw.cloud/x" "https://.scw.cloud/x" ""; do
  ! "${url_ok[@]}" "$bad" || problems+=("accepted: '$bad'")
done
for good in "https://s3.fr-par.scw.cloud/scw-srvless-uploads/a.zip?X-Amz-Signature=f" \
  "https://S3.FR-PAR.SCW.CLOUD:443/a.zip" "https://uploads.api.scaleway.com/a.zip" "https://s3.pl-waw.scw.cloud"; do
  "${url_ok[@]}" "$good" || problems+=("refused: '$good'")
done
finish

# ---------------------------------------------------------------------------------------------
# scripts/create-database.sh (Serverless SQL + IAM), and its DATABASE_URL in the deploy scripts

# What the fake's `iam api-key create` returns once, its database, project and application.
SDB_SECRET=9c0ffee5-5ec2-4e7a-b1d0-5db5ec2e7000
SDB_ID=4d1b7c2e-8f3a-4e5b-9c6d-0e1f2a3b4c5d
SDB_PROJECT=c0ffee00-1111-4222-8333-444455556666
SDB_APP=a11ce000-aaaa-4bbb-8ccc-dddddddddddd
SDB_URL="postgres://$SDB_APP:$SDB_SECRET@$SDB_ID.pg.sdb.fr-par.scw.cloud:5432/elbatt?sslmode=require"
SDB_URL_RE="${SDB_URL//\?/\\?}"  # for called/not_called (grep -E)
url_file="$tmp/db/database-url"
dbenv=(DATABASE_URL_FILE="$url_file")

begin "create-database.sh: creates the database, waits for ready, application, policy (ReadWrite), key; URL in a 600 file"
rm -rf "$tmp/db"
run success "${dbenv[@]}" -- "$root/scripts/create-database.sh"
want_rc 0
in_order "^scw version -o json$" \
  "^scw sdb-sql database list name=elbatt region=fr-par -o json$" \
  "^scw sdb-sql database create name=elbatt cpu-min=0 cpu-max=2 region=fr-par -o json$" \
  "^scw sdb-sql database get $SDB_ID region=fr-par -o json$" \
  "^scw sdb-sql database get $SDB_ID region=fr-par -o json$" \
  "^scw iam application list name=elbatt-db -o json$" \
  "^scw iam application create name=elbatt-db " \
  "^scw iam policy list application-ids.0=$SDB_APP policy-name=elbatt-db -o json$" \
  "^scw iam policy create name=elbatt-db application-id=$SDB_APP rules.0.project-ids.0=$SDB_PROJECT rules.0.permission-set-names.0=ServerlessSQLDatabaseReadWrite " \
  "^scw iam api-key create application-id=$SDB_APP "
calls_count "sdb-sql database get" 2
says "database elbatt: creating"
says "database elbatt: ready"
[[ -f "$url_file" && "$(cat "$url_file")" == "$SDB_URL" ]] || problems+=("$url_file does not hold $SDB_URL")
[[ "$(stat -c %a "$url_file" 2>/dev/null)" == 600 ]] || problems+=("$url_file is not mode 600")
[[ "$(stat -c %a "$tmp/db" 2>/dev/null)" == 700 ]] || problems+=("$tmp/db is not mode 700")
says "postgres://$SDB_APP:<secret of SCWDB0000000000000KEY>@$SDB_ID.pg.sdb.fr-par.scw.cloud:5432/elbatt?sslmode=require"
[[ "$(grep -v '^==>\|^database\|^created\|^wrote\|^next' "$tmp/out")" == "$url_file" ]] || problems+=("stdout is not the file's path alone")
never_says "$SDB_SECRET"
not_called "$SDB_SECRET"
finish

begin "create-database.sh: run again, everything is reused: no create, no new key, the file kept"
run sdb_exists "${dbenv[@]}" -- "$root/scripts/create-database.sh"
want_rc 0
not_called "create"
not_called "rule update"
called "^scw iam rule list p-1 -o json$"
says "database elbatt exists ($SDB_ID)"
says "policy elbatt-db (p-1) grants ServerlessSQLDatabaseReadWrite"
says "already holds the URL"
[[ "$(cat "$url_file")" == "$SDB_URL" ]] || problems+=("$url_file changed")
never_says "$SDB_SECRET"
finish

begin "create-database.sh: an existing database without a URL file: reused, one new key for the existing application"
rm -rf "$tmp/db"
run sdb_exists "${dbenv[@]}" -- "$root/scripts/create-database.sh"
want_rc 0
not_called "sdb-sql database create|application create|policy create"
calls_count "^scw iam api-key create application-id=$SDB_APP " 1
[[ "$(cat "$url_file" 2>/dev/null)" == "$SDB_URL" ]] || problems+=("$url_file does not hold the URL")
never_says "$SDB_SECRET"
finish

begin "create-database.sh: PERMISSION_SET other than the policy's: the rules are set again"
run sdb_exists "${dbenv[@]}" PERMISSION_SET=ServerlessSQLDatabaseDataReadWrite -- "$root/scripts/create-database.sh"
want_rc 0
called "^scw iam rule update p-1 rules.0.project-ids.0=$SDB_PROJECT rules.0.permission-set-names.0=ServerlessSQLDatabaseDataReadWrite -o json$"
finish

begin "create-database.sh: a refused creation fails with scw's message, before any IAM call"
rm -rf "$tmp/db"
run sdb_create_error "${dbenv[@]}" -- "$root/scripts/create-database.sh"
want_rc 1
says "'scw sdb-sql database create' failed"
says "ServerlessSQLDatabases has reached its quota"
not_called "^scw iam"
[[ ! -e "$url_file" ]] || problems+=("a URL file was written")
finish

begin "create-database.sh: a database that goes to error fails, naming it"
run sdb_error "${dbenv[@]}" -- "$root/scripts/create-database.sh"
want_rc 1
says "database elbatt ($SDB_ID) is 'error'"
not_called "^scw iam"
finish

begin "create-database.sh: gives up after DB_TIMEOUT while the database stays creating"
run sdb_stuck "${dbenv[@]}" DB_TIMEOUT=1 SCW_POLL_INTERVAL=0.2 -- "$root/scripts/create-database.sh"
want_rc 1
says "database elbatt still 'creating' after 1s (timeout)"
not_called "^scw iam"
[[ ! -e "$url_file" ]] || problems+=("a URL file was written")
finish

begin "create-database.sh: missing credentials stop it at the first API call with scw's message and a hint"
run no_credentials "${dbenv[@]}" -- "$root/scripts/create-database.sh"
want_rc 1
says "access key is required"
says "scw init"
not_called "create"
finish

begin "create-database.sh: a region other than fr-par, a bad name or CPU bound is refused before any API call"
run success "${dbenv[@]}" REGION=nl-ams -- "$root/scripts/create-database.sh"
want_rc 1
says "exists only in fr-par"
not_called "^scw"
run success "${dbenv[@]}" DB_CPU_MAX=0 -- "$root/scripts/create-database.sh"
want_rc 1
says "DB_CPU_MAX=0"
not_called "^scw"
finish

begin "deploy.sh: DATABASE_URL_FILE joins the secrets and drops STORE=memory (never printed)"
mkdir -p "$tmp/db" && printf '%s\n' "$SDB_URL" >"$url_file"
run success CONTAINER_ID="$CONTAINER" VEGVESEN_API_KEY="$VEG_SECRET" OPENAI_API_KEY="$LLM_SECRET" "${dbenv[@]}" -- "$root/scripts/deploy.sh"
want_rc 0
called "container update .* secret-environment-variables.DATABASE_URL=$SDB_URL_RE"
called "container update .* secret-environment-variables.VEGVESEN_API_KEY=$VEG_SECRET"
not_called "environment-variables.STORE="
never_says "$SDB_SECRET"
finish

begin "deploy.sh: DATABASE_URL alone (without the other secrets) is refused: it would replace them"
run success CI=true CONTAINER_ID="$CONTAINER" DATABASE_URL="$SDB_URL" -- "$root/scripts/deploy.sh"
want_rc 1
says "not for VEGVESEN_API_KEY OPENAI_API_KEY"
not_called "container update"
never_says "$SDB_SECRET"
finish

begin "deploy.sh: a container with a DATABASE_URL secret keeps it: no STORE=, secrets without it refused"
run success CI=true CONTAINER_ID="$CONTAINER" FAKE_CONTAINER_SECRETS=VEGVESEN_API_KEY,OPENAI_API_KEY,DATABASE_URL -- "$root/scripts/deploy.sh"
want_rc 0
not_called "secret-environment-variables|environment-variables.STORE="
run success CONTAINER_ID="$CONTAINER" FAKE_CONTAINER_SECRETS=DATABASE_URL VEGVESEN_API_KEY="$VEG_SECRET" OPENAI_API_KEY="$LLM_SECRET" -- "$root/scripts/deploy.sh"
want_rc 1
says "the container has a DATABASE_URL secret"
not_called "container update"
finish

begin "deploy.sh: without a shared database STORE=memory from deploy/scaleway.env is sent"
run success CI=true CONTAINER_ID="$CONTAINER" -- "$root/scripts/deploy.sh"
want_rc 0
called "container update .* environment-variables.STORE=memory"
finish

begin "deploy-functions.sh: DATABASE_URL_FILE gives the functions (but health) DATABASE_URL"
run success "${fnenv[@]}" "${dbenv[@]}" -- "$root/scripts/deploy-functions.sh" health chat
want_rc 0
called "create .*name=chat .*secret-environment-variables.0.key=DATABASE_URL secret-environment-variables.0.value=$SDB_URL_RE"
not_called "create .*name=health .*DATABASE_URL"
not_called "environment-variables.STORE=memory"
never_says "$SDB_SECRET"
finish

begin "deploy scripts: a DATABASE_URL_FILE that is missing or holds no postgres:// URL is refused"
run success CONTAINER_ID="$CONTAINER" DATABASE_URL_FILE="$tmp/db/none" -- "$root/scripts/deploy.sh"
want_rc 1
says "cannot be read"
not_called "container update"
printf 'mysql://x\n' >"$tmp/db/bad"
run success "${fnenv[@]}" DATABASE_URL_FILE="$tmp/db/bad" -- "$root/scripts/deploy-functions.sh" chat
want_rc 1
says "does not hold a postgres:// URL"
not_called "function function"
finish

# ---------------------------------------------------------------------------------------------
# What CI pulls from PyPI is pinned

begin "CI's pip installs all go through scripts/requirements-ci.txt (every tool pinned ==) or requirements-schemathesis.txt (== and a hash)"
reqs="$root/scripts/requirements-ci.txt"
if [[ ! -f "$reqs" ]]; then
  problems+=("scripts/requirements-ci.txt is missing")
else
  while IFS= read -r line; do
    [[ "$line" =~ ^[A-Za-z0-9._-]+==[0-9][A-Za-z0-9.]*$ ]] || problems+=("not pinned with ==x.y.z: $line")
  done < <(grep -vE '^[[:space:]]*(#|$)' "$reqs")
fi
# schemathesis and its dependencies, installed with --require-hashes: `name==x.y \` then its hash.
hashed="$root/scripts/requirements-schemathesis.txt"
while IFS= read -r line; do
  [[ "$line" =~ ^[A-Za-z0-9._-]+==[0-9][A-Za-z0-9.]*\ \\$ || "$line" =~ ^\ +--hash=sha256:[0-9a-f]{64}$ ]] \
    || problems+=("requirements-schemathesis.txt: not ==x.y.z with a sha256 hash: $line")
done < <(grep -vE '^[[:space:]]*(#|$)' "$hashed")
while IFS= read -r hit; do
  [[ "$hit" == *" -c scripts/requirements-ci.txt "* || "$hit" == *" -r scripts/requirements-ci.txt"* \
    || "$hit" == *" --require-hashes -r scripts/requirements-schemathesis.txt"* ]] \
    || problems+=("pip install without scripts/requirements-ci.txt: $hit")
done < <(cd "$root" && grep -rnE '(^|[[:space:]])(python3? -m pip|pip3?) install ' scripts .ci \
  --include='*.sh' --include=run | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#|echo ' || true)
finish

# ---------------------------------------------------------------------------------------------
# scripts/smoke.sh (the real curl, against scripts/tests/fake_elbatt.py)

# smoke_against [BROKEN_PATH...]: runs smoke.sh against a fake runner with those paths broken.
smoke_against() {
  local log="$tmp/fake-elbatt.out" pid addr=""
  : >"$log"
  python3 "$root/scripts/tests/fake_elbatt.py" "$@" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do
    addr="$(sed -n 's/^listening on //p' "$log" | head -1)"
    [[ -n "$addr" ]] && break
    sleep 0.1
  done
  if [[ -z "$addr" ]]; then
    problems+=("the fake runner did not start: $(cat "$log")")
  else
    run success PATH="$real_path" BASE_URL="http://$addr" EXPECT_PLATE_LOOKUP=unconfigured -- "$root/scripts/smoke.sh"
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

if ! PATH="$real_path" command -v curl >/dev/null; then
  begin "smoke.sh: the real curl is installed (apt-get install curl)"
  problems+=("curl is missing")
  finish
else
  begin "smoke.sh: every check passes against a healthy runner: 9 passed, 0 failed, exit 0"
  smoke_against
  want_rc 0
  [[ "$(tail -1 "$tmp/out")" == "9 passed, 0 failed" ]] || problems+=("last line: $(tail -1 "$tmp/out")")
  never_says "FAIL"
  finish

  begin "smoke.sh: failing checks are each named and counted, later checks still run, exit 1"
  smoke_against /api/health /no-such-function
  want_rc 1
  says "FAIL: GET /api/health: 500"
  says "FAIL: GET /no-such-function: want a JSON 404, got 500"
  says "ok   plate-lookup without VEGVESEN_API_KEY -> 503 naming the variable"
  [[ "$(tail -1 "$tmp/out")" == "7 passed, 2 failed" ]] || problems+=("last line: $(tail -1 "$tmp/out"), want 7 passed, 2 failed")
  finish

  begin "smoke.sh: no server at all fails every check: 0 passed, 9 failed, exit 1"
  run success PATH="$real_path" BASE_URL="http://127.0.0.1:9" -- "$root/scripts/smoke.sh"
  want_rc 1
  says "no answer from http://127.0.0.1:9"
  [[ "$(tail -1 "$tmp/out")" == "0 passed, 9 failed" ]] || problems+=("last line: $(tail -1 "$tmp/out")")
  finish
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
