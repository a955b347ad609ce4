#!/usr/bin/env bash
# Soak: concurrent mixed SMTP/IMAP/POP3 sessions through `mailtap proxy` against the sandbox's real
# Postfix and Dovecot for minutes; fails on a failed session, a sanitizer/leak report, RSS growth or
# a lost transcript event. See tools/soak/soak.py for the workload and every check.
#
#   tools/soak.sh [--sessions N (1000)] [--duration SECONDS (300)] [--mailtap BIN ($MAILTAP_BIN)]
#                 [--threads T] [--think S] [--max-rss-growth-mib M (64; 0 = off)] [--json FILE]
#
# Needs root (the sandbox's Postfix master). Run long soaks with `nice -n 10` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 tools/soak/soak.py "$@"
