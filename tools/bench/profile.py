"""Instruction counts of mailtap relaying one workload, under valgrind's callgrind: repeatable on a
busy machine where wall-clock figures are not. Counts only the workload (counters are zeroed once
the proxy is ready and dumped when the client is done), per thread, and lists the functions that
cost the most. With --tool perf: the native build sampled by `perf record` instead (CPU time,
kernel included, where callgrind shows only user-space instructions and overstates copies),
sampled over the workload only.

Usage (as root, with a sandbox running, e.g. `tools/sandbox.sh start /tmp/sbx`):
  tools/bench/profile.py --sandbox /tmp/sbx --mailtap build-perf/mailtap \\
      --workload fetch --size-mb 10 [--no-transcripts] [--threads N] [--top 30]
Workloads: fetch (IMAPS FETCH of a message of --size-mb, delivered once), retr (POP3S RETR of it),
noop (--count sequential IMAPS NOOPs in one session, logged in before counting), select (the same with
SELECT INBOX, whose reply is several lines read at once), idle (--count idle IMAPS sessions: counts
their setup), smtp (--count plain SMTP sessions one after the other, each sending one message of
--message-kb kB with python's smtplib through mailtap into Postfix's smtp-sink, as tools/bench.sh's
smtp-source workload does: counts per session, connection to QUIT).
Prints Ir per MB (or per round trip / session) for the whole process and per thread; with
--tool perf, CPU ms per MB (or µs per round trip / session), per thread, and the hottest symbols.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import clients
import procstat
import relays

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "integration"))
import sandbox as sandbox_lib  # noqa: E402


def ensure_message(sb, size_mb: float) -> bytes:
    import bench  # make_message / deliver_to_maildir
    size = int(size_mb * 1_000_000)
    maildir = sb.user("alice").maildir
    for sub in ("new", "cur"):
        d = maildir / sub
        if d.is_dir():
            for p in d.iterdir():
                if p.stat().st_size == size:
                    return p.read_bytes()
                p.unlink()  # one message only: MAILINDEX=1 / RETR 1 must be this one
    message = bench.make_message(size)
    bench.deliver_to_maildir(sb, "alice", message)
    return message


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    import socket
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {port} after {timeout}s")
            time.sleep(0.05)


def make_smtp_message(size: int) -> bytes:
    """A plain text message of about `size` bytes: headers, then CRLF lines of 76 characters."""
    head = (b"From: bench@sandbox.test\r\nTo: sink@sandbox.test\r\n"
            b"Subject: mailtap profile\r\nMessage-ID: <profile@sandbox.test>\r\n\r\n")
    line = b"The quick brown fox jumps over the lazy dog, again and again and again....\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return head + body


def smtp_session(port: int, message: bytes) -> None:
    """One SMTP session through the relay: EHLO, MAIL, RCPT, DATA with the message, QUIT."""
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.sandbox.test", timeout=60) as s:
        s.ehlo()
        refused = s.sendmail("bench@sandbox.test", ["sink@sandbox.test"], message)
        if refused:
            raise clients.WorkloadFailed(f"recipients refused: {refused}")


def report_callgrind(work: Path, label: str, workload: str, unit: float, per: str,
                     top: int) -> None:
    """Instructions from the callgrind dump: the whole process and each thread per unit of work,
    with each busy thread's most expensive functions (self)."""
    # The dump callgrind_control -d asked for: one file per thread, callgrind.out.<pid>.1-<thread>.
    dumps = sorted(p for p in work.glob("callgrind.out.*") if re.search(r"\.\d+\.1-\d+$", p.name))
    per_thread = {}
    for p in dumps:
        text = p.read_text(errors="replace")
        m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
        if m:
            per_thread[p] = int(m.group(1))
    total = sum(per_thread.values())
    print(f"{label}, {workload}: {total / unit / 1e6:,.3f} M instructions per {per} "
          f"({total / 1e6:,.1f} M in all)")
    for p, ir in per_thread.items():
        if ir < total / 50:
            continue
        print(f"  thread {p.name.rpartition('-')[2]}: {ir / unit / 1e6:,.3f} M per {per}; "
              f"top {top} functions (self):")
        annotate = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100",
                                   str(p)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        lines = [l for l in annotate.stdout.splitlines() if re.match(r"^\s*[\d,]+ \(", l)]
        lines = [l for l in lines if "(100.0%)" not in l and "(99." not in l]
        for l in lines[:top]:
            print("    " + l.strip()[:160])


