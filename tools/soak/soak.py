#!/usr/bin/python3
"""Soak test: many concurrent mixed mail sessions through `mailtap proxy` against the sandbox's
real Postfix and Dovecot, for minutes, then checks that nothing leaked or was lost.

Workload: SESSIONS client slots, each running sessions back to back until DURATION has passed,
cycling SMTP submission (STARTTLS, AUTH PLAIN, MAIL/RCPT/DATA of a ~4 KB message, QUIT), IMAP over
implicit TLS (LOGIN, SELECT, FETCH of a seeded message, LOGOUT) and POP3 with STLS (USER/PASS,
STAT, RETR, QUIT), with short random pauses between steps so the sessions overlap.

Checks (any failure: exit 1):
- every client session succeeded (every reply as expected, the seeded message came back);
- the proxy exited 0 on SIGTERM, and wrote no AddressSanitizer/LeakSanitizer/UBSan report (with a
  sanitized build; the report files go to WORKDIR/sanitizer);
- resident memory is flat: the peak RSS of the last third of the run exceeds the peak of the middle
  third by at most --max-rss-growth-mib (0 turns the check off; sanitized builds hold freed memory
  in ASan's quarantine, so they are best judged by LeakSanitizer instead);
- no lost transcript events: one complete transcript per client connection (header, contiguous
  sequence numbers, ends with the close of both legs, no transcript_overflow gap), close byte counts
  equal to the bytes of the data events, and equal to the plaintext bytes the client sent and read.

Usage: tools/soak.sh [--sessions N] [--duration SECONDS] [--mailtap BIN] [--threads T] ...
The figures are printed and, with --json FILE, written as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox import (candidate_port_offsets, start_proxy, start_sandbox,  # noqa: E402
                     stop_sandbox, unique_token)
from clients import Target, run_session  # noqa: E402
from transcript_audit import audit_transcripts  # noqa: E402

KINDS = ("smtp", "imap", "pop3")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=1000, help="concurrent client sessions")
    p.add_argument("--duration", type=float, default=300, help="seconds of load")
    p.add_argument("--ramp", type=float, default=None,
                   help="seconds over which the slots start (default: min(30, duration/5))")
    p.add_argument("--think", type=float, default=0.5,
                   help="mean pause between a session's steps, seconds")
    p.add_argument("--mailtap", default=os.environ.get("MAILTAP_BIN", str(REPO / "build/mailtap")))
    p.add_argument("--threads", type=int, default=1, help="mailtap proxy --threads")
    p.add_argument("--sample-interval", type=float, default=None,
                   help="seconds between RSS samples (default: duration/60, 1..10)")
    p.add_argument("--max-rss-growth-mib", type=float, default=64)
    p.add_argument("--workdir", default=None, help="keep everything here (default: a temp dir, "
                   "removed when the soak passes)")
    p.add_argument("--json", default=None, help="write the figures to this file")
    p.add_argument("--step-timeout", type=float, default=180)
    return p.parse_args(argv)


def sanitized(binary: str) -> bool:
    """Whether `binary` carries a sanitizer runtime (clang links it statically, gcc dynamically)."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30).stdout
        if "libasan" in out or "libubsan" in out:
            return True
        with open(binary, "rb") as f:
            return any(b"AddressSanitizer" in chunk or b"UndefinedBehaviorSanitizer" in chunk
                       for chunk in iter(lambda: f.read(1 << 22), b""))
    except (OSError, subprocess.TimeoutExpired):
        return False


def seed_mailbox(sb, user: str, token: str, count: int = 3) -> None:
    """Puts `count` messages carrying `token` into `user`'s INBOX, straight through Postfix."""
    ctx = ssl.create_default_context(cafile=str(sb.ca))
    sender = sb.user("alice")
    to = sb.user(user).address
    for i in range(count):
        with smtplib.SMTP("127.0.0.1", sb.port("submission"), timeout=60) as s:
            s.starttls(context=ctx)
            s.login(sender.login, sender.password)
            s.sendmail(sender.address, [to],
                       (f"From: <{sender.address}>\r\nTo: <{to}>\r\nSubject: seed {i}\r\n\r\n"
                        f"soak seed {token} {i}\r\n").encode())
    deadline = time.monotonic() + 120
    while len([m for m in sb.messages(user) if token.encode() in m]) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"soak: seeded messages did not reach {user}'s mailbox\n"
                             + sb.log_tail())
        time.sleep(0.2)


