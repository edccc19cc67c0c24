#!/usr/bin/env bash
# Deploys the elbatt-api container (every function on :8000) to Scaleway Serverless Containers and
# proves it works on its domain:
#   1. prerequisites (scw >= 2.56, jq, curl, openssl) and the container
#   2. settings (deploy/scaleway.env) and secrets (environment, else typed without echo)
#   3. `scw container container update` (v1: image=, port=8000, ...), which deploys; wait ready
#   4. bind the domain (chatbot.elbatt.no) unless it already is
#   5. wait until the domain is `ready` (fails on `error` with Scaleway's error_message)
#   6. the certificate's SAN names the domain (openssl)
#   7. GET https://<domain>/health is {"status":"healthy"}
#   8. scripts/smoke.sh against https://<domain>
#
#   CONTAINER_ID=<uuid> IMAGE=rg.fr-par.scw.cloud/elbatt/chatbot-backend:<tag> scripts/deploy.sh
#
# Environment: CONTAINER_ID (required); IMAGE (default rg.fr-par.scw.cloud/elbatt/chatbot-backend:latest);
# REGION (fr-par); DOMAIN (chatbot.elbatt.no); ENV_FILE (deploy/scaleway.env);
# SECRET_VARS ("VEGVESEN_API_KEY OPENAI_API_KEY"); ALLOW_PARTIAL_SECRETS=1; REBIND_DOMAIN=1;
# DOMAIN_TIMEOUT (600 s); EXPECT_PLATE_LOOKUP (configured); SKIP_SMOKE=1; SCW_PROFILE (scw's own).
# DATABASE_URL (or DATABASE_URL_FILE, as scripts/create-database.sh writes it), when set, joins the
# secrets (all or none applies to it too) and drops deploy/scaleway.env's STORE=memory, as in
# scripts/deploy-functions.sh. A container that already has a DATABASE_URL secret keeps using it:
# STORE= is dropped, and secrets given without DATABASE_URL are refused (they would replace it).
#
# Secrets reach scw as `secret-environment-variables.KEY=VALUE` arguments: scw cannot read them
# from a file or stdin. They are never echoed or logged (no xtrace, errors print only the
# command's first words, SCW_DEBUG is cleared), but like any argument they are visible in the
# process list of this machine while scw runs. Deploy from a machine you do not share.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/scw-helpers.sh
source "$root/scripts/scw-helpers.sh"
# shellcheck source=scripts/lib/deploy-common.sh
source "$root/scripts/lib/deploy-common.sh"

REGION="${REGION:-fr-par}"
DOMAIN="${DOMAIN:-chatbot.elbatt.no}"
IMAGE="${IMAGE:-rg.fr-par.scw.cloud/elbatt/chatbot-backend:latest}"
ENV_FILE="${ENV_FILE:-$root/deploy/scaleway.env}"
read -r -a secret_vars <<<"${SECRET_VARS:-VEGVESEN_API_KEY OPENAI_API_KEY}"
smoke="${SMOKE_SCRIPT:-$root/scripts/smoke.sh}"
[[ $- != *x* ]] || die "refusing to run with xtrace (set -x): it would print the secrets"

step "1/8 prerequisites"
scw_require || exit 1
need curl "apt-get install curl"
need openssl "apt-get install openssl"
[[ -n "${CONTAINER_ID:-}" ]] || die "set CONTAINER_ID (scw container container list region=$REGION)"
container="$(scw_run container container get "$CONTAINER_ID" region="$REGION")" || exit 1
echo "container $(jq -r '.name' <<<"$container") ($CONTAINER_ID): $(jq -r '.status' <<<"$container")" >&2

step "2/8 settings ($ENV_FILE) and secrets"
declare -a ENV_ARGS
load_env_file "$ENV_FILE"
load_database_url
if [[ -n "${DATABASE_URL:-}" && " ${secret_vars[*]} " != *" DATABASE_URL "* ]]; then
  secret_vars+=(DATABASE_URL)
fi
has_db_secret="$(jq -r '[.secret_environment_variables[]?.key] | index("DATABASE_URL") != null' <<<"$container")"
declare -A SECRETS
read_secrets "${secret_vars[@]}"
missing=()
for name in "${secret_vars[@]}"; do
  [[ -n "${SECRETS[$name]+set}" ]] || missing+=("$name")