def report_perf(data: Path, label: str, workload: str, unit: float, per: str, top: int) -> None:
    """CPU time from perf's cpu-clock samples (each sample's period is the CPU time it stands for,
    in ns): the whole process and each thread per unit of work, then where it went by library
    (kernel, OpenSSL, libc, mailtap itself...) and by symbol, as shares of all of it."""
    def report(*keys: str) -> list[tuple[float, int, str]]:
        out = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                              "-g", "none", "-F", "overhead,period," + ",".join(keys)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        rows = []
        for line in out.splitlines():
            m = re.match(r"^\s*([\d.]+)%\s+(\d+)\s+(.*)$", line)
            if m:
                rows.append((float(m.group(1)), int(m.group(2)), m.group(3).strip()))
        return rows
    threads = report("pid")  # perf's "pid" key is the thread
    total_ns = sum(ns for _, ns, _ in threads)
    scale, unit_name = (1e6, "ms") if per == "MB" else (1e3, "µs")
    print(f"{label}, {workload}: {total_ns / scale / unit:,.3f} {unit_name} of CPU per {per} "
          f"(perf cpu-clock samples; perf's own overhead included)")
    for share, ns, name in threads:
        print(f"  thread {name}: {ns / scale / unit:,.3f} {unit_name} per {per} ({share:.1f}%)")
    print("  by library:")
    for share, ns, name in report("dso"):
        if share >= 0.5:
            print(f"    {share:5.1f}%  {ns / scale / unit:8.3f} {unit_name}  {name}")
    print(f"  top {top} symbols (self):")
    for share, _, name in report("dso", "sym")[:top]:
        print(f"    {share:5.1f}%  {name[:140]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sandbox", required=True, type=Path)
    ap.add_argument("--mailtap", required=True)
    ap.add_argument("--workload", choices=["fetch", "retr", "noop", "select", "idle", "smtp"],
                    default="fetch")
    ap.add_argument("--size-mb", type=float, default=10)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--message-kb", type=float, default=10, help="smtp: size of each message")
    ap.add_argument("--no-transcripts", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--keep", action="store_true", help="keep the callgrind or perf files")
    ap.add_argument("--tool", choices=["callgrind", "perf"], default="callgrind")
    args = ap.parse_args()

    sb = sandbox_lib.Sandbox.load(args.sandbox)
    alice = sb.user("alice")
    message = ensure_message(sb, args.size_mb) if args.workload in ("fetch", "retr") else b""
    work = Path(tempfile.mkdtemp(prefix="mailtap-profile-", dir="/tmp"))
    ca_dir = work / "ca"
    relays.ensure_mailtap_ca(args.mailtap, ca_dir)
    service = {"retr": "pop3s", "smtp": "smtp"}.get(args.workload, "imaps")
    procs: list[subprocess.Popen] = []
    if service == "smtp":
        # Postfix's smtp-sink, as tools/bench.sh uses: accepts everything, stores nothing.
        upstream_port = procstat.free_port()
        procs.append(subprocess.Popen(
            ["smtp-sink", "-u", "postfix", f"127.0.0.1:{upstream_port}", "1024"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(work / "smtp-sink.stderr", "wb")))
        wait_for_port(upstream_port, procs[-1])
        route = relays.Route(service, upstream_port, "smtp", False)
    else:
        route = relays.Route(service, sb.port(service), "pop3" if service == "pop3s" else "imap",
                             True)
    tls_mode = "implicit" if route.tls else "plain"
    ready = work / "ready.json"
    native = args.tool == "perf"
    prefix = [] if native else ["valgrind", "--tool=callgrind", "--separate-threads=yes",
                                f"--callgrind-out-file={work}/callgrind.out.%p"]
    cmd = prefix + [args.mailtap, "proxy",
           "--ca-dir", str(ca_dir), "--upstream-ca", str(sb.ca), "--ready-file", str(ready),
           "--max-connections", "100000", "--listener",
           f"name={service},listen=127.0.0.1:0,upstream=127.0.0.1:{route.upstream_port},"
           f"proto={route.proto},client-tls={tls_mode},upstream-tls={tls_mode}"]
    cmd += ["--no-transcripts"] if args.no_transcripts else ["--transcripts", str(work / "t")]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    with open(work / "stderr", "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, cwd=work)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("proxy did not start:\n" + (work / "stderr").read_text())
            time.sleep(0.1)
        port = int(json.loads(ready.read_text())["listeners"][0]["listen"].rpartition(":")[2])
        cafile = ca_dir / "ca.pem"
        # Warm up (leaf minted, first handshake), then count only the workload.
        smtp_message = make_smtp_message(int(args.message_kb * 1000))
        if service == "smtp":
            smtp_session(port, smtp_message)
        elif service == "pop3s":
            warm = clients.LineConnection(port, cafile)
            warm.read_line()  # +OK greeting
            warm.sock.sendall(b"QUIT\r\n")
            warm.read_line()
            warm.close()
        else:
            clients.close_all(clients.open_idle_sessions(port, cafile, 1))
        session = None
        if args.workload in ("noop", "select"):  # connected and logged in before counting starts
            session = clients.LineConnection(port, cafile)
            session.read_line()
            session.command("l", f"LOGIN {alice.login} {alice.password}")
        time.sleep(1)
        sampler = None
        if native:
            sampler = subprocess.Popen(["perf", "record", "-F", "9999", "-p", str(proc.pid),
                                        "-o", str(work / "perf.data")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)  # perf attaches to every thread before the workload starts
        else:
            subprocess.run(["callgrind_control", "-z", str(proc.pid)], cwd=work, check=True,
                           stdout=subprocess.DEVNULL)
        unit, per = 1.0, "run"
        if args.workload == "fetch":
            clients.curl_download(f"imaps://127.0.0.1:{port}/INBOX;MAILINDEX=1", cafile,
                                  alice.login, alice.password, timeout=1800)
            unit, per = len(message) / 1e6, "MB"
        elif args.workload == "retr":
            clients.curl_download(f"pop3s://127.0.0.1:{port}/1", cafile, alice.login,
                                  alice.password, timeout=1800)
            unit, per = len(message) / 1e6, "MB"
        elif args.workload == "noop":
            for i in range(args.count):
                session.command(f"n{i}", "NOOP")
            unit, per = args.count, "round trip"
        elif args.workload == "select":
            for i in range(args.count):
                session.command(f"s{i}", "SELECT INBOX")
            unit, per = args.count, "round trip"
        elif args.workload == "smtp":
            for _ in range(args.count):
                smtp_session(port, smtp_message)
            unit, per = args.count, "session"
        else:
            sessions = clients.open_idle_sessions(port, cafile, args.count)
            clients.close_all(sessions)
            unit, per = args.count, "session"
        time.sleep(2)  # let the transcript writer finish
        if sampler:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(timeout=120)
        else:
            for f in work.glob("callgrind.out.*"):
                f.unlink()
            subprocess.run(["callgrind_control", "-d", str(proc.pid)], cwd=work, check=True,
                           stdout=subprocess.DEVNULL)
            time.sleep(1)
        if session:
            session.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    label = "mailtap --no-transcripts" if args.no_transcripts else "mailtap"
    if native:
        report_perf(work / "perf.data", label, args.workload, unit, per, args.top)
    else:
        report_callgrind(work, label, args.workload, unit, per, args.top)
    if args.keep:
        print(f"{args.tool} files kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