class Sampler(threading.Thread):
    """Samples the proxy's RSS and open descriptors, and the clients' open sessions."""

    def __init__(self, pid: int, interval: float, active):
        super().__init__(daemon=True)
        self.pid, self.interval, self.active = pid, interval, active
        self.samples: list[dict] = []
        self.stop_event = threading.Event()
        self.t0 = time.monotonic()

    def sample(self) -> None:
        try:
            with open(f"/proc/{self.pid}/status") as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        except (OSError, StopIteration):
            return
        self.samples.append({"t": round(time.monotonic() - self.t0, 1), "rss_kib": rss,
                             "fds": fds, "client_sessions": self.active()})

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.sample()


async def drive(target: Target, tls: ssl.SSLContext, sessions: int, duration: float,
                ramp: float, counters: dict) -> list:
    results = []
    end = time.monotonic() + duration

    def opened():
        counters["active"] += 1
        counters["peak"] = max(counters["peak"], counters["active"])

    def closed():
        counters["active"] -= 1

    async def slot(i: int) -> None:
        await asyncio.sleep(ramp * i / max(1, sessions))
        n = i
        while time.monotonic() < end:
            kind = KINDS[n % len(KINDS)]
            results.append(await run_session(kind, target, tls, n * 100000 + i, opened, closed))
            n += 1

    await asyncio.gather(*(slot(i) for i in range(sessions)))
    return results


