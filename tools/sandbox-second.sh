#!/usr/bin/env bash
# mailtap second sandbox: a second SMTP server (Exim 4) and a second IMAP/POP3 server (Cyrus IMAP),
# from Debian packages, as private instances on 127.0.0.1 high ports, with the same test users as
# tools/sandbox.sh (Postfix + Dovecot), so that `mailtap diff` can compare the same client session
# against two different servers. Never touches /etc or a system instance.
#
# Usage: tools/sandbox-second.sh start|stop|restart|status|env [DIR]
#   DIR defaults to $MAILTAP_SANDBOX_DIR, else <repo>/.sandbox: the same directory as
#   tools/sandbox.sh, whose test CA (DIR/tls) is then shared; without one, a CA is made there the
#   way tools/sandbox.sh makes it (and tools/sandbox.sh reuses it later).
#
# Environment:
#   MAILTAP_NO_INSTALL=1          do not install or download anything; fail when something is missing
#   MAILTAP_SANDBOX_PORT_OFFSET=N add N to every port (default 0), like tools/sandbox.sh
#   MAILTAP_SANDBOX_TIMEOUT=S     seconds to wait for every port (default 30)
#   MAILTAP_SECOND_CACHE=DIR      where the unpacked server packages are kept
#                                 (default /var/cache/mailtap/second-servers)
#
# Exit codes: 0 ok; 1 failure (logs shown); 2 not root; 3 status: stopped; 4 start: a port is
# already taken by another program; 64 usage.
#
# Ports (offset 0), all on 127.0.0.1 (chosen so that no offset that is a multiple of 1000 ever
# collides with a tools/sandbox.sh instance):
#   Exim   smtp 10525 (STARTTLS offered, no AUTH), submission 11087 (STARTTLS required before MAIL,
#          AUTH only after TLS), smtps 10965 (implicit TLS, AUTH)
#   Cyrus  imap 10643 (STARTTLS; LOGINDISABLED before TLS), imaps 11493, pop3 10610 (STLS), pop3s 11495
# Users: alice / alice-secret, bob / bob-secret; addresses <user>@sandbox.test. Exim delivers
# @sandbox.test to DIR-state/mail/<user>/Maildir (Cyrus mailboxes are filled over IMAP APPEND).
#
# Why the servers are unpacked rather than installed: exim4-daemon-light conflicts with every
# other MTA (installing it removes Postfix) and cyrus-imapd / cyrus-pop3d conflict with Dovecot's
# imap-server / pop3-server. So `apt-get download` fetches the server packages from the Debian
# mirror and `dpkg-deb -x` unpacks them into MAILTAP_SECOND_CACHE; only the shared libraries they
# need, which conflict with nothing, are installed with apt-get. Debian's Exim looks up its
# compiled-in user "Debian-exim" at startup even with -C; rather than adding a system user, Exim
# runs under libnss_wrapper with a private passwd file that maps that name to the "mail" user.
#
# Files written: DIR/sandbox-second.json (everything tests need, same shape as sandbox.json),
# DIR/sandbox-second.env (shell exports); state and logs under DIR/second (or a short /tmp
# directory when DIR is not reachable by unprivileged daemons; DIR/second-state points to it).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
SANDBOX_NAME=sandbox-second
# shellcheck source=tools/lib/sandbox-common.sh
source "$SCRIPT_DIR/lib/sandbox-common.sh"

DOMAIN=sandbox.test
SMTP_HOST=mx2.$DOMAIN
IMAP_HOST=imap2.$DOMAIN
USERS=(alice bob)
declare -A PASSWORDS=([alice]=alice-secret [bob]=bob-secret)
RUN_USER=mail
RUN_GROUP=mail
PORT_NAMES=(smtp submission smtps imap imaps pop3 pop3s)
declare -A BASE_PORTS=([smtp]=10525 [submission]=11087 [smtps]=10965
  [imap]=10643 [imaps]=11493 [pop3]=10610 [pop3s]=11495)
