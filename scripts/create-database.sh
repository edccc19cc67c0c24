#!/usr/bin/env bash
# Creates (or finds) the Scaleway Serverless SQL Database the Elbatt store shares between every
# instance (docs/state.md), and writes its DATABASE_URL to a private file for the deploy scripts:
#   1. prerequisites (scw >= 2.56, jq); Serverless SQL exists only in fr-par
#   2. the database DB_NAME: found by its exact name, else `scw sdb-sql database create` (cpu-min=0)
#   3. wait until it is `ready` (bounded: DB_TIMEOUT); fail on `error`/`locked`
#   4. the IAM application IAM_APP_NAME (the database user) and its policy with PERMISSION_SET on
#      the database's project, found or created (the permission set is corrected if it differs)
#   5. an API key for the application (its secret is the password); DATABASE_URL =
#      postgres://<application-id>:<secret>@<id>.pg.sdb.fr-par.scw.cloud:5432/<db>?sslmode=require,
#      written to DATABASE_URL_FILE (mode 600). A file that already holds a URL for this
#      application and database is kept: no new key.
#
#   scripts/create-database.sh
#   DATABASE_URL_FILE=~/.config/elbatt/database-url scripts/deploy.sh              # the container
#   DATABASE_URL_FILE=~/.config/elbatt/database-url scripts/deploy-functions.sh    # the functions
#
# Environment: DB_NAME (elbatt); DB_CPU_MAX (2; cpu-min is always 0: scale to zero, billed for
# storage only when idle); DB_TIMEOUT (600 s); IAM_APP_NAME (elbatt-db; its policy has the same
# name); PERMISSION_SET (ServerlessSQLDatabaseReadWrite); PROJECT_ID (the database's);
# DATABASE_URL_FILE (${XDG_CONFIG_HOME:-~/.config}/elbatt/database-url); SCW_PROFILE (scw's own).
#
# Why ServerlessSQLDatabaseReadWrite and not …DataReadWrite: the store runs its versioned
# migrations at start (CREATE TABLE, CREATE INDEX), and DataReadWrite allows DML only, so the first
# start would fail. ReadWrite adds table and index DDL and nothing more (it cannot manage or delete
# databases; that is …FullAccess). If migrations ever move to a separate step, run that step with
# ReadWrite and give the app a key of a DataReadWrite application (PERMISSION_SET=…).
#
# The secret key is never printed: it goes from scw's JSON (read in this process) into the file,
# written with umask 077. Stdout is the file's path; messages go to stderr. An API key's secret is
# shown once only, so losing the file means a new key (rerun after deleting it; delete the old key
# with `scw iam api-key delete <access-key>`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/scw-helpers.sh
source "$root/scripts/scw-helpers.sh"
# shellcheck source=scripts/lib/deploy-common.sh
source "$root/scripts/lib/deploy-common.sh"

DB_NAME="${DB_NAME:-elbatt}"
DB_CPU_MAX="${DB_CPU_MAX:-2}"
DB_TIMEOUT="${DB_TIMEOUT:-600}"
IAM_APP_NAME="${IAM_APP_NAME:-elbatt-db}"
PERMISSION_SET="${PERMISSION_SET:-ServerlessSQLDatabaseReadWrite}"
DATABASE_URL_FILE="${DATABASE_URL_FILE:-${XDG_CONFIG_HOME:-$HOME/.config}/elbatt/database-url}"
region=fr-par
[[ $- != *x* ]] || die "refusing to run with xtrace (set -x): it would print the secret"

