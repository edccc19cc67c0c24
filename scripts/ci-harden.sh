#!/usr/bin/env bash
# CI's hardening step: replays the committed fuzz regressions, then runs every cargo-fuzz target
# for 30 s (FUZZ_SECONDS to change it). Exits non-zero on any crash; the crashing input is left
# in fuzz/regressions/<target>/ (see docs/hardening.md). The fault and hostile-client suites are
# ordinary tests (`cargo test -p local-dev`) and run with the rest of the workspace.
#
# Measured on the 2-core machine: from cold (no fuzz/target; nightly and cargo-fuzz installed)
# 9 min, of which 7 min build the instrumented targets (while other builds ran; 5.5 min alone);
# with fuzz/target kept from an earlier run, 2 min 10 s. Installing cargo-fuzz adds 1.5 min.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
[[ -d ../shared/fixtures/vegvesen ]] ||
  echo "ci-harden: ../shared/fixtures not found; vegvesen_mapping runs on its committed seeds only" >&2
# The machines this project runs on ship a nightly toolchain; only the package registries are
# reachable, so one cannot be downloaded. Without it, say so loudly instead of failing CI on
# something the change did not break.
if ! rustup toolchain list | grep -q '^nightly' && ! rustup toolchain install nightly --profile minimal; then
  echo "ci-harden: SKIPPED fuzzing: no nightly toolchain on this machine and none can be installed" >&2
  exit 0
fi
scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
echo "== ci-harden finished in $((SECONDS - start)) s"
