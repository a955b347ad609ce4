#!/usr/bin/env bash
# Builds every libFuzzer target (tests/fuzz/*_fuzz.cc) with clang and runs each for a bounded time.
#
#   tools/fuzz.sh [SECONDS]        SECONDS per target, default 30
#   Environment: FUZZ_TARGETS="a_fuzz b_fuzz" (default: every tests/fuzz/*_fuzz.cc), JOBS,
#   INSTRUMENTED_BUILD_DIR (default build-instrumented, shared with tools/sanitize.sh), FUZZ_SEED
#   (default 1: CI explores the same inputs on every run, so a red run is reproducible with the
#   same seed; pass another seed to explore elsewhere).
#
# Each target reads its committed corpus tests/fuzz/corpus/<name>/ (name = file name without
# "_fuzz"; if that directory does not exist, without "_decoder_fuzz", so imap_decoder_fuzz uses
# corpus/imap). New inputs go to a temporary directory first, so the committed corpus only grows
# by hand (copy what you want to keep from the path printed; libFuzzer also re-saves there the
# committed seeds that add coverage, so the count is not only new finds). A crash, leak, timeout or
# out-of-memory fails the script; the reproducer is left in the artifacts directory printed.
#
# The core library is compiled with -fsanitize=fuzzer-no-link so libFuzzer sees coverage inside
# the decoders and the session layer, not only inside the target file. The committed corpora are
# also replayed by CTest in every build (fuzz_replay_<target>), so they guard against regressions
# even where clang is not used.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
jobs="${JOBS:-$(nproc)}"
# The same configuration as tools/sanitize.sh (one instrumented build serves both): -DMAILTAP_FUZZ=ON
# compiles every file, the core library included, with -fsanitize=fuzzer-no-link,address,undefined.
build_dir="${INSTRUMENTED_BUILD_DIR:-${FUZZ_BUILD_DIR:-build-instrumented}}"
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

CXX="${CXX:-clang++}" cmake -S . -B "$build_dir" -DMAILTAP_FUZZ=ON -DMAILTAP_TESTS=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null ||
  { echo "fuzz: cmake configure failed" >&2; exit 2; }

targets=()
for src in tests/fuzz/*_fuzz.cc; do
  targets+=("$(basename "$src" .cc)")
done
if [[ -n "${FUZZ_TARGETS:-}" ]]; then read -ra targets <<<"$FUZZ_TARGETS"; fi
cmake --build "$build_dir" -j"$jobs" --target "${targets[@]}" || { echo "fuzz: build failed" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/mailtap-fuzz.XXXXXX")"
echo "fuzz: new inputs and artifacts under $work"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

failed=0
summary=()
for target in "${targets[@]}"; do
  short="${target%_fuzz}"
  corpus="tests/fuzz/corpus/$short"
  [[ -d "$corpus" ]] || corpus="tests/fuzz/corpus/${target%_decoder_fuzz}"
  new_inputs="$work/$target/new"
  artifacts="$work/$target/artifacts/"
  mkdir -p "$new_inputs" "$artifacts"
  inputs=("$new_inputs")
  if [[ -d "$corpus" ]]; then
    inputs+=("$corpus") # read-only: libFuzzer writes new inputs only to the first directory
  else
    corpus="(none)"
  fi
  log="$work/$target/log"
  "$build_dir/$target" -seed="${FUZZ_SEED:-1}" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$artifacts" "${inputs[@]}" >"$log" 2>&1
  rc=$?
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')"
  found="$(find "$new_inputs" -type f | wc -l)"
  if [[ $rc -eq 0 ]]; then
    summary+=("PASS $target: ${runs:-?} runs, cov ${cov:-?}, corpus $corpus, $found inputs kept in $new_inputs")
  else
    failed=1
    summary+=("FAIL $target (exit $rc): see $log, reproducer in $artifacts")
    echo "---- $target (exit $rc), last lines of $log:" >&2
    tail -40 "$log" >&2
  fi
done

echo "fuzz: ${seconds}s per target"
printf '%s\n' "${summary[@]}"
exit "$failed"