step "1/5 prerequisites"
[[ "${REGION:-fr-par}" == fr-par ]] || die "REGION=$REGION: Serverless SQL Database exists only in fr-par"
[[ "$DB_NAME" =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die "DB_NAME=$DB_NAME: use lower-case letters, digits, - and _"
if ! [[ "$DB_CPU_MAX" =~ ^[0-9]{1,2}$ ]] || (( 10#$DB_CPU_MAX < 1 || 10#$DB_CPU_MAX > 15 )); then
  die "DB_CPU_MAX=$DB_CPU_MAX: between 1 and 15 vCPU"
fi
case "$PERMISSION_SET" in
  ServerlessSQLDatabaseReadWrite | ServerlessSQLDatabaseDataReadWrite | ServerlessSQLDatabaseFullAccess) ;;
  *) die "PERMISSION_SET=$PERMISSION_SET: one of ServerlessSQLDatabaseReadWrite (default: migrations need DDL)," \
    "ServerlessSQLDatabaseDataReadWrite (DML only), ServerlessSQLDatabaseFullAccess" ;;
esac
scw_require || exit 1

step "2/5 database $DB_NAME ($region)"
# `name=` filters by substring: keep the exact name only.
dbs="$(scw_run sdb-sql database list name="$DB_NAME" region="$region")" || exit 1
db_id="$(jq -r --arg n "$DB_NAME" '[.[] | select(.name == $n) | .id][0] // empty' <<<"$dbs")"
if [[ -n "$db_id" ]]; then
  echo "database $DB_NAME exists ($db_id)" >&2
else
  created="$(scw_run sdb-sql database create name="$DB_NAME" cpu-min=0 cpu-max="$DB_CPU_MAX" region="$region")" || exit 1
  db_id="$(jq -r '.id // empty' <<<"$created")"
  [[ -n "$db_id" ]] || die "'scw sdb-sql database create' returned no id"
  echo "created database $DB_NAME ($db_id, 0-$DB_CPU_MAX vCPU)" >&2
fi

step "3/5 wait until $DB_NAME is ready"
started=$SECONDS
last=""
while :; do
  db="$(scw_run sdb-sql database get "$db_id" region="$region")" || exit 1
  status="$(jq -r '.status // "unknown_status"' <<<"$db")"
  if [[ "$status" != "$last" ]]; then echo "database $DB_NAME: $status" >&2; last="$status"; fi
  case "$status" in
    ready) break ;;
    error | locked) die "database $DB_NAME ($db_id) is '$status'; see the console, or delete it and rerun" ;;
  esac
  (( SECONDS - started < DB_TIMEOUT )) || die "database $DB_NAME still '$status' after ${DB_TIMEOUT}s (timeout)"
  sleep "${SCW_POLL_INTERVAL:-10}"
