#!/usr/bin/env bash
# Offline checks of the Kubernetes files: every manifest in k8s/ against the Kubernetes API
# schemas (kubernetes-validate, which bundles them; --strict rejects unknown fields), the
# cross-checks schemas cannot make (scripts/tests/check_k8s.py), and k8s/update-secrets.sh against
# a fake kubectl (keep / clear / new value, never on a command line or the screen).
#   scripts/test-k8s.sh            # installs kubernetes-validate (scripts/requirements-ci.txt) if missing
# Prints `N passed, M failed`; exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v kubernetes-validate >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check -c scripts/requirements-ci.txt kubernetes-validate >&2 \
    || { echo "test-k8s: cannot install kubernetes-validate (pip install -c scripts/requirements-ci.txt kubernetes-validate)" >&2; exit 2; }
fi

passed=0
failed=0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== schema validation (kubernetes-validate --strict, Kubernetes $(kubernetes-validate --version 2>/dev/null | awk '{print $NF}'))"
for manifest in k8s/*.yaml; do
  if kubernetes-validate --strict --quiet "$manifest" >"$tmp/kv" 2>&1; then
    n="$(python3 -c 'import sys,yaml; print(sum(1 for d in yaml.safe_load_all(open(sys.argv[1])) if d))' "$manifest")"
    echo "ok   $manifest: $n resources valid"
    passed=$((passed + 1))
  else
    echo "FAIL $manifest"; sed 's/^/     /' "$tmp/kv"
    failed=$((failed + 1))
  fi
done

echo "== cross-checks"
python3 scripts/tests/check_k8s.py "$root" | tee "$tmp/cross" || true
p=0 f=1   # a checker that crashed before its summary line counts as one failure
if [[ "$(tail -1 "$tmp/cross")" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  p="${BASH_REMATCH[1]}" f="${BASH_REMATCH[2]}"
fi
passed=$((passed + p)); failed=$((failed + f))

echo "== k8s/update-secrets.sh against a fake kubectl"
export PATH="$root/scripts/tests/fakes:$PATH" FAKE_LOG="$tmp/calls.log" FAKE_STATE="$tmp/state"
unset VEGVESEN_API_KEY OPENAI_API_KEY
veg="veg-$RANDOM-secret"; llm="sk-$RANDOM-secret"
stored() { python3 -c 'import base64,json,sys; d=json.load(open(sys.argv[1])); print(" ".join(f"{k}={base64.b64decode(v).decode()}" for k,v in sorted(d.items())))' "$FAKE_STATE/secret.json"; }
result() {
  if [[ -z "$problem" ]]; then echo "ok   $1"; passed=$((passed + 1));
  else echo "FAIL $1: $problem"; sed 's/^/     | /' "$tmp/out" "$FAKE_LOG"; failed=$((failed + 1)); fi
}
fresh() { rm -rf "$FAKE_STATE"; mkdir -p "$FAKE_STATE"; : >"$FAKE_LOG"; }
# values_in_annotations VALUE...: names each value found in the Secret's annotations, plain or base64.
values_in_annotations() {
  local v
  [[ -f "$FAKE_STATE/annotations.json" ]] || return 0
  for v in "$@"; do
    grep -qF -e "$v" -e "$(printf '%s' "$v" | base64 -w0)" "$FAKE_STATE/annotations.json" && echo "$v"
  done
  return 0
}

fresh
problem=""
VEGVESEN_API_KEY="$veg" OPENAI_API_KEY="$llm" k8s/update-secrets.sh >"$tmp/out" 2>&1 </dev/null || problem="exit $?"
[[ "$(stored)" == "OPENAI_API_KEY=$llm VEGVESEN_API_KEY=$veg" ]] || problem="stored: $(stored)"
! grep -qe "$veg" -e "$llm" "$FAKE_LOG" "$tmp/out" || problem="a value reached a command line or the output"
grep -q "create secret generic elbatt-secrets .*--dry-run=client -o yaml" "$FAKE_LOG" \
  && grep -q "^kubectl apply --server-side --field-manager=elbatt-update-secrets --force-conflicts -f -$" "$FAKE_LOG" \
  || problem="not applied with create --dry-run=client -o yaml | apply --server-side --field-manager=… -f -"
[[ -z "$(values_in_annotations "$veg" "$llm")" ]] || problem="a value is stored in an annotation: $(cat "$FAKE_STATE/annotations.json")"
result "update-secrets.sh: a new Secret from the environment, values only in files, none in an annotation"

# Typed at a terminal: empty keeps VEGVESEN_API_KEY, "-" clears OPENAI_API_KEY.
problem=""
: >"$FAKE_LOG"
python3 - k8s/update-secrets.sh "" "-" >"$tmp/out" 2>&1 <<'PY' || problem="exit $?"
import os, pty, sys, time
script, answers = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(script, [script])
seen, buf, deadline = 0, b"", time.time() + 30
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
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
PY
[[ "$(stored)" == "VEGVESEN_API_KEY=$veg" ]] || problem="stored: $(stored)"
grep -q "VEGVESEN_API_KEY \[set\]" "$tmp/out" && grep -q "VEGVESEN_API_KEY: kept" "$tmp/out" \
  && grep -q "OPENAI_API_KEY: cleared" "$tmp/out" || problem="prompts or summary wrong"
! grep -q -e "$veg" "$tmp/out" || problem="the kept value was shown"
result "update-secrets.sh: empty keeps a value, - clears one, typing is hidden"

# A Secret an earlier (client-side) version of the script applied: its values sit in the
# last-applied-configuration annotation, owned by kubectl-client-side-apply.
fresh
problem=""
old_veg="veg-$RANDOM-old"; old_llm="sk-$RANDOM-old"
printf '%s' "$old_veg" >"$tmp/v1"; printf '%s' "$old_llm" >"$tmp/v2"
kubectl -n elbatt create secret generic elbatt-secrets --from-file=VEGVESEN_API_KEY="$tmp/v1" \
  --from-file=OPENAI_API_KEY="$tmp/v2" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
[[ -n "$(values_in_annotations "$old_veg")" ]] || problem="the fake's client-side apply kept no annotation"
: >"$FAKE_LOG"
VEGVESEN_API_KEY="$veg" OPENAI_API_KEY="-" k8s/update-secrets.sh >"$tmp/out" 2>&1 </dev/null || problem="exit $?"
[[ "$(stored)" == "VEGVESEN_API_KEY=$veg" ]] || problem="stored: $(stored)"
[[ -z "$(values_in_annotations "$veg" "$old_veg" "$old_llm")" ]] \
  || problem="values left in an annotation: $(values_in_annotations "$veg" "$old_veg" "$old_llm" | tr '\n' ' ')"
grep -q "annotate secret elbatt-secrets .*kubectl.kubernetes.io/last-applied-configuration-$" "$FAKE_LOG" \
  || problem="the old last-applied-configuration annotation was not removed"
result "update-secrets.sh: after a client-side apply, the values leave the annotation and - still clears"

# A key another field manager owns (kubectl edit) is not dropped by server-side apply: "-" must
# still remove it.
fresh
problem=""
printf '{"VEGVESEN_API_KEY": "%s", "OPENAI_API_KEY": "%s"}' "$(printf '%s' "$veg" | base64 -w0)" \
  "$(printf '%s' "$llm" | base64 -w0)" >"$FAKE_STATE/secret.json"
echo '{"VEGVESEN_API_KEY": "elbatt-update-secrets", "OPENAI_API_KEY": "kubectl-edit"}' >"$FAKE_STATE/owners.json"
OPENAI_API_KEY="-" k8s/update-secrets.sh >"$tmp/out" 2>&1 </dev/null || problem="exit $?"
[[ "$(stored)" == "VEGVESEN_API_KEY=$veg" ]] || problem="stored: $(stored)"
grep -q 'patch secret elbatt-secrets .*--type=json -p \[{"op":"remove","path":"/data/OPENAI_API_KEY"}\]' "$FAKE_LOG" \
  || problem="no JSON patch removing OPENAI_API_KEY"
! grep -qe "$veg" -e "$llm" "$FAKE_LOG" "$tmp/out" || problem="a value reached a command line or the output"
result "update-secrets.sh: - clears a key another field manager owns"

problem=""
: >"$FAKE_LOG"
FAKE_KUBECTL=forbidden k8s/update-secrets.sh >"$tmp/out" 2>&1 </dev/null && problem="exit 0"
grep -q "Forbidden" "$tmp/out" && grep -q "cannot read secret elbatt-secrets" "$tmp/out" || problem="no explanation"
grep -q "kubectl apply" "$FAKE_LOG" && problem="applied anyway"
result "update-secrets.sh: a kubectl that may not read secrets stops it before anything is applied"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
