#!/usr/bin/env bash
# Installs, from Debian 12 packages, everything mailtap needs to build and to run its tests
# (compiler and libraries, the real Postfix and Dovecot used by the sandbox, the real clients
# used by the integration tests). Idempotent: does nothing when every package is present, and
# runs `apt-get update` only when something is missing.
#
# Usage: tools/install-deps.sh [--check]
#   --check   only report missing packages; exit 1 if any are missing.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config
  # instrumented build for fuzzing and the sanitizers (tools/fuzz.sh, tools/sanitize.sh): clang,
  # its sanitizer and libFuzzer runtimes (only recommended by clang, so named), llvm-symbolizer
  # for readable reports
  clang libclang-rt-14-dev llvm
  libuv1-dev libssl-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # tests
  python3 python3-pytest python3-jsonschema
  # sandbox servers (tools/sandbox.sh)
  postfix dovecot-imapd dovecot-pop3d dovecot-lmtpd
  # real clients and helpers used by the integration tests
  swaks libnet-ssleay-perl curl socat openssl ca-certificates
)

missing_packages() {
  local pkg status
  for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "installed" ]]; then
      printf '%s\n' "$pkg"
    fi
  done
}

mapfile -t MISSING < <(missing_packages)

if [[ "${1:-}" == "--check" ]]; then
  if ((${#MISSING[@]})); then
    echo "install-deps: missing: ${MISSING[*]}"
    exit 1
  fi
  echo "install-deps: all ${#PACKAGES[@]} packages installed"
  exit 0
fi

if ((${#MISSING[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: apt-get not found; this script targets Debian 12. Missing: ${MISSING[*]}" >&2
  exit 2
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: not root and sudo is not available; install as root: ${MISSING[*]}" >&2
    exit 2
  fi
fi

echo "install-deps: installing: ${MISSING[*]}"

# Postfix asks an interactive question on install; 'No configuration' leaves /etc/postfix
# unconfigured, which is what we want: the sandbox runs its own instance with its own config.
echo "postfix postfix/main_mailer_type select No configuration" | "${SUDO[@]}" debconf-set-selections
echo "postfix postfix/mailname string mail.sandbox.test" | "${SUDO[@]}" debconf-set-selections

# Keep package scripts from starting system-wide Postfix/Dovecot daemons (on ports 25, 143, ...)
# that the tests do not want. Only if the machine has no policy of its own; removed afterwards.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=0
cleanup_policy() {
  if ((ADDED_POLICY)); then "${SUDO[@]}" rm -f "$POLICY"; fi
}
trap cleanup_policy EXIT
if [[ ! -e "$POLICY" ]]; then
  printf '#!/bin/sh\n# temporary, added by mailtap tools/install-deps.sh\nexit 101\n' |
    "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  ADDED_POLICY=1
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

# A package list older than the mirror gives 404s, so update first whenever we install.
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install "${APT_OPTS[@]}" --no-install-recommends "${MISSING[@]}"

mapfile -t STILL_MISSING < <(missing_packages)
if ((${#STILL_MISSING[@]})); then
  echo "install-deps: still missing after install: ${STILL_MISSING[*]}" >&2
  exit 1
fi
echo "install-deps: done"