done
endpoint="$(jq -r '.endpoint // empty' <<<"$db")"
# postgres://<id>.pg.sdb.fr-par.scw.cloud:5432/<db>?sslmode=require: no credentials in it.
[[ "$endpoint" =~ ^postgres(ql)?://([^/@?]+)/([^/?]+)(\?.*)?$ ]] \
  || die "database $DB_NAME has no usable endpoint: '$endpoint'"
host="${BASH_REMATCH[2]}"
db_path="${BASH_REMATCH[3]}"
query="${BASH_REMATCH[4]:-?sslmode=require}"
[[ "$query" == *sslmode=* ]] || query="$query&sslmode=require"
project_id="${PROJECT_ID:-$(jq -r '.project_id // empty' <<<"$db")}"
[[ -n "$project_id" ]] || die "database $DB_NAME has no project_id: set PROJECT_ID"

step "4/5 IAM application $IAM_APP_NAME with $PERMISSION_SET on project $project_id"
apps="$(scw_run iam application list name="$IAM_APP_NAME")" || exit 1
app_id="$(jq -r --arg n "$IAM_APP_NAME" '[.[] | select(.name == $n) | .id][0] // empty' <<<"$apps")"
if [[ -n "$app_id" ]]; then
  echo "application $IAM_APP_NAME exists ($app_id)" >&2
else
  app_id="$(scw_run iam application create name="$IAM_APP_NAME" \
    description="Elbatt store: the DATABASE_URL user of Serverless SQL $DB_NAME" | jq -r '.id // empty')"
  [[ -n "$app_id" ]] || die "the application $IAM_APP_NAME could not be created"
  echo "created application $IAM_APP_NAME ($app_id)" >&2
fi
rules=(rules.0.project-ids.0="$project_id" rules.0.permission-set-names.0="$PERMISSION_SET")
policies="$(scw_run iam policy list application-ids.0="$app_id" policy-name="$IAM_APP_NAME")" || exit 1
policy_id="$(jq -r --arg n "$IAM_APP_NAME" '[.[] | select(.name == $n) | .id][0] // empty' <<<"$policies")"
if [[ -z "$policy_id" ]]; then
  policy_id="$(scw_run iam policy create name="$IAM_APP_NAME" application-id="$app_id" "${rules[@]}" \
    description="Elbatt store: $PERMISSION_SET on the project of Serverless SQL $DB_NAME" | jq -r '.id // empty')"
  [[ -n "$policy_id" ]] || die "the policy $IAM_APP_NAME could not be created"
  echo "created policy $IAM_APP_NAME ($policy_id): $PERMISSION_SET" >&2
else
  current="$(scw_run iam rule list "$policy_id")" || exit 1
  if jq -e --arg s "$PERMISSION_SET" --arg p "$project_id" \
    'any(.[]; (.permission_set_names | index($s)) and ((.project_ids // []) | index($p)))' <<<"$current" >/dev/null; then
    echo "policy $IAM_APP_NAME ($policy_id) grants $PERMISSION_SET" >&2
  else
    scw_run iam rule update "$policy_id" "${rules[@]}" >/dev/null || exit 1
    echo "policy $IAM_APP_NAME ($policy_id): rules set to $PERMISSION_SET on $project_id" >&2
  fi
fi

step "5/5 DATABASE_URL in $DATABASE_URL_FILE"
if [[ -s "$DATABASE_URL_FILE" ]]; then
  IFS= read -r old_url <"$DATABASE_URL_FILE" || true
  if [[ "${old_url:-}" == "postgres://$app_id:"*"@$host/$db_path?"* ]]; then
    chmod 600 "$DATABASE_URL_FILE"
    echo "kept: $DATABASE_URL_FILE already holds the URL for $app_id@$host/$db_path (no new key)" >&2
    printf '%s\n' "$DATABASE_URL_FILE"
    exit 0
  fi
  echo "$DATABASE_URL_FILE holds another URL: replaced (the key in it stays valid until you delete it)" >&2
fi
key="$(scw_run iam api-key create application-id="$app_id" description="elbatt DATABASE_URL for $DB_NAME")" || exit 1
access_key="$(jq -r '.access_key // empty' <<<"$key")"
secret="$(jq -r '.secret_key // empty' <<<"$key")"
unset key
[[ -n "$secret" ]] || die "'scw iam api-key create' returned no secret_key"
# The secret key is a UUID: nothing in it needs percent-encoding, but check rather than assume.
[[ "$secret" =~ ^[A-Za-z0-9._~-]+$ ]] || die "the new API key's secret has characters a URL would need encoded"
dir="$(dirname "$DATABASE_URL_FILE")"
(umask 077 && mkdir -p "$dir")
tmpfile="$(umask 077 && mktemp "$dir/.database-url.XXXXXX")"
trap 'rm -f "$tmpfile"' EXIT
printf 'postgres://%s:%s@%s/%s%s\n' "$app_id" "$secret" "$host" "$db_path" "$query" >"$tmpfile"
unset secret
chmod 600 "$tmpfile"
mv -f "$tmpfile" "$DATABASE_URL_FILE"
echo "wrote $DATABASE_URL_FILE (mode 600): postgres://$app_id:<secret of $access_key>@$host/$db_path$query" >&2
echo "next: DATABASE_URL_FILE=$DATABASE_URL_FILE scripts/deploy.sh (and scripts/deploy-functions.sh)" >&2
printf '%s\n' "$DATABASE_URL_FILE"