def rss_growth(samples: list[dict], start: float) -> tuple[float, float, float]:
    """(peak MiB of the middle third, peak MiB of the last third, growth MiB) of the samples
    taken after `start` seconds (the ramp)."""
    steady = [s for s in samples if s["t"] >= start]
    if len(steady) < 3:
        return (0.0, 0.0, 0.0)
    third = len(steady) // 3
    middle = max(s["rss_kib"] for s in steady[third:2 * third]) / 1024
    last = max(s["rss_kib"] for s in steady[2 * third:]) / 1024
    return (middle, last, last - middle)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("soak: the sandbox runs Postfix's master, which must start as root", file=sys.stderr)
        return 2
    mailtap = str(Path(args.mailtap).resolve())
    if not os.access(mailtap, os.X_OK):
        print(f"soak: no mailtap binary at {mailtap} (--mailtap or MAILTAP_BIN)", file=sys.stderr)
        return 2
    ramp = args.ramp if args.ramp is not None else min(30.0, args.duration / 5)
    interval = args.sample_interval or max(1.0, min(10.0, args.duration / 60))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * args.sessions + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="mailtap-soak-",
                                                                         dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    reports = work / "sanitizer"
    reports.mkdir(exist_ok=True)
    is_sanitized = sanitized(mailtap)
    figures: dict = {"sessions": args.sessions, "duration_s": args.duration, "ramp_s": ramp,
                     "threads": args.threads, "mailtap": mailtap, "sanitized": is_sanitized,
                     "load_average_start": os.getloadavg()}
    print(f"soak: {args.sessions} sessions for {args.duration:.0f}s (ramp {ramp:.0f}s) through "
          f"{mailtap}{' (sanitized)' if is_sanitized else ''}; work dir {work}", flush=True)

    os.environ["MAILTAP_SANDBOX_CAPACITY"] = str(args.sessions + 50)
    sandbox_dir = work / "sandbox"
    sandbox_dir.mkdir(exist_ok=True)
    sandbox_dir.chmod(0o755)
    sb = start_sandbox(sandbox_dir, candidate_port_offsets())
    proxy = None
    ok = False
    try:
        token = unique_token("soak")
        seed_mailbox(sb, "bob", token)
        env_asan = os.environ.get("ASAN_OPTIONS", "detect_leaks=1")
        env_ubsan = os.environ.get("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        os.environ["ASAN_OPTIONS"] = f"{env_asan}:log_path={reports}/asan"
        os.environ["UBSAN_OPTIONS"] = f"{env_ubsan}:log_path={reports}/ubsan"
        listeners = [
            f"listen=127.0.0.1:0,upstream=127.0.0.1:{sb.port('imaps')},proto=imap,"
            "client-tls=implicit,upstream-tls=implicit,name=soak-imap",
            f"listen=127.0.0.1:0,upstream=127.0.0.1:{sb.port('pop3')},proto=pop3,"
            "client-tls=starttls,upstream-tls=starttls,name=soak-pop3",
        ]
        extra = ["--name", "soak-smtp", "--max-connections", str(2 * args.sessions + 100),
                 "--threads", str(args.threads), "--connect-timeout", "120",
                 "--handshake-timeout", "120", "--line-timeout", "300"]
        for spec in listeners:
            extra += ["--listener", spec]
        proxy = start_proxy(mailtap, work / "proxy", proto="smtp",
                            upstream=f"127.0.0.1:{sb.port('submission')}",
                            client_tls="starttls", upstream_tls="starttls", upstream_ca=sb.ca,
                            extra_args=extra, start_timeout=120)
        ports = {}
        names = {}
        for listener in proxy.ready["listeners"]:
            kind = listener["protocol"]
            ports[kind] = int(listener["listen"].rpartition(":")[2])
            names[kind] = listener["name"]
        bob = sb.user("bob")
        target = Target(host="127.0.0.1", ports=ports, listeners=names,
                        proxy_ca=str(proxy.ca_pem), user=bob.login, password=bob.password,
                        sender=bob.address, recipient=sb.user("alice").address,
                        seed_token=token, think=args.think, step_timeout=args.step_timeout)
        tls = ssl.create_default_context(cafile=str(proxy.ca_pem))

        counters = {"active": 0, "peak": 0}
        sampler = Sampler(proxy.process.pid, interval, lambda: counters["active"])
        sampler.sample()
        sampler.start()
        t0 = time.monotonic()
        results = asyncio.run(drive(target, tls, args.sessions, args.duration, ramp, counters))
        elapsed = time.monotonic() - t0
        sampler.stop_event.set()
        sampler.join()
        sampler.sample()
        figures["load_average_end"] = os.getloadavg()

        rc = proxy.stop(timeout=300)
        failures = [r for r in results if not r.ok]
        by_kind = {k: sum(1 for r in results if r.kind == k and r.ok) for k in KINDS}
        audit = audit_transcripts(proxy.transcripts, results)
        report_files = sorted(p for p in reports.iterdir() if p.stat().st_size > 0)
        samples = sampler.samples
        middle, last, growth = rss_growth(samples, ramp)
        peak_fds = max((s["fds"] for s in samples), default=0)
        figures.update({
            "elapsed_s": round(elapsed, 1),
            "client_sessions": len(results), "client_ok": len(results) - len(failures),
            "client_ok_by_kind": by_kind, "client_failures": len(failures),
            "peak_concurrent_client_sessions": counters["peak"],
            "peak_proxy_fds": peak_fds,
            "proxy_exit": rc, "sanitizer_reports": [str(p) for p in report_files],
            "rss_mib_first": round(samples[0]["rss_kib"] / 1024, 1) if samples else None,
            "rss_mib_peak_middle_third": round(middle, 1),
            "rss_mib_peak_last_third": round(last, 1),
            "rss_growth_mib": round(growth, 1),
            "rss_samples": samples,
            "transcripts": audit.transcripts, "transcript_events": audit.events,
            "transcript_data_bytes": audit.data_bytes,
            "incomplete_transcripts": audit.incomplete,
            "sessions_without_transcript": audit.unmatched_sessions,
            "transcripts_without_session": audit.unmatched_transcripts,
            "byte_mismatches": audit.byte_mismatches,
            "warning_codes": dict(audit.warnings),
        })
        problems = []
        if failures:
            kinds: dict[str, int] = {}
            for f in failures:
                key = f"{f.kind} at {f.step}: {f.error.split(':')[0]}"
                kinds[key] = kinds.get(key, 0) + 1
            problems.append(f"{len(failures)} client sessions failed: {kinds}; first: "
                            f"{failures[0].kind} {failures[0].step}: {failures[0].error}")
        if rc != 0:
            problems.append(f"mailtap proxy exited {rc}; stderr tail: {proxy.stderr()[-2000:]}")
        for p in report_files:
            problems.append(f"sanitizer report {p}:\n{p.read_text(errors='replace')[:4000]}")
        if args.max_rss_growth_mib > 0 and growth > args.max_rss_growth_mib:
            problems.append(f"RSS grew {growth:.1f} MiB between the middle and last third "
                            f"(limit {args.max_rss_growth_mib} MiB)")
        if audit.problems or audit.lost_events or audit.unmatched_transcripts:
            problems.append("transcripts: " + "; ".join(audit.problems[:20]))
        figures["problems"] = problems
        ok = not problems
    finally:
        if proxy is not None and proxy.running():
            proxy.kill()
        stop_sandbox(sandbox_dir)

    summary = {k: v for k, v in figures.items() if k != "rss_samples"}
    print(json.dumps(summary, indent=2, default=str))
    trace = figures.get("rss_samples", [])
    step = max(1, len(trace) // 12)
    print("soak: RSS over time (s: MiB, proxy fds, client sessions): " + ", ".join(
        f"{s['t']:.0f}: {s['rss_kib'] / 1024:.1f}/{s['fds']}/{s['client_sessions']}"
        for s in trace[::step]))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print("soak: PASS" if ok else "soak: FAIL", flush=True)
    if ok and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    elif not ok:
        print(f"soak: kept {work}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