WAIT_SECONDS=${MAILTAP_SANDBOX_TIMEOUT:-30}
CACHE=${MAILTAP_SECOND_CACHE:-/var/cache/mailtap/second-servers}
# Unpacked with dpkg-deb -x (conflicting or with side effects when installed).
SERVER_PACKAGES=(exim4-daemon-light cyrus-common cyrus-imapd cyrus-pop3d sasl2-bin)
# Installed with apt-get: the libraries the unpacked programs link against, and nss_wrapper.
LIBRARY_PACKAGES=(libnss-wrapper libidn12 libxapian30 libical3 libgnutls-dane0 libgnutls30 libnsl2
  libpcre2-8-0 libdb5.3 libsasl2-2 libsasl2-modules libsasl2-modules-db libjansson4 libicu72
  libwrap0 libpcre3 libldap-2.5-0 libpq5 libsqlite3-0 libxml2 libkrb5-3 libcom-err2 libssl3
  zlib1g openssl)

# ---------------------------------------------------------------------------------------------
# Paths

resolve_paths() {
  DIR=${1:-${MAILTAP_SANDBOX_DIR:-$REPO_DIR/.sandbox}}
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd -P)
  # Cyrus keeps unix sockets under its config directory: paths must stay short.
  if dir_traversable_by_others "$DIR" && ((${#DIR} <= 50)); then
    RUN=$DIR/second
  else
    RUN=/tmp/mailtap-second-$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)
  fi
  TLS_DIR=$DIR/tls
  PKG=$CACHE/root
  EXIM_BIN=$PKG/usr/sbin/exim4
  CYRUS_BIN=$PKG/usr/lib/cyrus/bin
  SASLPASSWD=$PKG/usr/sbin/saslpasswd2
  PKG_LIBS=$PKG/usr/lib/x86_64-linux-gnu
  EX=$RUN/exim
  EX_CONF=$EX/exim.conf
  EX_PID=$EX/exim.pid
  EX_LOG_DIR=$EX/log
  CY=$RUN/cyrus
  CY_CONF=$CY/imapd.conf
  CY_MASTER_CONF=$CY/cyrus.conf
  CY_PID=$CY/master.pid
  CY_LOG=$CY/master.log
  MAIL_ROOT=$RUN/mail
  JSON=$DIR/sandbox-second.json
  ENVFILE=$DIR/sandbox-second.env
  PORTSFILE=$RUN/ports.conf
}

# ---------------------------------------------------------------------------------------------
# Process and port helpers

# Processes of THIS instance only: every Exim and Cyrus process carries our config file's path
# on its command line (-C <path>).
instance_pids() {
  {
    grep -lzxF -- "$EX_CONF" /proc/[0-9]*/cmdline
    grep -lzxF -- "$CY_CONF" /proc/[0-9]*/cmdline
  } 2>/dev/null | sed -n 's|^/proc/\([0-9]*\)/.*|\1|p' | grep -vx "$$" | sort -u || true
}

# ---------------------------------------------------------------------------------------------
# Packages

missing_libraries() {
  local pkg status
  for pkg in "${LIBRARY_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "installed" ]] || printf '%s\n' "$pkg"
  done
}

apt_install() {
  # Keep package scripts from starting system-wide daemons; only if the machine has no policy.
  local policy=/usr/sbin/policy-rc.d added=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# temporary, added by mailtap tools/sandbox-second.sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    added=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || rc=$?
  if ((rc == 0)); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" || rc=$?
  fi
  ((added)) && rm -f "$policy"
  return $rc
}

# The versions apt would fetch now; the cache is reused while they stay the same.
wanted_versions() {
  local pkg v
  for pkg in "${SERVER_PACKAGES[@]}"; do
    v=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
    [[ "$v" == "(none)" ]] && v=""
    printf '%s=%s\n' "$pkg" "${v:-unknown}"
  done
}

ensure_packages() {
  export PATH=$PATH:/usr/sbin:/sbin
  local missing
  mapfile -t missing < <(missing_libraries)
  if ((${#missing[@]})); then
    [[ "${MAILTAP_NO_INSTALL:-0}" == "1" ]] &&
      die "missing packages: ${missing[*]} (MAILTAP_NO_INSTALL=1, so not installing)"
    log "installing: ${missing[*]}"
    apt_install "${missing[@]}" || die "apt-get install ${missing[*]} failed"
  fi
  for tool in openssl dpkg-deb apt-get; do
    command -v "$tool" >/dev/null || die "'$tool' not found"
  done

  local stamp=$CACHE/versions wanted have=0
  [[ -x "$EXIM_BIN" && -x "$CYRUS_BIN/master" && -x "$SASLPASSWD" && -f "$stamp" ]] && have=1
  if ((have)) && [[ "${MAILTAP_NO_INSTALL:-0}" == "1" ]]; then return 0; fi
  [[ "${MAILTAP_NO_INSTALL:-0}" == "1" ]] &&
    die "no unpacked servers in $CACHE (MAILTAP_NO_INSTALL=1, so not downloading)"
  wanted=$(wanted_versions)
  if ((have)) && [[ "$(cat "$stamp")" == "$wanted" ]]; then return 0; fi
  if grep -q '=unknown$' <<<"$wanted"; then
    log "package lists do not know ${SERVER_PACKAGES[*]}; running apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || log "apt-get update failed"
    wanted=$(wanted_versions)
  fi
  if ! download_and_unpack "$wanted"; then
    ((have)) || die "apt-get download ${SERVER_PACKAGES[*]} failed (see above)"
    log "download failed; using the packages already unpacked in $CACHE"
  fi
}

# Fetches the server packages from the mirror and unpacks them into $CACHE/root.
download_and_unpack() {
  local wanted=$1 work deb
  log "downloading and unpacking ${SERVER_PACKAGES[*]} into $CACHE (not installed: see --help)"
  mkdir -p "$CACHE"
  work=$(mktemp -d "$CACHE/download.XXXXXX")
  chmod 755 "$work"
  # apt drops to the _apt user for downloads when that user can write the directory
  chown _apt "$work" 2>/dev/null || true
  if ! (cd "$work" && apt-get download -q "${SERVER_PACKAGES[@]}" >"$work/apt.log" 2>&1); then
    cat "$work/apt.log" >&2
    rm -rf "$work"
    return 1
  fi
  rm -rf "$CACHE/root.new"
  mkdir -p "$CACHE/root.new"
  for deb in "$work"/*.deb; do
    if ! dpkg-deb -x "$deb" "$CACHE/root.new"; then
      rm -rf "$work" "$CACHE/root.new"
      return 1
    fi
  done
  # Debian installs exim4 setuid root. Our copy must not be: the daemon re-executes it (as the
  # "mail" user) for every delivery, and the loader ignores LD_PRELOAD (nss_wrapper) when it
  # starts a setuid program. Nothing here needs it: the daemon is started by root.
  chmod u-s,g-s "$CACHE/root.new/usr/sbin/exim4"
  rm -rf "$CACHE/root" "$work"
  mv "$CACHE/root.new" "$CACHE/root"
  printf '%s\n' "$wanted" >"$CACHE/versions"
}

check_libraries() {
  local bin out missing=()
  for bin in "$EXIM_BIN" "$CYRUS_BIN/master" "$CYRUS_BIN/imapd" "$CYRUS_BIN/pop3d" \
    "$CYRUS_BIN/ctl_cyrusdb" "$SASLPASSWD"; do
    [[ -x "$bin" ]] || die "$bin is missing from the unpacked packages (remove $CACHE and retry)"
    out=$(LD_LIBRARY_PATH=$PKG_LIBS ldd "$bin" 2>&1 | sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p')
    [[ -z "$out" ]] || missing+=("$(basename "$bin"): $out")
  done
  ((${#missing[@]} == 0)) || die "shared libraries not found: ${missing[*]}"
  [[ -n "$(nss_wrapper_lib)" ]] || die "libnss_wrapper.so not found (package libnss-wrapper)"
}

nss_wrapper_lib() {
  local f
  for f in /usr/lib/x86_64-linux-gnu/libnss_wrapper.so /usr/lib/*/libnss_wrapper.so \
    /usr/lib/libnss_wrapper.so; do
    [[ -f "$f" ]] && {
      printf '%s' "$f"
      return 0
    }
  done
  return 0
}

# ---------------------------------------------------------------------------------------------
# TLS: the sandbox's test CA, and a certificate of the second servers' own signed by it

make_tls() {
  mkdir -p "$TLS_DIR" "$RUN/tls"
  chmod 755 "$TLS_DIR" "$RUN/tls"
  local cnf=$REPO_DIR/certs/sandbox-openssl.cnf
  [[ -f "$cnf" ]] || die "missing $cnf (the sandbox OpenSSL profile)"
  if ! [[ -f $TLS_DIR/ca.pem && -f $TLS_DIR/ca.key ]] ||
    ! openssl x509 -in "$TLS_DIR/ca.pem" -noout -checkend 86400 >/dev/null 2>&1; then
    log "generating test CA in $TLS_DIR (test fixtures, not secrets)"
    (
      umask 077
      openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 -config "$cnf" \
        -extensions v3_ca -subj "/O=mailtap sandbox/CN=mailtap sandbox TEST CA (generated, not trusted)" \
        -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" >/dev/null 2>&1
    ) || die "openssl could not make the test CA"
    chmod 644 "$TLS_DIR/ca.pem"
    chmod 600 "$TLS_DIR/ca.key"
    rm -f "$RUN/tls/second.pem"
  fi
  # tools/sandbox.sh keeps DIR/tls only while ca.pem, server.pem and server.key are all there
  # and valid; provide its server certificate too (as it would), so that starting it later in
  # the same DIR keeps this CA instead of replacing it.
  if ! [[ -f $TLS_DIR/server.pem && -f $TLS_DIR/server.key ]] ||
    ! openssl verify -CAfile "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem" >/dev/null 2>&1; then
    (
      umask 077
      openssl req -new -newkey rsa:2048 -nodes -sha256 -config "$cnf" \
        -subj "/O=mailtap sandbox/CN=localhost" -keyout "$TLS_DIR/server.key" \
        -out "$TLS_DIR/server.csr" &&
        openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
          -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 -extfile "$cnf" \
          -extensions v3_server -out "$TLS_DIR/server.pem"
    ) >/dev/null 2>&1 || die "openssl could not make the sandbox server certificate"
    rm -f "$TLS_DIR/server.csr"
    chmod 644 "$TLS_DIR/server.pem"
    chmod 600 "$TLS_DIR/server.key"
  fi
  local cert=$RUN/tls/second.pem key=$RUN/tls/second.key
  if [[ -f "$cert" && -f "$key" ]] && openssl x509 -in "$cert" -noout -checkend 86400 >/dev/null 2>&1 &&
    openssl verify -CAfile "$TLS_DIR/ca.pem" "$cert" >/dev/null 2>&1; then
    return 0
  fi
  (
    umask 077
    openssl req -new -newkey rsa:2048 -nodes -sha256 -config "$cnf" \
      -subj "/O=mailtap sandbox second/CN=localhost" -keyout "$key" -out "$RUN/tls/second.csr" &&
      openssl x509 -req -in "$RUN/tls/second.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 -extfile "$cnf" \
        -extensions v3_server -out "$cert"
  ) >/dev/null 2>&1 || die "openssl could not make the second servers' certificate"
  rm -f "$RUN/tls/second.csr"
  # Exim and Cyrus read them after dropping to $RUN_USER.
  chown "root:$RUN_GROUP" "$key"
  chmod 640 "$key"
  chmod 644 "$cert"
  openssl verify -CAfile "$TLS_DIR/ca.pem" "$cert" >/dev/null ||
    die "the second servers' certificate does not verify against $TLS_DIR/ca.pem"
}

# ---------------------------------------------------------------------------------------------
# Exim

write_exim_config() {
  mkdir -p "$EX" "$EX/spool" "$EX_LOG_DIR" "$MAIL_ROOT"
  chmod 755 "$EX"
  chown "$RUN_USER:$RUN_GROUP" "$EX/spool" "$EX_LOG_DIR" "$MAIL_ROOT"
  chmod 750 "$EX/spool" "$MAIL_ROOT"
  chmod 755 "$EX_LOG_DIR"
  local u
  : >"$EX/passwd"
  for u in "${USERS[@]}"; do printf '%s: %s\n' "$u" "${PASSWORDS[$u]}" >>"$EX/passwd"; done
  chown "root:$RUN_GROUP" "$EX/passwd"
  chmod 640 "$EX/passwd"
  # nss_wrapper: the system's users and groups plus Debian's compiled-in "Debian-exim"
  local uid gid
  uid=$(id -u "$RUN_USER")
  gid=$(getent group "$RUN_GROUP" | cut -d: -f3)
  { getent passwd; printf 'Debian-exim:x:%s:%s:Exim (mailtap sandbox):/nonexistent:/usr/sbin/nologin\n' "$uid" "$gid"; } >"$EX/nss.passwd"
  { getent group; printf 'Debian-exim:x:%s:\n' "$gid"; } >"$EX/nss.group"
  chmod 644 "$EX/nss.passwd" "$EX/nss.group"
  local users_list
  users_list=$(printf '%s : ' "${USERS[@]}")
  users_list=${users_list% : }
  cat >"$EX_CONF" <<EOF
# generated by tools/sandbox-second.sh -- private Exim instance for the mailtap sandbox
exim_path = $EXIM_BIN
exim_user = $RUN_USER
exim_group = $RUN_GROUP
never_users = root
spool_directory = $EX/spool
log_file_path = $EX_LOG_DIR/%slog
pid_file_path = $EX_PID
keep_environment = LD_PRELOAD : NSS_WRAPPER_PASSWD : NSS_WRAPPER_GROUP
primary_hostname = $SMTP_HOST
qualify_domain = $DOMAIN
local_interfaces = <; 127.0.0.1.${PORTS[smtp]} ; 127.0.0.1.${PORTS[submission]} ; 127.0.0.1.${PORTS[smtps]}
tls_on_connect_ports = ${PORTS[smtps]}
smtp_banner = \$smtp_active_hostname ESMTP Exim \$version_number (mailtap sandbox second) \$tod_full
message_size_limit = 50M
# no DNS, no ident: the sandbox has no network
host_lookup =
rfc1413_hosts =

tls_certificate = $RUN/tls/second.pem
tls_privatekey = $RUN/tls/second.key
tls_advertise_hosts = *
# AUTH only over TLS (implicit on smtps, after STARTTLS elsewhere); no AUTH on port smtp
auth_advertise_hosts = \${if and{{!eq{\$received_port}{${PORTS[smtp]}}}{def:tls_in_cipher}}{*}{}}

acl_smtp_mail = acl_check_mail
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_mail:
  deny condition = \${if and{{eq{\$received_port}{${PORTS[submission]}}}{!def:tls_in_cipher}}}
       message = 5.7.0 Must issue a STARTTLS command first
  accept

acl_check_rcpt:
  deny domains = !$DOMAIN
       message = 5.7.1 the sandbox delivers only to @$DOMAIN
  deny condition = \${if !eq{\$received_port}{${PORTS[smtp]}}}
       !authenticated = *
       message = 5.7.1 authentication required
  accept local_parts = $users_list
  deny message = 5.1.1 no such user here

begin routers
sandbox_users:
  driver = accept
  domains = $DOMAIN
  local_parts = $users_list
  transport = maildir_delivery

begin transports
maildir_delivery:
  driver = appendfile
  directory = $MAIL_ROOT/\${local_part_data}/Maildir
  maildir_format
  create_directory
  user = $RUN_USER
  group = $RUN_GROUP
  mode = 0600
  delivery_date_add
  envelope_to_add
  return_path_add

begin retry
*  *  F,1h,5m

begin authenticators
PLAIN:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = \${if and{{!eq{\$auth3}{}}{eq{\$auth3}{\${lookup{\$auth2}lsearch{$EX/passwd}}}}}}
  server_set_id = \$auth2
LOGIN:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = \${if and{{!eq{\$auth2}{}}{eq{\$auth2}{\${lookup{\$auth1}lsearch{$EX/passwd}}}}}}
  server_set_id = \$auth1
CRAM_MD5:
  driver = cram_md5
  public_name = CRAM-MD5
  server_secret = \${lookup{\$auth1}lsearch{$EX/passwd}{\$value}fail}
  server_set_id = \$auth1
EOF
  chmod 644 "$EX_CONF"
}

exim() {
  LD_PRELOAD=$(nss_wrapper_lib) NSS_WRAPPER_PASSWD=$EX/nss.passwd NSS_WRAPPER_GROUP=$EX/nss.group \
    "$EXIM_BIN" -C "$EX_CONF" "$@"
}

# ---------------------------------------------------------------------------------------------
# Cyrus IMAP

write_cyrus_config() {
  mkdir -p "$CY" "$CY/config/socket" "$CY/spool"
  chmod 755 "$CY"
  chown -R "$RUN_USER:$RUN_GROUP" "$CY/config" "$CY/spool"
  chmod 750 "$CY/config" "$CY/spool"
  cat >"$CY_CONF" <<EOF
# generated by tools/sandbox-second.sh -- private Cyrus IMAP instance for the mailtap sandbox
configdirectory: $CY/config
partition-default: $CY/spool
defaultpartition: default
servername: $IMAP_HOST
cyrus_user: $RUN_USER
cyrus_group: $RUN_GROUP
syslog_prefix: mtsbx2
admins: cyrus-admin-nobody
# plaintext LOGIN/PLAIN/USER only after TLS (LOGINDISABLED before it)
allowplaintext: no
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $CY/sasldb2
sasl_mech_list: PLAIN LOGIN CRAM-MD5
tls_server_cert: $RUN/tls/second.pem
tls_server_key: $RUN/tls/second.key
tls_versions: tls1_2 tls1_3
# INBOX made at first login, unlimited quota
autocreate_quota: 0
unixhierarchysep: yes
hashimapspool: yes
popminpoll: 0
EOF
  local bin=$CYRUS_BIN
  cat >"$CY_MASTER_CONF" <<EOF
# generated by tools/sandbox-second.sh
START {
  recover cmd="$bin/ctl_cyrusdb -r -C $CY_CONF"
}
SERVICES {
  imap  cmd="$bin/imapd -C $CY_CONF" listen="127.0.0.1:${PORTS[imap]}" prefork=0
  imaps cmd="$bin/imapd -s -C $CY_CONF" listen="127.0.0.1:${PORTS[imaps]}" prefork=0
  pop3  cmd="$bin/pop3d -C $CY_CONF" listen="127.0.0.1:${PORTS[pop3]}" prefork=0
  pop3s cmd="$bin/pop3d -s -C $CY_CONF" listen="127.0.0.1:${PORTS[pop3s]}" prefork=0
}
EVENTS {
  checkpoint cmd="$bin/ctl_cyrusdb -c -C $CY_CONF" period=30
}
DAEMON {
}
EOF
  chmod 644 "$CY_CONF" "$CY_MASTER_CONF"
  rm -f "$CY/sasldb2"
  local u
  for u in "${USERS[@]}"; do
    printf '%s' "${PASSWORDS[$u]}" | LD_LIBRARY_PATH=$PKG_LIBS "$SASLPASSWD" -p -c \
      -f "$CY/sasldb2" -u "$IMAP_HOST" "$u" || die "saslpasswd2 failed for $u"
  done
  chown "$RUN_USER:$RUN_GROUP" "$CY/sasldb2"
  chmod 640 "$CY/sasldb2"
}

# ---------------------------------------------------------------------------------------------
# Descriptors

write_descriptors() {
  local q='"'
  js() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/$q/\\\\$q/g")"; }
  local u first=1 name sep=""
  local exim_version cyrus_version
  exim_version=$(exim -bV 2>/dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p' | head -1)
  cyrus_version=$(sed -n 's/^cyrus-imapd=//p' "$CACHE/versions" 2>/dev/null | head -1)
  {
    printf '{\n'
    printf '  "dir": %s,\n' "$(js "$DIR")"
    printf '  "state_dir": %s,\n' "$(js "$RUN")"
    printf '  "host": "127.0.0.1",\n'
    printf '  "domain": "%s",\n' "$DOMAIN"
    printf '  "hostname": "%s",\n' "$SMTP_HOST"
    printf '  "servers": {"smtp": {"software": "Exim", "version": %s, "hostname": "%s"}, ' \
      "$(js "${exim_version:-unknown}")" "$SMTP_HOST"
    printf '"imap": {"software": "Cyrus IMAP", "version": %s, "hostname": "%s"}},\n' \
      "$(js "${cyrus_version:-unknown}")" "$IMAP_HOST"
    printf '  "ca": %s,\n' "$(js "$TLS_DIR/ca.pem")"
    printf '  "server_cert": %s,\n' "$(js "$RUN/tls/second.pem")"
    printf '  "tls_names": ["localhost", "127.0.0.1"],\n'
    printf '  "port_offset": %s,\n' "$PORT_OFFSET"
    printf '  "ports": {'
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
    printf '  "logs": {"exim": %s, "cyrus": %s}\n' "$(js "$EX_LOG_DIR/mainlog")" "$(js "$CY_LOG")"
    printf '}\n'
  } >"$JSON.tmp"
  mv "$JSON.tmp" "$JSON"
  chmod 644 "$JSON"
  {
    printf 'export SECOND_DIR=%q\n' "$DIR"
    printf 'export SECOND_JSON=%q\n' "$JSON"
    printf 'export SECOND_CA=%q\n' "$TLS_DIR/ca.pem"
    for name in "${PORT_NAMES[@]}"; do
      printf 'export SECOND_%s_PORT=%s\n' "${name^^}" "${PORTS[$name]}"
    done
  } >"$ENVFILE"
  chmod 644 "$ENVFILE"
}

show_logs_tail() {
  local f
  for f in "$EX_LOG_DIR/mainlog" "$EX_LOG_DIR/paniclog" "$CY_LOG"; do
    [[ -s "$f" ]] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 25 "$f" >&2
  done
}

all_ports_open() {
  local name
  for name in "${PORT_NAMES[@]}"; do port_open "${PORTS[$name]}" || return 1; done
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

# ---------------------------------------------------------------------------------------------
# Commands

cmd_start() {
  require_root_for "Exim and Cyrus must start as root (they bind, then drop to '$RUN_USER')."
  ensure_packages
  check_libraries
  if [[ -n "$(pid_from_file "$EX_PID")" && -n "$(pid_from_file "$CY_PID")" ]]; then
    load_ports
    if all_ports_open; then
      write_descriptors
      log "already running in $DIR"
      print_ports
      return 0
    fi
  fi
  do_stop quiet
  load_ports fresh
  local name busy=()
  for name in "${PORT_NAMES[@]}"; do
    port_open "${PORTS[$name]}" && busy+=("$name:${PORTS[$name]}")
  done
  if ((${#busy[@]})); then
    printf 'sandbox-second: error: ports already in use: %s (set MAILTAP_SANDBOX_PORT_OFFSET)\n' \
      "${busy[*]}" >&2
    exit 4
  fi
  mkdir -p "$RUN"
  chmod 755 "$DIR" "$RUN"
  [[ "$RUN" == "$DIR/second" ]] || ln -sfn "$RUN" "$DIR/second-state"
  printf '%s\n' "$PORT_OFFSET" >"$PORTSFILE"

  make_tls
  write_exim_config
  write_cyrus_config
  local out
  if ! out=$(exim -bV 2>&1 >/dev/null); then
    die "exim rejected the generated config: $out"
  fi
  : >"$CY_LOG"
  # Daemons keep their inherited stdout, so never start them inside $(...).
  if ! exim -bd -q5m >"$RUN/start.out" 2>&1 </dev/null; then
    show_logs_tail
    do_stop quiet
    die "exim failed to start: $(cat "$RUN/start.out")"
  fi
  if ! LD_LIBRARY_PATH=$PKG_LIBS "$CYRUS_BIN/master" -C "$CY_CONF" -M "$CY_MASTER_CONF" \
    -p "$CY_PID" -d -L "$CY_LOG" >"$RUN/start.out" 2>&1 </dev/null; then
    show_logs_tail
    do_stop quiet
    die "cyrus master failed to start: $(cat "$RUN/start.out")"
  fi
  local deadline=$((SECONDS + WAIT_SECONDS)) waiting=()
  while :; do
    waiting=()
    for name in "${PORT_NAMES[@]}"; do
      port_open "${PORTS[$name]}" || waiting+=("$name:${PORTS[$name]}")
    done
    ((${#waiting[@]} == 0)) && break
    if ((SECONDS >= deadline)); then
      show_logs_tail
      do_stop quiet
      die "not ready after ${WAIT_SECONDS}s, still waiting for: ${waiting[*]}"
    fi
    sleep 0.2
  done
  write_descriptors
  log "started in $DIR (state in $RUN)"
  print_ports
}

do_stop() {
  local quiet=${1:-} pid
  for pid in "$(pid_from_file "$EX_PID")" "$(pid_from_file "$CY_PID")"; do
    [[ -n "$pid" ]] || continue
    kill -TERM "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 15 || {
      log "process $pid did not stop; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    }
  done
  local left
  left=$(instance_pids | tr '\n' ' ')
  if [[ -n "${left// /}" ]]; then
    # shellcheck disable=SC2086
    kill -TERM $left 2>/dev/null || true
    sleep 0.5
    left=$(instance_pids | tr '\n' ' ')
    # shellcheck disable=SC2086
    [[ -z "${left// /}" ]] || kill -KILL $left 2>/dev/null || true
  fi
  rm -f "$EX_PID" "$CY_PID"
  [[ "$quiet" == quiet ]] || log "stopped ($DIR)"
}

cmd_stop() {
  require_root_for "Exim and Cyrus must start as root (they bind, then drop to '$RUN_USER')."
  do_stop
}

cmd_status() {
  load_ports
  local ex cy name up=0 down=0
  ex=$(pid_from_file "$EX_PID")
  cy=$(pid_from_file "$CY_PID")
  printf 'exim daemon:  %s\n' "${ex:-not running}"
  printf 'cyrus master: %s\n' "${cy:-not running}"
  for name in "${PORT_NAMES[@]}"; do
    if port_open "${PORTS[$name]}"; then
      printf '  %-11s 127.0.0.1:%s up\n' "$name" "${PORTS[$name]}"
      up=$((up + 1))
    else
      printf '  %-11s 127.0.0.1:%s down\n' "$name" "${PORTS[$name]}"
      down=$((down + 1))
    fi
  done
  if [[ -n "$ex" && -n "$cy" && $down -eq 0 ]]; then
    echo "running ($DIR)"
    return 0
  fi
  if [[ -z "$ex" && -z "$cy" && -z "$(instance_pids)" ]]; then
    echo "stopped ($DIR)"
    return 3
  fi
  echo "partly running ($DIR); run: $0 stop $DIR"
  return 1
}

cmd_env() {
  [[ -f "$ENVFILE" ]] || die "no $ENVFILE: start the second servers first ($0 start $DIR)"
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
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart)
    cmd_stop
    cmd_start
    ;;
  status) cmd_status ;;
  env) cmd_env ;;
  esac
}

main "$@"
