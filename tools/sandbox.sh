#!/usr/bin/env bash
# mailtap sandbox: real Postfix and real Dovecot, as private instances on 127.0.0.1 high ports,
# with a throw-away test CA. Never touches /etc/postfix, /etc/dovecot or a system instance.
#
# Usage: tools/sandbox.sh start|stop|restart|status|env [DIR]
#   DIR defaults to $MAILTAP_SANDBOX_DIR, else <repo>/.sandbox.
#
# Environment:
#   MAILTAP_NO_INSTALL=1          do not call tools/install-deps.sh when a program is missing
#   MAILTAP_SANDBOX_PORT_OFFSET=N add N to every port (default 0), to run a second sandbox
#   MAILTAP_SANDBOX_TIMEOUT=S     seconds to wait for every port (default 30)
#   MAILTAP_SANDBOX_CAPACITY=N    sessions the servers must accept at once (default: the stock
#                                 limits, ~100 processes and 10 IMAP/POP3 logins per user and IP);
#                                 raises Postfix's and Dovecot's process, client and per-user
#                                 limits for load tests (tools/soak.sh). Read when config is written.
#
# Exit codes: 0 ok; 1 failure (logs shown); 2 not root; 3 status: stopped; 4 start: a port is
# already taken by another program; 64 usage.
#
# Ports (offset 0), all on 127.0.0.1:
#   Postfix  smtp 10025 (STARTTLS offered, no AUTH), submission 10587 (STARTTLS required,
#            AUTH only after TLS, via Dovecot SASL), smtps 10465 (implicit TLS, AUTH)
#   Dovecot  imap 10143 (STARTTLS), imaps 10993, pop3 10110 (STLS), pop3s 10995,
#            LMTP and SASL auth on unix sockets inside Postfix's private/ queue directory.
# Users: alice / alice-secret, bob / bob-secret; addresses <user>@sandbox.test.
# Mail for @sandbox.test goes Postfix -> LMTP -> Dovecot -> DIR/mail/<user>/Maildir.
#
# Files written: DIR/sandbox.json (everything tests need), DIR/sandbox.env (shell exports),
# DIR/tls/{ca.pem,server.pem,server.key} (generated test fixtures, never commit them),
# logs in DIR/postfix.log and DIR/dovecot.log.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
SANDBOX_NAME=sandbox
# shellcheck source=tools/lib/sandbox-common.sh
source "$SCRIPT_DIR/lib/sandbox-common.sh"

DOMAIN=sandbox.test
HOSTNAME_FQDN=mail.$DOMAIN
USERS=(alice bob)
declare -A PASSWORDS=([alice]=alice-secret [bob]=bob-secret)
# Dovecot runs mail processes (imap, pop3, lmtp delivery) as this unprivileged user.
MAIL_USER=mail
MAIL_GROUP=mail
PORT_NAMES=(smtp submission smtps imap imaps pop3 pop3s)
declare -A BASE_PORTS=([smtp]=10025 [submission]=10587 [smtps]=10465
  [imap]=10143 [imaps]=10993 [pop3]=10110 [pop3s]=10995)
WAIT_SECONDS=${MAILTAP_SANDBOX_TIMEOUT:-30}
CAPACITY=${MAILTAP_SANDBOX_CAPACITY:-}
[[ -z "$CAPACITY" || "$CAPACITY" =~ ^[0-9]+$ ]] || {
  printf 'sandbox: error: MAILTAP_SANDBOX_CAPACITY must be a number\n' >&2
  exit 64
}

# ---------------------------------------------------------------------------------------------
# Paths

