#!/usr/bin/env bash
# Builds mailtap, its unit tests and its fuzz targets with clang under AddressSanitizer
# (+ LeakSanitizer) and UndefinedBehaviorSanitizer, then runs against that build:
#   1. the unit tests (mailtap_tests),
#   2. every committed fuzz corpus through its target (ctest -L fuzz_replay),
#   3. every integration test (real Postfix/Dovecot, real and
#      scripted clients; every mailtap the tests start is the sanitized one),
#   4. a small soak (tools/soak.sh: concurrent mixed sessions; leaks, lost transcript events).
# Any sanitizer report fails the run, wherever it came from: every report of every process
# (the proxy children of the integration tests included, whose exit status the tests do not all
# check) is written to a file under a reports directory, and any file there is a failure.
#
#   tools/sanitize.sh [extra gtest args...]      e.g. --gtest_filter='Session*'
#
# Environment:
#   JOBS                  parallel compile jobs (default: nproc)
#   INSTRUMENTED_BUILD_DIR  build directory (default build-instrumented; shared with tools/fuzz.sh,
#                         the same configuration: -DMAILTAP_FUZZ=ON instruments every file with
#                         -fsanitize=fuzzer-no-link,address,undefined)
#   SANITIZE_INTEGRATION  integration test files to run (default: all of tests/integration);
#                         "none" skips them (SKIP_INTEGRATION=1 does too)
#   SANITIZE_SOAK         tools/soak.sh arguments (default "--sessions 50 --duration 20");
#                         "none" skips the soak
set -uo pipefail
cd "$(dirname "$0")/.."

jobs="${JOBS:-$(nproc)}"
build_dir="${INSTRUMENTED_BUILD_DIR:-build-instrumented}"
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

CXX="${CXX:-clang++}" cmake -S . -B "$build_dir" -DMAILTAP_FUZZ=ON -DMAILTAP_TESTS=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null ||
  { echo "sanitize: cmake configure failed" >&2; exit 2; }
cmake --build "$build_dir" -j"$jobs" || { echo "sanitize: build failed" >&2; exit 2; }

reports="$(mktemp -d "${TMPDIR:-/tmp}/mailtap-sanitize.XXXXXX")"
chmod 755 "$reports"
# halt_on_error makes UBSan findings fatal (by default it prints, continues, and the test passes).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}:log_path=$reports/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}:log_path=$reports/ubsan"
export MAILTAP_BIN="$PWD/$build_dir/mailtap" MAILTAP_SOURCE_DIR="$PWD"
# Tests that judge mailtap's RSS skip that check: ASan's quarantine holds freed memory on purpose.
export MAILTAP_SANITIZED=1

failed=0
results=()
step() { # name, command...
  local name=$1 start=$SECONDS
  shift
  echo "sanitize: $name"
  if "$@"; then
    results+=("PASS $name ($((SECONDS - start))s)")
  else
    results+=("FAIL $name (exit $?, $((SECONDS - start))s)")
    failed=1
  fi
}

step "unit tests" "$build_dir/mailtap_tests" "$@"
step "fuzz corpus replay" ctest --test-dir "$build_dir" -L fuzz_replay --output-on-failure

# The whole integration suite: every mailtap the tests start is the sanitized one.
integration="${SANITIZE_INTEGRATION:-tests/integration}"
[[ "${SKIP_INTEGRATION:-0}" == 1 ]] && integration=none
if [[ "$integration" != none ]]; then
  # shellcheck disable=SC2086 # a list of paths
  step "integration tests ($integration)" \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider $integration
fi

soak="${SANITIZE_SOAK:---sessions 50 --duration 20}"
if [[ "$soak" != none ]]; then
  # ASan's quarantine holds freed memory on purpose, so RSS is not judged here; LeakSanitizer is.
  # shellcheck disable=SC2086 # an argument list
  step "soak ($soak)" tools/soak.sh --mailtap "$MAILTAP_BIN" --max-rss-growth-mib 0 $soak
fi

if compgen -G "$reports/*" >/dev/null; then
  echo "sanitize: sanitizer reports:" >&2
  for report in "$reports"/*; do
    echo "---- $report" >&2
    head -c 20000 "$report" >&2
  done
  results+=("FAIL sanitizer reports in $reports: $(ls "$reports" | tr '\n' ' ')")
  failed=1
fi

printf 'sanitize: %s\n' "${results[@]}"
exit "$failed"
