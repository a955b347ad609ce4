#!/usr/bin/env bash
# Installs the Debian packages mailtap needs (tools/install-deps.sh) and builds it into build/.
# Usage: tools/build.sh [extra cmake -D options...]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build build -j"$(nproc)" ${MAILTAP_BUILD_TARGET:+--target "$MAILTAP_BUILD_TARGET"}
