#!/usr/bin/env bash
# Runs every test of mailtap on a fresh Debian 12 machine: installs the Debian packages it needs,
# builds, then runs the unit tests and the integration tests (real Postfix and Dovecot on
# loopback, real clients through the proxy) with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh
cd build
ctest --output-on-failure --timeout 1800 "$@"