# Postfix and Dovecot daemons drop root and then need to reach files under the sandbox by
# absolute path (Dovecot's mail processes run as $MAIL_USER), and unix socket paths are limited
# to 107 bytes. When DIR is not reachable by an unprivileged user (e.g. under /root) or is too
# long, the state lives in a short directory under /tmp instead, and DIR/state points to it.
resolve_paths() {
  DIR=${1:-${MAILTAP_SANDBOX_DIR:-$REPO_DIR/.sandbox}}
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd -P)
  # DIR itself is made 0755 by start; what matters is whether its parents let daemons through.
  if dir_traversable_by_others "$(dirname "$DIR")" && ((${#DIR} <= 60)); then
    RUN=$DIR
  else
    RUN=/tmp/mailtap-sandbox-$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)
  fi
  INSTANCE=mtsbx$(printf '%s' "$RUN" | cksum | cut -d' ' -f1)
  TLS_DIR=$DIR/tls
  PF_CONF=$RUN/postfix
  PF_QUEUE=$RUN/postfix-queue
  PF_DATA=$RUN/postfix-data
  PF_LOG=$RUN/postfix.log
  DC_CONF_DIR=$RUN/dovecot
  DC_CONF=$DC_CONF_DIR/dovecot.conf
  DC_BASE=$RUN/dovecot-run
  DC_STATE=$RUN/dovecot-state
  DC_LOG=$RUN/dovecot.log
  MAIL_ROOT=$RUN/mail
  JSON=$DIR/sandbox.json
  ENVFILE=$DIR/sandbox.env
  PORTSFILE=$RUN/ports.conf
}

# ---------------------------------------------------------------------------------------------
# Process and port helpers

postfix_master_pid() { pid_from_file "$PF_QUEUE/pid/master.pid"; }
dovecot_master_pid() { pid_from_file "$DC_BASE/master.pid"; }

# Processes that belong to THIS sandbox only: Postfix daemons carry MAIL_CONFIG=<our config dir>
# in their environment, Dovecot processes are titled "<instance_name>/..." by instance_name.
sandbox_leftover_pids() {
  {
    grep -lzxF "MAIL_CONFIG=$PF_CONF" /proc/[0-9]*/environ
    # dovecot titles its processes "dovecot-<instance_name>/<service>"
    grep -lzE "^dovecot-$INSTANCE/" /proc/[0-9]*/cmdline
  } 2>/dev/null | sed -n 's|^/proc/\([0-9]*\)/.*|\1|p' | grep -vx "$$" | sort -u || true
}

# ---------------------------------------------------------------------------------------------
# Setup

ensure_programs() {
  local missing=()
  local prog
  for prog in postfix postconf dovecot doveconf openssl swaks curl; do
    command -v "$prog" >/dev/null 2>&1 || [[ -x /usr/sbin/$prog ]] || missing+=("$prog")
  done
  [[ -x /usr/lib/dovecot/lmtp ]] || missing+=(dovecot-lmtpd)
  [[ -x /usr/lib/dovecot/imap ]] || missing+=(dovecot-imapd)
  [[ -x /usr/lib/dovecot/pop3 ]] || missing+=(dovecot-pop3d)
  if ((${#missing[@]})); then
    if [[ "${MAILTAP_NO_INSTALL:-0}" == "1" ]]; then
      die "missing: ${missing[*]} (MAILTAP_NO_INSTALL=1, so not installing; run tools/install-deps.sh)"
    fi
    log "missing: ${missing[*]}; running tools/install-deps.sh"
    "$SCRIPT_DIR/install-deps.sh"
  fi
  export PATH=$PATH:/usr/sbin:/sbin
  local user
  for user in postfix dovecot dovenull "$MAIL_USER"; do
    getent passwd "$user" >/dev/null || die "system user '$user' is missing (reinstall postfix/dovecot-core)"
  done
  getent group postdrop >/dev/null || die "system group 'postdrop' is missing (reinstall postfix)"
}

make_tls() {
  mkdir -p "$TLS_DIR"
  chmod 755 "$TLS_DIR"
  # Reuse a CA that is still valid for a day, so clients that cached it keep working.
  if [[ -f $TLS_DIR/ca.pem && -f $TLS_DIR/server.pem && -f $TLS_DIR/server.key ]] &&
    openssl x509 -in "$TLS_DIR/server.pem" -noout -checkend 86400 >/dev/null 2>&1 &&
    openssl verify -CAfile "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem" >/dev/null 2>&1; then
    return 0
  fi
  local cnf=$REPO_DIR/certs/sandbox-openssl.cnf
  if [[ ! -f "$cnf" ]]; then
    cnf=$TLS_DIR/openssl.cnf
    cat >"$cnf" <<'EOF'
# generated by tools/sandbox.sh: profile for the sandbox's throw-away test CA
[ req ]
prompt = no
distinguished_name = req_dn
[ req_dn ]
CN = mailtap sandbox test
[ v3_ca ]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[ v3_server ]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
EOF
  fi
  log "generating test CA and server certificate in $TLS_DIR (test fixtures, not secrets)"
  local out
  if ! out=$({
    set -e
    umask 077
    openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 -config "$cnf" \
      -extensions v3_ca -subj "/O=mailtap sandbox/CN=mailtap sandbox TEST CA (generated, not trusted)" \
      -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem"
    openssl req -new -newkey rsa:2048 -nodes -sha256 -config "$cnf" \
      -subj "/O=mailtap sandbox/CN=localhost" -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr"
    openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 -extfile "$cnf" -extensions v3_server \
      -out "$TLS_DIR/server.pem"
    rm -f "$TLS_DIR/server.csr"
  } 2>&1); then
    die "openssl failed: $out"
  fi
  chmod 644 "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem"
  chmod 600 "$TLS_DIR/ca.key" "$TLS_DIR/server.key"
  openssl verify -CAfile "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem" >/dev/null ||
    die "generated server certificate does not verify against the generated CA"
  if openssl x509 -in "$TLS_DIR/server.pem" -noout -checkhost localhost -checkip 127.0.0.1 |
    grep -q 'NOT match'; then
    die "server certificate lacks DNS:localhost/IP:127.0.0.1 (check [v3_server] in $cnf)"
  fi
}

write_postfix_config() {
  mkdir -p "$PF_CONF"
  chown root:root "$PF_CONF"
  chmod 755 "$PF_CONF"
  local u
  : >"$PF_CONF/vmailbox"
  for u in "${USERS[@]}"; do
    printf '%s@%s %s/\n' "$u" "$DOMAIN" "$u" >>"$PF_CONF/vmailbox"
  done
  cat >"$PF_CONF/main.cf" <<EOF
# generated by tools/sandbox.sh -- private Postfix instance for the mailtap sandbox
compatibility_level = 3.6
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
mail_owner = postfix
setgid_group = postdrop
maillog_file = $PF_LOG
# postfix refuses a maillog_file outside these prefixes (default /var, /dev/stdout)
maillog_file_prefixes = $RUN
# only this instance: never a system-wide multi-instance setup
multi_instance_enable = no

myhostname = $HOSTNAME_FQDN
mydomain = $DOMAIN
myorigin = \$mydomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP Postfix (mailtap sandbox)
biff = no
append_dot_mydomain = no
readme_directory = no
recipient_delimiter = +
message_size_limit = 52428800

# no DNS at all: the sandbox has no network
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_peername_lookup = no

# mail for @$DOMAIN goes to Dovecot over LMTP; nothing leaves the machine
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:5.1.1 local delivery is disabled in the sandbox
relay_domains =
relayhost =
default_transport = error:5.7.1 the sandbox delivers only to @$DOMAIN
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = texthash:$PF_CONF/vmailbox
virtual_transport = lmtp:unix:private/dovecot-lmtp
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination

# TLS (server certificate signed by the sandbox test CA)
smtpd_tls_cert_file = $TLS_DIR/server.pem
smtpd_tls_key_file = $TLS_DIR/server.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_session_cache_database =
smtp_tls_session_cache_database =
smtp_tls_security_level = none

# SASL through Dovecot's auth socket (in our queue's private/ directory);
# enabled per service in master.cf (submission, smtps)
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_auth_enable = no
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
broken_sasl_auth_clients = no
EOF
  if [[ -n "$CAPACITY" ]]; then
    # Load tests: one smtpd per session, no per-client connection cap.
    cat >>"$PF_CONF/main.cf" <<EOF

# MAILTAP_SANDBOX_CAPACITY=$CAPACITY
default_process_limit = $((CAPACITY + 50))
smtpd_client_connection_count_limit = 0
EOF
  fi
  cat >"$PF_CONF/master.cf" <<EOF
# generated by tools/sandbox.sh -- no chroot: the queue is not under /var/spool/postfix
# service          type  private unpriv chroot wakeup maxproc command
127.0.0.1:${PORTS[smtp]}  inet  n       -      n      -      -       smtpd
127.0.0.1:${PORTS[submission]}  inet  n       -      n      -      -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_client_restrictions=
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
127.0.0.1:${PORTS[smtps]}  inet  n       -      n      -      -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
tlsmgr     unix  -       -       n       1000?   1       tlsmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
local      unix  -       n       n       -       -       local
virtual    unix  -       n       n       -       -       virtual
lmtp       unix  -       -       n       -       -       lmtp
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
EOF
  chmod 644 "$PF_CONF/main.cf" "$PF_CONF/master.cf" "$PF_CONF/vmailbox"

  # Ownership Postfix insists on: queue dir root 755, data dir postfix 700; the queue's
  # subdirectories are created by `postfix check` (post-install create-missing).
  mkdir -p "$PF_QUEUE" "$PF_DATA"
  chown root:root "$PF_QUEUE"
  chmod 755 "$PF_QUEUE"
  chown postfix:root "$PF_DATA"
  chmod 700 "$PF_DATA"
  touch "$PF_LOG"
  chmod 644 "$PF_LOG"
}

write_dovecot_config() {
  mkdir -p "$DC_CONF_DIR" "$DC_STATE" "$MAIL_ROOT"
  chmod 755 "$DC_CONF_DIR" "$DC_STATE"
  chown "$MAIL_USER:$MAIL_GROUP" "$MAIL_ROOT"
  chmod 700 "$MAIL_ROOT"
  local uid gid
  uid=$(id -u "$MAIL_USER")
  gid=$(getent group "$MAIL_GROUP" | cut -d: -f3)
  # passwd-file with {PLAIN} passwords: CRAM-MD5 needs the plaintext (or a CRAM-MD5 hash).
  local users_file=$DC_CONF_DIR/users u
  : >"$users_file"
  for u in "${USERS[@]}"; do
    printf '%s:{PLAIN}%s:%s:%s::%s/%s\n' "$u" "${PASSWORDS[$u]}" "$uid" "$gid" "$MAIL_ROOT" "$u" >>"$users_file"
  done
  # read by the auth process, which runs as the dovecot user
  chown root:dovecot "$users_file"
  chmod 640 "$users_file"
  local dh_line=""
  [[ -f /usr/share/dovecot/dh.pem ]] && dh_line="ssl_dh = </usr/share/dovecot/dh.pem"
  cat >"$DC_CONF" <<EOF
# generated by tools/sandbox.sh -- private Dovecot instance for the mailtap sandbox
instance_name = $INSTANCE
base_dir = $DC_BASE
state_dir = $DC_STATE
log_path = $DC_LOG
info_log_path = $DC_LOG
debug_log_path = $DC_LOG
protocols = imap pop3 lmtp
hostname = $HOSTNAME_FQDN
listen = 127.0.0.1
shutdown_clients = yes

default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = $uid
last_valid_uid = $uid
first_valid_gid = $gid
last_valid_gid = $gid
mail_location = maildir:$MAIL_ROOT/%n/Maildir
namespace inbox {
  inbox = yes
}

ssl = yes
ssl_cert = <$TLS_DIR/server.pem
ssl_key = <$TLS_DIR/server.key
$dh_line
ssl_min_protocol = TLSv1.2

# Plaintext auth only after TLS. NOTE: Dovecot treats a connection whose client IP equals the
# local IP as secured, so a client on 127.0.0.1 talking to 127.0.0.1 may still log in without
# TLS (no LOGINDISABLED); from any other address STARTTLS/STLS is required.
disable_plaintext_auth = yes
auth_mechanisms = plain login cram-md5
auth_verbose = yes
# Tests fail logins on purpose; Dovecot's anti-brute-force delays (2 s per failure, then a growing
# per-IP penalty that also hits Postfix SASL lookups from 127.0.0.1) would slow every later test.
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $users_file
}
userdb {
  driver = passwd-file
  args = username_format=%n $users_file
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${PORTS[imap]}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${PORTS[imaps]}
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${PORTS[pop3]}
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = ${PORTS[pop3s]}
    ssl = yes
  }
}
# Postfix reaches LMTP and SASL auth through its own private/ directory, as on a real server.
service lmtp {
  unix_listener $PF_QUEUE/private/dovecot-lmtp {
    mode = 0600
    user = postfix
    group = postfix
  }
}
service auth {
  unix_listener $PF_QUEUE/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
  unix_listener auth-userdb {
    mode = 0600
  }
}
# The documented way to switch the per-IP auth penalty off. Expected side effect: the auth
# process logs "net_connect_unix(anvil-auth-penalty) failed" once when it starts; harmless.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
protocol lmtp {
  postmaster_address = postmaster@$DOMAIN
}
protocol pop3 {
  pop3_uidl_format = %08Xu%08Xv
}
EOF
  if [[ -n "$CAPACITY" ]]; then
    # Load tests: with TLS each IMAP/POP3 session holds a login process (it proxies the TLS)
    # and a mail process, and every process is a client of auth, anvil and stats.
    cat >>"$DC_CONF" <<EOF

# MAILTAP_SANDBOX_CAPACITY=$CAPACITY
default_process_limit = $((CAPACITY + 50))
default_client_limit = $((4 * CAPACITY + 1000))
mail_max_userip_connections = $((CAPACITY + 50))
EOF
  fi
  chmod 644 "$DC_CONF"
}

write_descriptors() {
  local q='"'
  js() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/$q/\\\\$q/g")"; }
  local u first=1
  {
    printf '{\n'
    printf '  "dir": %s,\n' "$(js "$DIR")"
    printf '  "state_dir": %s,\n' "$(js "$RUN")"
    printf '  "host": "127.0.0.1",\n'
    printf '  "domain": "%s",\n' "$DOMAIN"
    printf '  "hostname": "%s",\n' "$HOSTNAME_FQDN"
    printf '  "ca": %s,\n' "$(js "$TLS_DIR/ca.pem")"
    printf '  "server_cert": %s,\n' "$(js "$TLS_DIR/server.pem")"
    printf '  "tls_names": ["localhost", "127.0.0.1"],\n'
    printf '  "port_offset": %s,\n' "$PORT_OFFSET"
    printf '  "ports": {'
    local name sep=""
    for name in "${PORT_NAMES[@]}"; do
      printf '%s"%s": %s' "$sep" "$name" "${PORTS[$name]}"
      sep=", "
    done
    printf '},\n'
    printf '  "users": {\n'
    for u in "${USERS[@]}"; do
      ((first)) || printf ',\n'
      first=0
      printf '    "%s": {"login": "%s", "password": "%s", "address": "%s@%s", "maildir": %s}' \
        "$u" "$u" "${PASSWORDS[$u]}" "$u" "$DOMAIN" "$(js "$MAIL_ROOT/$u/Maildir")"
    done
    printf '\n  },\n'
    printf '  "auth_mechanisms": ["PLAIN", "LOGIN", "CRAM-MD5"],\n'
    printf '  "logs": {"postfix": %s, "dovecot": %s}\n' "$(js "$PF_LOG")" "$(js "$DC_LOG")"
    printf '}\n'
  } >"$JSON.tmp"
  mv "$JSON.tmp" "$JSON"
  chmod 644 "$JSON"

  {
    printf 'export SANDBOX_DIR=%q\n' "$DIR"
    printf 'export SANDBOX_JSON=%q\n' "$JSON"
    printf 'export SANDBOX_CA=%q\n' "$TLS_DIR/ca.pem"
    printf 'export SANDBOX_HOST=127.0.0.1\n'
    printf 'export SANDBOX_DOMAIN=%s\n' "$DOMAIN"
    for name in "${PORT_NAMES[@]}"; do
      printf 'export SANDBOX_%s_PORT=%s\n' "${name^^}" "${PORTS[$name]}"
    done
    for u in "${USERS[@]}"; do
      printf 'export SANDBOX_%s_USER=%s\n' "${u^^}" "$u"
      printf 'export SANDBOX_%s_PASSWORD=%s\n' "${u^^}" "${PASSWORDS[$u]}"
      printf 'export SANDBOX_%s_ADDRESS=%s@%s\n' "${u^^}" "$u" "$DOMAIN"
    done
    printf 'export SANDBOX_USER=alice\nexport SANDBOX_PASSWORD=%s\n' "${PASSWORDS[alice]}"
  } >"$ENVFILE"
  chmod 644 "$ENVFILE"
}

show_logs_tail() {
  local f
  for f in "$PF_LOG" "$DC_LOG"; do
    [[ -f "$f" ]] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 25 "$f" >&2
  done
}

all_ports_open() {
  local name
  for name in "${PORT_NAMES[@]}"; do port_open "${PORTS[$name]}" || return 1; done
}

# ---------------------------------------------------------------------------------------------
# Commands

cmd_start() {
  require_root_for "Postfix's master must start as root (it binds, then drops to the 'postfix' user)."
  ensure_programs
  if [[ -n "$(postfix_master_pid)" && -n "$(dovecot_master_pid)" ]]; then
    load_ports
    if all_ports_open; then
      write_descriptors
      log "already running in $DIR"
      print_ports
      return 0
    fi
  fi
  # half-started or stale: clean up first
  do_stop quiet
  load_ports fresh

  local name busy=()
  for name in "${PORT_NAMES[@]}"; do
    port_open "${PORTS[$name]}" && busy+=("$name:${PORTS[$name]}")
  done
  if ((${#busy[@]})); then
    printf 'sandbox: error: ports already in use: %s (another sandbox? set MAILTAP_SANDBOX_PORT_OFFSET)\n' \
      "${busy[*]}" >&2
    exit 4
  fi

  if [[ "$RUN" != "$DIR" ]]; then
    log "state in $RUN ($DIR is not reachable by unprivileged daemons or too long for sockets)"
    mkdir -p "$RUN"
    ln -sfn "$RUN" "$DIR/state"
  fi
  chmod 755 "$DIR" "$RUN"
  printf '%s\n' "$PORT_OFFSET" >"$PORTSFILE"

  make_tls
  write_postfix_config
  write_dovecot_config
  : >"$DC_LOG"
  chmod 644 "$DC_LOG"

  local out
  if ! out=$(doveconf -c "$DC_CONF" -n 2>&1 >/dev/null); then
    die "doveconf rejected the generated config: $out"
  fi
  # Postfix first: `postfix start` runs `postfix check`, which creates the queue directories
  # (with the owners Postfix insists on); Dovecot then puts its LMTP and auth sockets into the
  # queue's private/ directory. Daemons keep their inherited stdout, so never start them
  # inside $(...), which would wait for them forever.
  local start_out=$RUN/start.out
  if ! postfix -c "$PF_CONF" start >"$start_out" 2>&1 </dev/null; then
    show_logs_tail
    do_stop quiet
    die "postfix failed to start: $(cat "$start_out")"
  fi
  if ! dovecot -c "$DC_CONF" >"$start_out" 2>&1 </dev/null; then
    show_logs_tail
    do_stop quiet
    die "dovecot failed to start: $(cat "$start_out")"
  fi

  local deadline=$((SECONDS + WAIT_SECONDS)) waiting=()
  while :; do
    waiting=()
    for name in "${PORT_NAMES[@]}"; do
      port_open "${PORTS[$name]}" || waiting+=("$name:${PORTS[$name]}")
    done
    [[ -S $PF_QUEUE/private/dovecot-lmtp ]] || waiting+=("lmtp-socket")
    [[ -S $PF_QUEUE/private/auth ]] || waiting+=("auth-socket")
    ((${#waiting[@]} == 0)) && break
    if ((SECONDS >= deadline)); then
      show_logs_tail
      do_stop quiet
      die "not ready after ${WAIT_SECONDS}s, still waiting for: ${waiting[*]}"
    fi
    sleep 0.2
  done
  write_descriptors
  log "started in $DIR"
  print_ports
}

print_ports() {
  local name
  for name in "${PORT_NAMES[@]}"; do
    printf '  %-11s 127.0.0.1:%s\n' "$name" "${PORTS[$name]}"
  done
  printf '  users       alice/%s bob/%s (@%s)\n' "${PASSWORDS[alice]}" "${PASSWORDS[bob]}" "$DOMAIN"
  printf '  CA          %s\n' "$TLS_DIR/ca.pem"
  printf '  json        %s\n' "$JSON"
}

do_stop() {
  local quiet=${1:-}
  local pf dc
  pf=$(postfix_master_pid)
  dc=$(dovecot_master_pid)
  if [[ -n "$pf" ]]; then
    postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
    wait_pid_gone "$pf" 15 || {
      log "postfix master $pf did not stop; killing it"
      kill -KILL "$pf" 2>/dev/null || true
    }
  fi
  if [[ -n "$dc" ]]; then
    dovecot -c "$DC_CONF" stop >/dev/null 2>&1 || kill -TERM "$dc" 2>/dev/null || true
    wait_pid_gone "$dc" 15 || {
      log "dovecot master $dc did not stop; killing it"
      kill -KILL "$dc" 2>/dev/null || true
    }
  fi
  # children that outlived their master (each tied to this sandbox, see sandbox_leftover_pids)
  local left
  left=$(sandbox_leftover_pids | tr '\n' ' ')
  if [[ -n "${left// /}" ]]; then
    # shellcheck disable=SC2086
    kill -TERM $left 2>/dev/null || true
    sleep 0.5
    left=$(sandbox_leftover_pids | tr '\n' ' ')
    # shellcheck disable=SC2086
    [[ -z "${left// /}" ]] || kill -KILL $left 2>/dev/null || true
  fi
  rm -f "$PF_QUEUE/pid/master.pid" "$DC_BASE/master.pid"
  [[ "$quiet" == quiet ]] || log "stopped ($DIR)"
}

cmd_stop() {
  require_root_for "Postfix's master must start as root (it binds, then drops to the 'postfix' user)."
  export PATH=$PATH:/usr/sbin:/sbin
  do_stop
}

cmd_status() {
  load_ports
  local pf dc name up=0 down=0
  pf=$(postfix_master_pid)
  dc=$(dovecot_master_pid)
  printf 'postfix master: %s\n' "${pf:-not running}"
  printf 'dovecot master: %s\n' "${dc:-not running}"
  for name in "${PORT_NAMES[@]}"; do
    if port_open "${PORTS[$name]}"; then
      printf '  %-11s 127.0.0.1:%s up\n' "$name" "${PORTS[$name]}"
      up=$((up + 1))
    else
      printf '  %-11s 127.0.0.1:%s down\n' "$name" "${PORTS[$name]}"
      down=$((down + 1))
    fi
  done
  if [[ -n "$pf" && -n "$dc" && $down -eq 0 ]]; then
    echo "running ($DIR)"
    return 0
  fi
  if [[ -z "$pf" && -z "$dc" && $up -eq 0 && -z "$(sandbox_leftover_pids)" ]]; then
    echo "stopped ($DIR)"
    return 3
  fi
  echo "partly running ($DIR); run: $0 stop $DIR"
  return 1
}

cmd_env() {
  [[ -f "$ENVFILE" ]] || die "no $ENVFILE: start the sandbox first ($0 start $DIR)"
  cat "$ENVFILE"
}

main() {
  local cmd=${1:-}
  shift || true
  case "$cmd" in
  start | stop | restart | status | env) ;;
  -h | --help | help)
    usage
    return 0
    ;;
  *)
    usage >&2
    return 64
    ;;
  esac
  resolve_paths "${1:-}"
  case "$cmd" in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  restart)
    cmd_stop "$@"
    cmd_start "$@"
    ;;
  status) cmd_status ;;
  env) cmd_env ;;
  esac
}

main "$@"
