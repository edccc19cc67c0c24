#!/usr/bin/env bash
# Sets the Kubernetes Secret the elbatt-api Deployment reads (k8s/app.yaml: `elbatt-secrets` in
# namespace `elbatt`), one key at a time, without a value ever reaching a command line or the
# screen. For each key it asks (typing hidden):
#   a new value   -> set
#   empty         -> keep the current value (or stay unset)
#   -             -> clear: remove the key
# A key already in the environment (e.g. VEGVESEN_API_KEY=… k8s/update-secrets.sh) is used
# without asking. Applied with `kubectl create secret generic … --dry-run=client -o yaml |
# kubectl apply --server-side --field-manager=elbatt-update-secrets -f -`; values go to kubectl as
# files in a private temporary folder. Server-side apply, because client-side apply copies the whole
# Secret, values included, into the kubectl.kubernetes.io/last-applied-configuration annotation
# (readable by anyone who may read annotations). That annotation, left by an earlier client-side
# apply, is removed; a cleared key that another field manager still owns is removed explicitly.
#   k8s/update-secrets.sh
#   kubectl -n elbatt rollout restart deploy/elbatt-api     # the pod reads secrets at start
# Needs a cluster and kubectl >= 1.22 (server-side apply GA).
# Environment: NAMESPACE (elbatt), SECRET_NAME (elbatt-secrets),
# SECRET_KEYS ("VEGVESEN_API_KEY OPENAI_API_KEY"), KUBECONFIG/--context as kubectl's own.
set -euo pipefail

NAMESPACE="${NAMESPACE:-elbatt}"
SECRET_NAME="${SECRET_NAME:-elbatt-secrets}"
read -r -a keys <<<"${SECRET_KEYS:-VEGVESEN_API_KEY OPENAI_API_KEY}"

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
command -v kubectl >/dev/null || die "kubectl is required: https://kubernetes.io/docs/tasks/tools/"
command -v base64 >/dev/null || die "base64 is required (coreutils)"
[[ $- != *x* ]] || die "refusing to run with xtrace (set -x): it would print the secrets"

dir="$(mktemp -d)"
chmod 700 "$dir"
trap 'rm -rf "$dir"' EXIT

# The current Secret, if any (a missing one is not an error: everything starts unset).
exists=0
if kubectl -n "$NAMESPACE" get secret "$SECRET_NAME" -o name >/dev/null 2>"$dir/err"; then
  exists=1
elif ! grep -q "NotFound" "$dir/err"; then
  cat "$dir/err" >&2
  die "cannot read secret $SECRET_NAME in namespace $NAMESPACE (is kubectl pointed at the right cluster?)"
fi

args=()
summary=()
cleared=()
for key in "${keys[@]}"; do
  [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "not a variable name: $key"
  current=""
  if [[ $exists == 1 ]]; then
    current="$(kubectl -n "$NAMESPACE" get secret "$SECRET_NAME" -o "jsonpath={.data.$key}")"
  fi
  state="unset"
  [[ -z "$current" ]] || state="set"
  value="${!key:-}"
  if [[ -z "$value" && -t 0 ]]; then
    IFS= read -rs -p "$key [$state] (typing is hidden; empty = keep, - = clear): " value || value=""
    printf '\n' >&2
  fi
  if [[ "$value" == "-" ]]; then
    [[ -z "$current" ]] || cleared+=("$key")
    summary+=("$key: cleared")
  elif [[ -n "$value" ]]; then
    printf '%s' "$value" >"$dir/$key"
    args+=("--from-file=$key=$dir/$key")
    summary+=("$key: new value")
  elif [[ -n "$current" ]]; then
    printf '%s' "$current" | base64 -d >"$dir/$key"
    args+=("--from-file=$key=$dir/$key")
    summary+=("$key: kept")
  else
    summary+=("$key: unset")
  fi
done
unset value current

manager=elbatt-update-secrets
# --force-conflicts: this script owns the Secret's keys, whoever set them last.
kubectl -n "$NAMESPACE" create secret generic "$SECRET_NAME" "${args[@]}" --dry-run=client -o yaml \
  | kubectl apply --server-side --field-manager="$manager" --force-conflicts -f - >/dev/null
# Server-side apply drops only the keys this field manager owned: remove what is left of a cleared
# key (e.g. set by `kubectl edit`). A JSON patch names the key, never its value.
for key in "${cleared[@]}"; do
  if [[ -n "$(kubectl -n "$NAMESPACE" get secret "$SECRET_NAME" -o "jsonpath={.data.$key}")" ]]; then
    kubectl -n "$NAMESPACE" patch secret "$SECRET_NAME" --field-manager="$manager" --type=json \
      -p "[{\"op\":\"remove\",\"path\":\"/data/$key\"}]" >/dev/null
  fi
done
# An earlier client-side apply left every value in this annotation: remove it (no-op if absent).
if [[ $exists == 1 ]]; then
  kubectl -n "$NAMESPACE" annotate secret "$SECRET_NAME" --field-manager="$manager" \
    kubectl.kubernetes.io/last-applied-configuration- >/dev/null
fi
printf '  %s\n' "${summary[@]}" >&2
echo "secret $SECRET_NAME applied in namespace $NAMESPACE; restart to use it:" \
  "kubectl -n $NAMESPACE rollout restart deploy/elbatt-api" >&2
