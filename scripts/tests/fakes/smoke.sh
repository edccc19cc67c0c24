#!/usr/bin/env bash
# Stands in for scripts/smoke.sh in scripts/tests/test-scripts.sh: records how it was called.
set -euo pipefail
echo "smoke BASE_URL=${BASE_URL:-} EXPECT_PLATE_LOOKUP=${EXPECT_PLATE_LOOKUP:-}" >>"${FAKE_LOG:-/dev/null}"
echo "9 passed, 0 failed"
