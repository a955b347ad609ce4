#!/usr/bin/env bash
# mailtap's side-by-side benchmark (issue 6): direct, mailtap recording, mailtap
# --no-transcripts and haproxy (mode tcp, TLS on both legs), in one interleaved run against a
# private sandbox of real Dovecot and Postfix tools. Prints a table of absolute figures, ratios
# to direct, relay CPU per MB and memory per idle session. Figures are never pass/fail.
#
# Usage: tools/bench.sh [--size tiny|small|full] [--mailtap BIN] [--threads N] [--also-threads N]
#                       [--workloads idle,fetch,retr,noop,smtp] [--baseline BIN]
#                       [--json FILE] [--no-haproxy] [--keep]
#   --size tiny   everything at a tiny size, well under a minute (CI keeps the script working);
#                 small: the full workloads with fewer repetitions and SMTP messages
#   --mailtap     the binary (default: $MAILTAP_BIN, else build-perf/mailtap, else build/mailtap;
#                 use a Release build for figures that mean anything)
#   --threads N   run mailtap proxy with --threads N
#   --also-threads N  add a column: mailtap (recording) with --threads N, in the same run
#   --workloads   run only these workloads (default: all five)
#   --baseline BIN  add a column: another mailtap build, recording, in the same interleaved run
#                 (to compare a change against the build before it)
#   --json FILE   also write the raw measurements
#   --keep        leave the sandbox running and keep the work directory under /tmp
#
# Needs root (the sandbox runs Postfix's master), curl, haproxy, and smtp-source/smtp-sink
# (Debian's postfix package). Workloads and method: docs/performance.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
export PATH=$PATH:/usr/sbin:/sbin

args=()
mailtap=${MAILTAP_BIN:-}
while (($#)); do
  case "$1" in
  --mailtap)
    mailtap=$2
    shift 2
    ;;
  --mailtap=*)
    mailtap=${1#--mailtap=}
    shift
    ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    args+=("$1")
    shift
    ;;
  esac
done

if [[ -z "$mailtap" ]]; then
  for candidate in "$REPO_DIR/build-perf/mailtap" "$REPO_DIR/build/mailtap"; do
    if [[ -x "$candidate" ]]; then
      mailtap=$candidate
      break
    fi
  done
fi
[[ -n "$mailtap" && -x "$mailtap" ]] || {
  echo "bench: no mailtap binary: build one (tools/build.sh) or pass --mailtap BIN" >&2
  exit 2
}
if [[ $(id -u) -ne 0 ]]; then
  echo "bench: the sandbox runs Postfix's master process, which must start as root" >&2
  exit 2
fi

missing=()
for prog in curl smtp-source smtp-sink; do
  command -v "$prog" >/dev/null 2>&1 || missing+=("$prog")
done
((${#missing[@]} == 0)) || {
  echo "bench: missing ${missing[*]} (apt-get install curl postfix)" >&2
  exit 2
}
if ! command -v haproxy >/dev/null 2>&1; then
  echo "bench: haproxy is missing; installing it (apt-get install haproxy)" >&2
  if ! { apt-get install -y --no-install-recommends haproxy >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends haproxy >/dev/null 2>&1; }; }; then
    echo "bench: could not install haproxy; running without it" >&2
    args+=(--no-haproxy)
  fi
  # Debian starts the packaged service; the benchmark runs its own instance.
  systemctl disable --now haproxy >/dev/null 2>&1 || true
fi

exec /usr/bin/python3 "$SCRIPT_DIR/bench/bench.py" --mailtap "$mailtap" "${args[@]}"
