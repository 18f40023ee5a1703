#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 60), one after the other,
# starting from the corpus kept in fuzz/corpus/<target>/. Fails on the first crash, leak or
# timeout; libFuzzer writes the input that caused it to fuzz/artifacts/<target>/ and the
# command to reproduce it is printed. New inputs go to a scratch directory, so the kept
# corpus changes only when someone minimises into it on purpose:
#   cargo +nightly fuzz cmin --fuzz-dir fuzz TARGET
# Needs the nightly toolchain (sanitizers) and cargo-fuzz (`cargo install --locked
# cargo-fuzz --version 0.13.2`); fails, never skips, without them.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "the nightly toolchain is missing (rustup toolchain install nightly): cargo fuzz needs it" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install --locked cargo-fuzz --version 0.13.2" >&2
  exit 1
fi

if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz); fi
# One build of every target (they share their dependencies), then the runs.
cargo +nightly fuzz build --fuzz-dir fuzz

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target" "fuzz/corpus/$target"
  echo "== fuzz $target for ${seconds}s"
  # -timeout: an input taking over 10 s is a hang; -rss_limit_mb keeps a runaway
  # allocation a finding rather than the machine's problem.
  if ! cargo +nightly fuzz run --fuzz-dir fuzz "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      2>"$scratch/$target.log"; then
    tail -60 "$scratch/$target.log" >&2
    echo "fuzz target $target failed: see fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+ +DONE' "$scratch/$target.log" || true
done
echo "fuzzing passed: ${#targets[@]} targets, ${seconds}s each"
