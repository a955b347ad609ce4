#!/usr/bin/env bash
# mailtap's main job, end to end, on the built-in sandbox:
#   1. build mailtap (installing Debian packages when missing),
#   2. start real Postfix and Dovecot on 127.0.0.1 (tools/sandbox.sh),
#   3. put `mailtap proxy` in front of submission (587-style, STARTTLS) and IMAP (STARTTLS),
#   4. send a message with swaks through the proxy (STARTTLS + AUTH PLAIN) and read it back with
#      curl over IMAP through the proxy,
#   5. show the transcripts the proxy wrote.
# Everything stays on loopback; the sandbox is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
MAILTAP_BUILD_TARGET=mailtap tools/build.sh  # the tests are not needed for the demo

work=$(mktemp -d /tmp/mailtap-demo.XXXXXX)
sandbox="$work/sandbox"
cleanup() {
  [[ -n "${proxy_pid:-}" ]] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null
  tools/sandbox.sh stop "$sandbox" >/dev/null 2>&1 || true
}
trap cleanup EXIT

tools/sandbox.sh start "$sandbox"
port() { python3 -c "import json,sys; print(json.load(open('$sandbox/sandbox.json'))['ports']['$1'])"; }

build/mailtap ca init --ca-dir "$work/ca" >/dev/null
build/mailtap proxy \
  --listener "name=submission,listen=127.0.0.1:0,upstream=127.0.0.1:$(port submission),proto=smtp,client-tls=starttls,upstream-tls=starttls" \
  --listener "name=imap,listen=127.0.0.1:0,upstream=127.0.0.1:$(port imap),proto=imap,client-tls=starttls,upstream-tls=starttls" \
  --upstream-ca "$sandbox/tls/ca.pem" --ca-dir "$work/ca" --transcripts "$work/transcripts" \
  --ready-file "$work/ready.json" &
proxy_pid=$!
for _ in $(seq 100); do [[ -f "$work/ready.json" ]] && break; sleep 0.1; done
listen() { python3 -c "import json; l=[x for x in json.load(open('$work/ready.json'))['listeners'] if x['name']=='$1'][0]; print(l['listen'].split(':')[1])"; }
smtp_port=$(listen submission)
imap_port=$(listen imap)

subject="mailtap demo $(date -u +%H:%M:%S)"
echo
echo "== swaks -> mailtap (127.0.0.1:$smtp_port) -> Postfix submission, STARTTLS + AUTH PLAIN"
swaks --server "127.0.0.1:$smtp_port" -tls --tls-ca-path "$work/ca/ca.pem" \
  --auth PLAIN --auth-user alice --auth-password alice-secret \
  --from alice@sandbox.test --to alice@sandbox.test --header "Subject: $subject" \
  --body "Hello from the mailtap demo." --silent 1
echo "   sent: $subject"

echo "== curl -> mailtap (127.0.0.1:$imap_port) -> Dovecot IMAP, STARTTLS, reading it back"
for _ in $(seq 50); do
  uid=$(curl -s --ssl-reqd --cacert "$work/ca/ca.pem" -u alice:alice-secret \
    "imap://127.0.0.1:$imap_port/INBOX" -X "UID SEARCH SUBJECT \"$subject\"" | awk '{print $NF}' | tr -d '\r')
  [[ "$uid" =~ ^[0-9]+$ ]] && break
  sleep 0.2
done
curl -s --ssl-reqd --cacert "$work/ca/ca.pem" -u alice:alice-secret \
  "imap://127.0.0.1:$imap_port/INBOX;UID=$uid" | grep -E "^(Subject|From|To):|Hello from"

kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true; proxy_pid=
echo
echo "== transcripts written by the proxy ($work/transcripts), rendered by 'mailtap show':"
for f in "$work"/transcripts/*.jsonl; do
  echo
  build/mailtap show --color never "$f"
done
echo
echo "Transcripts kept in $work/transcripts (JSON Lines, one file per session)."
