# Shared by tools/sandbox.sh (Postfix + Dovecot) and tools/sandbox-second.sh (Exim + Cyrus):
# messages, the port table with its offset, and process and port helpers. Sourced, never run.
# The sourcing script sets SANDBOX_NAME (the prefix of its messages), PORT_NAMES, BASE_PORTS and,
# before load_ports, PORTSFILE (where a running instance keeps its offset).

log() { printf '%s: %s\n' "$SANDBOX_NAME" "$*"; }
die() {
  printf '%s: error: %s\n' "$SANDBOX_NAME" "$*" >&2
  exit 1
}

# The sourcing script's header comment, up to `set -euo`, as its help text.
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

# Whether an unprivileged daemon can reach $1 by absolute path: every existing directory on the
# way has the "others" x bit.
dir_traversable_by_others() {
  local d=$1
  while [[ "$d" != "/" && -n "$d" ]]; do
    if [[ -e "$d" ]]; then
      local mode
      mode=$(stat -c '%a' "$d")
      # the "others" digit needs the x bit
      (((${mode: -1} & 1) == 1)) || return 1
    fi
    d=$(dirname "$d")
  done
  return 0
}

# Sets PORT_OFFSET and PORTS[name] from MAILTAP_SANDBOX_PORT_OFFSET, or (unless $1 is "fresh")
# from PORTSFILE: running instances keep the ports they were started with.
load_ports() {
  local offset=${MAILTAP_SANDBOX_PORT_OFFSET:-0}
  if [[ -f "$PORTSFILE" && "${1:-}" != "fresh" ]]; then
    offset=$(cat "$PORTSFILE")
  fi
  [[ "$offset" =~ ^[0-9]+$ ]] || die "MAILTAP_SANDBOX_PORT_OFFSET must be a number, got '$offset'"
  PORT_OFFSET=$offset
  declare -gA PORTS=()
  local name
  for name in "${PORT_NAMES[@]}"; do
    PORTS[$name]=$((BASE_PORTS[$name] + offset))
    ((PORTS[$name] < 65536)) || die "port offset $offset puts $name beyond 65535"
  done
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# A zombie (killed, not yet reaped: some container inits never reap) counts as gone.
pid_alive() {
  [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ "${stat:0:1}" != "Z" ]]
}

# The live pid in pid file $1, or nothing.
pid_from_file() {
  local f=$1 pid
  [[ -f "$f" ]] || return 0
  pid=$(tr -d ' \n' <"$f")
  pid_alive "$pid" && printf '%s' "$pid"
  return 0
}

wait_pid_gone() {
  local pid=$1 deadline=$((SECONDS + $2))
  while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  ! pid_alive "$pid"
}

# $1: who must start as root and why, e.g. "Postfix's master must start as root (...)".
require_root_for() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "$SANDBOX_NAME: $1" >&2
    echo "$SANDBOX_NAME: run this script as root (CI and the dev machines run as root), e.g. sudo $0" >&2
    exit 2
  fi
}