done
if (( ${#SECRETS[@]} > 0 && ${#missing[@]} > 0 )) && [[ "${ALLOW_PARTIAL_SECRETS:-}" != 1 ]]; then
  # An update carrying secret-environment-variables replaces the container's whole secret set.
  die "secrets given for ${!SECRETS[*]} but not for ${missing[*]}: the update replaces the whole" \
    "secret set, so give all of them, or none to keep the current ones (ALLOW_PARTIAL_SECRETS=1" \
    "drops the missing ones on purpose)"
fi
if [[ "$has_db_secret" == true && ${#SECRETS[@]} -gt 0 && -z "${SECRETS[DATABASE_URL]+set}" \
  && "${ALLOW_PARTIAL_SECRETS:-}" != 1 ]]; then
  die "the container has a DATABASE_URL secret and these secrets would replace it: give DATABASE_URL" \
    "(or DATABASE_URL_FILE) too, or no secrets at all (ALLOW_PARTIAL_SECRETS=1 drops it on purpose)"
fi
if (( ${#SECRETS[@]} == 0 )); then
  echo "no secrets given: the container keeps its current secrets" >&2
else
  echo "secrets to set: ${!SECRETS[*]}" >&2
fi
# With a shared database (given now, or kept from before) the store is PostgreSQL, not memory.
uses_db=0
if [[ -n "${SECRETS[DATABASE_URL]+set}" ]] || [[ "$has_db_secret" == true && ${#SECRETS[@]} -eq 0 ]]; then
  uses_db=1
fi
args=(image="$IMAGE" port=8000 https-connection-only=true liveness-probe.http.path=/health)
for kv in "${ENV_ARGS[@]}"; do
  [[ $uses_db == 1 && "$kv" == STORE=* ]] && continue
  args+=("environment-variables.$kv")
done
for name in "${!SECRETS[@]}"; do args+=("secret-environment-variables.$name=${SECRETS[$name]}"); done

step "3/8 update the container (image $IMAGE, port 8000); this deploys it"
updated="$(scw_run container container update "$CONTAINER_ID" "${args[@]}" region="$REGION" --wait)" || exit 1
unset args SECRETS
status="$(jq -r '.status' <<<"$updated")"
if [[ "$status" != ready ]]; then
  die "container is '$status' after the update: $(jq -r '.error_message // "no error_message"' <<<"$updated")"
fi
endpoint="$(jq -r '.public_endpoint // empty' <<<"$updated")"
endpoint="${endpoint#https://}"
endpoint="${endpoint%/}"
echo "container ready at https://$endpoint" >&2

step "4/8 bind $DOMAIN"
domains="$(scw_run container domain list region="$REGION")" || exit 1
bound="$(jq -c --arg h "$DOMAIN" '[.[] | select(.hostname == $h)]' <<<"$domains")"
keep="$(jq -r --arg c "$CONTAINER_ID" 'map(select(.container_id == $c and .status != "error")) | length' <<<"$bound")"
if [[ "$keep" != 0 && "${REBIND_DOMAIN:-}" != 1 ]]; then
  echo "$DOMAIN is already bound to this container" >&2
else
  scw_domain_delete_by_host "$DOMAIN" "$REGION" || exit 1
  echo "DNS: $DOMAIN must be a CNAME to $endpoint (CAA on elbatt.no: 0 issue \"letsencrypt.org\")" >&2
  scw_run container domain create container-id="$CONTAINER_ID" hostname="$DOMAIN" region="$REGION" >/dev/null || exit 1
  echo "domain binding created" >&2
fi

step "5/8 wait until $DOMAIN is ready"
wait_domain_ready "$DOMAIN" "$REGION" "${DOMAIN_TIMEOUT:-600}" || exit 1

step "6/8 the certificate names $DOMAIN"
cert="$(openssl s_client -servername "$DOMAIN" -connect "$DOMAIN:443" </dev/null 2>/dev/null \
  | openssl x509 -noout -dates -ext subjectAltName 2>/dev/null)" || true
grep -q "DNS:$DOMAIN\([,[:space:]]\|$\)" <<<"$cert" \
  || die "the certificate served for $DOMAIN does not name it (SAN: $(grep -o 'DNS:[^,]*' <<<"$cert" | tr '\n' ' '))"
grep -E 'notAfter' <<<"$cert" | sed 's/^/  /' >&2 || true

step "7/8 GET https://$DOMAIN/health"
health="$(curl -fsS --max-time 20 "https://$DOMAIN/health")" || die "GET https://$DOMAIN/health failed"
[[ "$health" == '{"status":"healthy"}' ]] || die "GET https://$DOMAIN/health answered $health"
echo "$health" >&2

step "8/8 smoke test against https://$DOMAIN"
if [[ "${SKIP_SMOKE:-}" == 1 ]]; then
  echo "skipped (SKIP_SMOKE=1)" >&2
else
  BASE_URL="https://$DOMAIN" EXPECT_PLATE_LOOKUP="${EXPECT_PLATE_LOOKUP:-configured}" "$smoke"
fi
echo "deployed $IMAGE to https://$DOMAIN" >&2
