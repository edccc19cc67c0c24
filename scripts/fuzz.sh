#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time, after replaying the committed
# regressions. Exits non-zero if any target crashes; crashing inputs are copied to
# fuzz/regressions/<target>/ so they can be committed with the fix.
#
#   scripts/fuzz.sh              # 60 s per target
#   scripts/fuzz.sh 600          # longer, by hand
#   TARGETS="sse_stream plate_parse" scripts/fuzz.sh 30
#
# Needs the nightly toolchain (installed with rustup if missing) and cargo-fuzz (installed with
# `cargo install cargo-fuzz --locked` if missing). New corpus entries go to
# fuzz/target/work-corpus/<target>/ (kept between runs, never committed); the seeds in
# fuzz/corpus/<target>/ are read only. The repository's invented Statens vegvesen fixtures
# (shared/tests/fixtures/vegvesen) and, when present, the real ones in ../shared/fixtures seed
# vegvesen_mapping at run time (the real records are never copied into the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

SECS="${1:-60}"
if ! [[ "$SECS" =~ ^[0-9]+$ ]] || ((SECS < 1)); then
  echo "fuzz: seconds per target must be a whole number ≥ 1" >&2
  exit 2
fi

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "== installing the nightly toolchain"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd fuzz
targets="${TARGETS:-$(cargo +nightly fuzz list)}"
echo "== building the fuzz targets"
build_start=$SECONDS
cargo +nightly fuzz build
echo "   built in $((SECONDS - build_start)) s"

logs="$root/fuzz/target/logs"
mkdir -p "$logs"
failed=()
summary=()
for t in $targets; do
  # Committed crashes first: each must now pass.
  shopt -s nullglob
  regressions=("$root/fuzz/regressions/$t"/*)
  shopt -u nullglob
  if ((${#regressions[@]})); then
    if ! cargo +nightly fuzz run "$t" "${regressions[@]}" >"$logs/$t.regressions.log" 2>&1; then
      echo "FAIL: $t: a committed regression crashes again (log: $logs/$t.regressions.log)" >&2
      grep -m1 -A3 'panicked at' "$logs/$t.regressions.log" >&2 || tail -20 "$logs/$t.regressions.log" >&2
      failed+=("$t")
      continue
    fi
  fi

  work="$root/fuzz/target/work-corpus/$t"
  mkdir -p "$work"
  if [[ "$t" == vegvesen_mapping ]]; then
    cp "$root/shared/tests/fixtures/vegvesen/"*.json "$work/" 2>/dev/null || true
    [[ -d "$root/../shared/fixtures/vegvesen" ]] && { cp "$root/../shared/fixtures/vegvesen/"*.json "$work/" 2>/dev/null || true; }
  fi
  dict=()
  [[ -f "$root/fuzz/dicts/$t.dict" ]] && dict=("-dict=$root/fuzz/dicts/$t.dict")
  rm -rf "$root/fuzz/artifacts/$t"
  echo "== $t: ${SECS} s"
  status=0
  cargo +nightly fuzz run "$t" "$work" "$root/fuzz/corpus/$t" -- \
    -max_total_time="$SECS" -timeout=10 -print_final_stats=1 "${dict[@]}" \
    >"$logs/$t.log" 2>&1 || status=$?
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' || echo '?')"
  rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' || echo '?')"
  rss="$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' || echo '?')"
  cov="$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -1 | grep -o '[0-9]*' || echo '?')"
  if ((status != 0)); then
    mkdir -p "$root/fuzz/regressions/$t"
    shopt -s nullglob
    found=("$root/fuzz/artifacts/$t"/*)
    shopt -u nullglob
    for f in "${found[@]}"; do cp "$f" "$root/fuzz/regressions/$t/"; done
    echo "FAIL: $t exited with $status; input(s) copied to fuzz/regressions/$t/ (log: $logs/$t.log)" >&2
    grep -m1 -A3 'panicked at\|ERROR: libFuzzer' "$logs/$t.log" >&2 || tail -20 "$logs/$t.log" >&2
    failed+=("$t")
    summary+=("$(printf '%-18s %-8s %12s %10s %8s %6s' "$t" FAIL "$execs" "$rate" "$rss" "$cov")")
  else
    summary+=("$(printf '%-18s %-8s %12s %10s %8s %6s' "$t" ok "$execs" "$rate" "$rss" "$cov")")
  fi
done

echo
printf '%-18s %-8s %12s %10s %8s %6s\n' target result execs 'execs/s' 'rss MB' cov
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
