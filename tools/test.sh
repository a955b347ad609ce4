#!/usr/bin/env bash
# Runs every test of mailtap on a fresh Debian 12 machine (CI runs this through .ci/run, as root):
#   1. tools/build.sh: installs the Debian packages (tools/install-deps.sh) and builds build/ (gcc);
#   2. CTest in build/: the unit tests, every committed fuzz corpus replayed through its target
#      (fuzz_replay_*), and the integration tests (real Postfix and Dovecot on loopback, real
#      clients through the proxy);
#   3. tools/sanitize.sh: a clang AddressSanitizer + LeakSanitizer + UndefinedBehaviorSanitizer
#      build; the unit tests, corpus replays, integration tests and a small soak against it, any
#      sanitizer report from any process failing the run;
#   4. tools/fuzz.sh: every libFuzzer target for FUZZ_SECONDS (default 25) over its corpus, any crash, leak, timeout or out-of-memory failing the run (new inputs are kept aside, not
#      committed).
# Every phase runs even when an earlier one failed, so one CI run reports everything; the exit
# status is non-zero if any phase failed. Arguments go to CTest (phase 2).
# Environment: FUZZ_SECONDS, FUZZ_TARGETS, SKIP_SANITIZE=1, SKIP_FUZZ=1 (local shortcuts).
set -uo pipefail
cd "$(dirname "$0")/.."

failed=0
results=()
phase() { # name, command...
  local name=$1 start=$SECONDS
  shift
  echo "==== test.sh: $name"
  if "$@"; then
    results+=("PASS $name ($((SECONDS - start))s)")
  else
    results+=("FAIL $name (exit $?, $((SECONDS - start))s)")
    failed=1
  fi
}

phase "build (tools/build.sh)" tools/build.sh || true
if [[ "${results[-1]}" == FAIL* ]]; then
  printf 'test.sh: %s\n' "${results[@]}"
  exit 1
fi
phase "unit, corpus replay and integration tests (ctest)" \
  ctest --test-dir build --output-on-failure --timeout 1800 "$@"
if [[ "${SKIP_SANITIZE:-0}" != 1 ]]; then
  phase "sanitizers (tools/sanitize.sh)" tools/sanitize.sh
fi
# FUZZ_TARGETS overrides the list (default: every target), SKIP_FUZZ=1 skips the phase.
if [[ "${SKIP_FUZZ:-0}" != 1 ]]; then
  export FUZZ_TARGETS="${FUZZ_TARGETS:-smtp_decoder_fuzz imap_decoder_fuzz pop3_decoder_fuzz sasl_fuzz framing_fuzz session_fuzz}"
  phase "fuzzing (tools/fuzz.sh ${FUZZ_SECONDS:-25}: $FUZZ_TARGETS)" tools/fuzz.sh "${FUZZ_SECONDS:-25}"
fi

printf 'test.sh: %s\n' "${results[@]}"
echo "test.sh: total ${SECONDS}s"
exit "$failed"
