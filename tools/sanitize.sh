#!/usr/bin/env bash
# Builds mailtap with AddressSanitizer (+ LeakSanitizer) and UndefinedBehaviorSanitizer and runs the
# unit tests and the proxy integration tests against the sanitized binary. Any report fails.
#
#   tools/sanitize.sh [extra gtest args...]      e.g. --gtest_filter='Session*'
#
# Environment: JOBS (default 2), ASAN_BUILD_DIR (default build-asan), SKIP_INTEGRATION=1.
set -uo pipefail
cd "$(dirname "$0")/.."

jobs="${JOBS:-2}"
build_dir="${ASAN_BUILD_DIR:-build-asan}"

cmake -S . -B "$build_dir" -DMAILTAP_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug >/dev/null ||
  { echo "sanitize: cmake configure failed" >&2; exit 2; }
cmake --build "$build_dir" -j"$jobs" || { echo "sanitize: build failed" >&2; exit 2; }

# halt_on_error makes UBSan findings fatal (by default it prints and continues, and the test passes).
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

failed=0
echo "sanitize: unit tests ($build_dir/mailtap_tests)"
if "$build_dir/mailtap_tests" "$@"; then
  unit="PASS"
else
  unit="FAIL (exit $?)"
  failed=1
fi

integration="skipped"
if [[ "${SKIP_INTEGRATION:-0}" != 1 ]]; then
  echo "sanitize: integration tests (tests/integration/test_proxy.py, MAILTAP_BIN=$build_dir/mailtap)"
  # The proxy runs as a child of the tests, which do not all check how it exited (a leak report
  # only changes the exit status at shutdown). So every report goes to a file, and any file fails.
  reports="$(mktemp -d "${TMPDIR:-/tmp}/mailtap-sanitize.XXXXXX")"
  if ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$reports/asan" UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$reports/ubsan" \
    MAILTAP_BIN="$PWD/$build_dir/mailtap" MAILTAP_SOURCE_DIR="$PWD" \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_proxy.py; then
    integration="PASS"
  else
    integration="FAIL (exit $?)"
    failed=1
  fi
  if compgen -G "$reports/*" >/dev/null; then
    echo "sanitize: sanitizer reports from the proxy during the integration tests:" >&2
    for report in "$reports"/*; do
      echo "---- $report" >&2
      cat "$report" >&2
    done
    integration="$integration, with sanitizer reports in $reports"
    failed=1
  fi
fi

echo "sanitize: unit tests $unit; integration tests $integration"
exit "$failed"
