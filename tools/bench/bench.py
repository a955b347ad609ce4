"""mailtap's side-by-side benchmark (issue 6). Run through tools/bench.sh.

Starts a private sandbox (real Dovecot and Postfix, tools/sandbox.sh), Postfix's smtp-sink, and
the relays: mailtap recording, mailtap --no-transcripts and haproxy (`mode tcp`, TLS on both
legs). Then runs each workload against every target in one interleaved run (the order rotates
every repetition, so a burst of load from elsewhere on the machine hits every target alike) and
prints a table of absolute figures, ratios to a direct connection, relay CPU per MB and memory
per idle session. Figures are measurements, never a pass/fail test.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import clients
import procstat
import relays
import report

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
import sandbox as sandbox_lib  # noqa: E402  (tests/integration/sandbox.py)

SIZES = {
    # Five repetitions: a 50 MB transfer takes well under a second here, so one burst of load
    # from elsewhere moves a figure a lot; the median of five is steadier.
    "full": dict(bulk_mb=50, bulk_reps=5, noops=2000, noop_chunks=5, smtp_messages=2000,
                 smtp_size=10_000, smtp_reps=5, idle=1000),
    # The same workloads with fewer repetitions and messages: a few minutes on a quiet machine.
    "small": dict(bulk_mb=50, bulk_reps=2, noops=2000, noop_chunks=4, smtp_messages=1000,
                  smtp_size=10_000, smtp_reps=2, idle=1000),
    "tiny": dict(bulk_mb=1, bulk_reps=1, noops=100, noop_chunks=1, smtp_messages=40,
                 smtp_size=2_000, smtp_reps=1, idle=20),
}


# What --workloads may name.
WORKLOADS = ("idle", "fetch", "retr", "noop", "smtp")


class Target:
    """Where a workload connects: directly to the server, or through a relay."""

    def __init__(self, name: str, label: str, ports: dict[str, int], cafile: Path,
                 relay: relays.Relay | None):
        self.name, self.label, self.ports, self.cafile, self.relay = name, label, ports, cafile, relay


_STARTED = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr, with the seconds since the start (to size a run to a time budget)."""
    print(f"bench: [{time.monotonic() - _STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


def rotate(items: list, n: int) -> list:
    n %= len(items)
    return items[n:] + items[:n]


def make_message(size: int) -> bytes:
    """An RFC 5322 message of about `size` bytes with CRLF line ends: a base64 attachment-like
    body (incompressible, printable, never a line starting with '.')."""
    header = (b"From: bench@sandbox.test\r\nTo: alice@sandbox.test\r\n"
              b"Subject: mailtap benchmark\r\nMessage-ID: <bench@sandbox.test>\r\n"
              b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\n")
    line_raw = 57  # 76 base64 characters per line
    lines = (size - len(header)) // 78 + 1
    raw = os.urandom(line_raw * lines)
    body = b"".join(base64.b64encode(raw[i:i + line_raw]) + b"\r\n"
                    for i in range(0, len(raw), line_raw))
    return header + body


def deliver_to_maildir(sb, user: str, message: bytes) -> None:
    """Puts the message into the user's Maildir as a file (SMTP would take minutes for 50 MB).
    A first IMAP login lets Dovecot create the Maildir with the owner it wants."""
    u = sb.user(user)
    c = clients.LineConnection(sb.port("imaps"), sb.ca)
    c.read_line()
    c.command("a", f"LOGIN {u.login} {u.password}")
    c.command("b", "SELECT INBOX")
    c.command("c", "LOGOUT")
    c.close()
    new = u.maildir / "new"
    owner = u.maildir.stat()  # Dovecot's mail user
    uid, gid = owner.st_uid, owner.st_gid
    path = new / f"{int(time.time())}.M1P{os.getpid()}.bench.sandbox.test"
    tmp = u.maildir / "tmp" / path.name
    tmp.write_bytes(message)
    os.chown(tmp, uid, gid)
    tmp.chmod(0o600)
    os.rename(tmp, path)


def start_process(args: list[str], workdir: Path, name: str) -> subprocess.Popen:
    err = open(workdir / f"{name}.stderr", "wb")
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=err)


def wait_port(port: int, process: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} is not listening on {port} after {timeout}s")
            time.sleep(0.05)


def measure(target: Target, run, results: dict, key: str, units: float = 0.0) -> None:
    """Runs one measurement; records its time (or samples) and the relay's CPU seconds."""
    entry = results.setdefault(key, {}).setdefault(target.name, {"times": [], "cpu": [],
                                                                 "units": 0.0, "samples": []})
    relay = target.relay
    cpu0 = procstat.cpu_seconds(relay.pid) if relay else 0.0
    value = run()
    if isinstance(value, list):
        entry["samples"].extend(value)
    else:
        entry["times"].append(value)
    entry["units"] += units
    if relay:
        entry["cpu"].append(procstat.wait_cpu_settled(relay.pid) - cpu0)
        if relay.name in ("mailtap", "mailtap-threads"):
            stats = relays.transcript_stats(relay)
            entry.setdefault("transcript_bytes", 0)
            entry.setdefault("overflow_warnings", 0)
            entry["transcript_bytes"] += stats["bytes"]
            entry["overflow_warnings"] += stats["overflow_warnings"]
            relays.clear_transcripts(relay)


def file_creation_cost(directory: Path, count: int = 500) -> dict:
    """System time to create, write (3 kB) and close one file in `directory`'s file system, as
    the transcript writer does once per session. It varies a lot with the file system's state
    (on ext4, how many inodes near the directory were deleted lately), so the run reports it
    beside the SMTP figures: a recorded session pays it on top of relaying."""
    probe = directory / "file-creation-probe"
    probe.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    for i in range(count):
        fd = os.open(probe / f"{i}.jsonl", os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND,
                     0o600)
        os.write(fd, b"x" * 3000)
        os.close(fd)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"files": count, "wall_us": wall / count * 1e6,
            "system_us": (after.ru_stime - before.ru_stime) / count * 1e6}


def idle_memory(target: Target, count: int, results: dict) -> None:
    relay = target.relay
    warm = clients.open_idle_sessions(target.ports["idle"], target.cafile, 3)
    clients.close_all(warm)
    time.sleep(0.5)
    procstat.wait_cpu_settled(relay.pid)
    before = procstat.rss_kib(relay.pid)
    sessions = clients.open_idle_sessions(target.ports["idle"], target.cafile, count)
    try:
        procstat.wait_cpu_settled(relay.pid)
        after = procstat.rss_kib(relay.pid)
    finally:
        clients.close_all(sessions)
    results.setdefault("idle", {})[target.name] = {
        "sessions": count, "rss_before_kib": before, "rss_after_kib": after,
        "kib_per_session": (after - before) / count}
    if relay.name in ("mailtap", "mailtap-threads"):
        relays.clear_transcripts(relay)


def run_benchmark(args, workdir: Path) -> dict:
    size = SIZES[args.size]
    results: dict = {"size": args.size, "params": size}
    sbdir = workdir / "sbx"
    offsets = sandbox_lib.candidate_port_offsets()
    if not offsets:
        raise RuntimeError("no free set of sandbox ports")
    log(f"starting the sandbox in {sbdir}")
    sb = sandbox_lib.start_sandbox(sbdir, offsets)
    procs: list[subprocess.Popen] = []
    started: list[relays.Relay] = []
    try:
        sink_port = procstat.free_port()
        sink = start_process(["smtp-sink", "-u", "postfix", f"127.0.0.1:{sink_port}", "1024"],
                             workdir, "smtp-sink")
        procs.append(sink)
        wait_port(sink_port, sink, "smtp-sink")
        server_key = Path(sb.info["server_cert"]).with_name("server.key")
        port_file = workdir / "idle-upstream.port"
        idle_up = start_process([sys.executable, str(Path(__file__).with_name("idle_upstream.py")),
                                 sb.info["server_cert"], str(server_key), str(port_file)],
                                workdir, "idle-upstream")
        procs.append(idle_up)
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if idle_up.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the idle upstream did not start: " +
                                   (workdir / "idle-upstream.stderr").read_text())
            time.sleep(0.05)
        idle_port = int(port_file.read_text())

        bulk_bytes = size["bulk_mb"] * 1_000_000
        log(f"delivering a {size['bulk_mb']} MB message to alice's Maildir")
        message = make_message(bulk_bytes)
        deliver_to_maildir(sb, "alice", message)
        bulk_bytes = len(message)

        routes = [relays.Route("imaps", sb.port("imaps"), "imap", True),
                  relays.Route("pop3s", sb.port("pop3s"), "pop3", True),
                  relays.Route("smtp", sink_port, "smtp", False),
                  relays.Route("idle", idle_port, "imap", True)]
        ca_dir = workdir / "mailtap-ca"
        relays.ensure_mailtap_ca(args.mailtap, ca_dir)
        targets = [Target("direct", "direct", {"imaps": sb.port("imaps"),
                                               "pop3s": sb.port("pop3s"), "smtp": sink_port,
                                               "idle": idle_port}, sb.ca, None)]
        log("starting the relays")
        for record in (True, False):
            r = relays.start_mailtap(args.mailtap, "mailtap" if record else "mailtap-norec",
                                     workdir / ("mailtap" if record else "mailtap-norec"),
                                     routes, record=record, ca_dir=ca_dir, upstream_ca=sb.ca,
                                     threads=args.threads)
            started.append(r)
        if args.baseline:
            # Another build of mailtap (recording), to compare two builds in one interleaved run.
            r = relays.start_mailtap(args.baseline, "mailtap-baseline", workdir / "mailtap-baseline",
                                     routes, record=True, ca_dir=ca_dir, upstream_ca=sb.ca,
                                     threads=args.threads)
            r.label = f"mailtap baseline ({Path(args.baseline).parent.name})"
            started.append(r)
        if args.also_threads:
            # The same recording relay with several event loops, side by side with the others.
            started.append(relays.start_mailtap(
                args.mailtap, "mailtap-threads", workdir / "mailtap-threads", routes, record=True,
                ca_dir=ca_dir, upstream_ca=sb.ca, threads=args.also_threads))
        if not args.no_haproxy:
            if relays.haproxy_available():
                started.append(relays.start_haproxy("haproxy", workdir / "haproxy", routes,
                                                    cert_pem=Path(sb.info["server_cert"]),
                                                    key_pem=server_key, upstream_ca=sb.ca))
            else:
                log("haproxy is not installed (apt-get install haproxy): no haproxy column")
        for r in started:
            targets.append(Target(r.name, r.label, r.ports, r.cafile, r))
        results["targets"] = {t.name: t.label for t in targets}
        results["load_before"] = procstat.load_average()
        alice = sb.user("alice")

        # Idle sessions first, while every relay process is fresh: memory a process freed
        # earlier would hide the growth a new session causes.
        if "idle" in args.workloads:
            log(f"idle sessions: {size['idle']} per relay")
            for t in targets[1:]:
                idle_memory(t, size["idle"], results)

        def fetch(t: Target, check: bytes | None = None):
            return lambda: clients.curl_download(
                f"imaps://127.0.0.1:{t.ports['imaps']}/INBOX;MAILINDEX=1", t.cafile,
                alice.login, alice.password, check)

        def retr(t: Target, check: bytes | None = None):
            return lambda: clients.curl_download(
                f"pop3s://127.0.0.1:{t.ports['pop3s']}/1", t.cafile, alice.login,
                alice.password, check)

        for workload, key, job in (("fetch", "imaps_fetch", fetch), ("retr", "pop3s_retr", retr)):
            if workload not in args.workloads:
                continue
            log(f"{key}: warm-up (the message must arrive intact), then {size['bulk_reps']} "
                "interleaved repetitions")
            for t in targets:
                job(t, message)()
            for rep in range(size["bulk_reps"]):
                for t in rotate(targets, rep):
                    measure(t, job(t), results, key, bulk_bytes / 1e6)

        if "noop" in args.workloads:
            per_chunk = size["noops"] // size["noop_chunks"]
            log(f"round trips: {size['noops']} NOOPs per target in {size['noop_chunks']} chunks")
            for chunk in range(size["noop_chunks"]):
                for t in rotate(targets, chunk):
                    measure(t, lambda t=t: clients.imap_round_trips(
                        t.ports["imaps"], t.cafile, alice.login, alice.password, per_chunk),
                        results, "noop", per_chunk)

        if "smtp" in args.workloads:
            # Where the recording relay writes its transcripts: the same file system and state.
            results["file_creation"] = file_creation_cost(workdir / "mailtap")
            log("creating a transcript-sized file here costs "
                f"{results['file_creation']['system_us']:.0f} µs of system time")
            for key, persistent in (("smtp_new", False), ("smtp_persistent", True)):
                log(f"{key}: {size['smtp_messages']} messages, {size['smtp_reps']} repetitions")
                for rep in range(size["smtp_reps"]):
                    for t in rotate(targets, rep):
                        measure(t, lambda t=t: clients.smtp_source(
                            t.ports["smtp"], size["smtp_messages"], 10, persistent,
                            size["smtp_size"]), results, key, size["smtp_messages"])
        results["load_after"] = procstat.load_average()
        for r in started:
            if not r.alive():
                raise RuntimeError(f"{r.label} died during the run:\n{r.stderr_tail()}")
        return results
    finally:
        for r in started:
            r.stop()
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if not args.keep:
            log("stopping the sandbox")
            sandbox_lib.stop_sandbox(sbdir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--mailtap", required=True, help="the mailtap binary")
    parser.add_argument("--threads", type=int, default=0, help="mailtap proxy --threads N")
    parser.add_argument("--also-threads", type=int, default=0, metavar="N",
                        help="add a column: mailtap (recording) with --threads N")
    parser.add_argument("--baseline", metavar="BIN",
                        help="add a column: another mailtap build (recording), to compare builds")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated subset of: " + ", ".join(WORKLOADS))
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--no-haproxy", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the sandbox and work directory")
    args = parser.parse_args()
    args.mailtap = str(Path(args.mailtap).resolve())
    if args.baseline:
        args.baseline = str(Path(args.baseline).resolve())
    args.workloads = {w.strip() for w in args.workloads.split(",") if w.strip()}
    unknown = args.workloads - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}; "
                     f"choose from {', '.join(WORKLOADS)}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1000 sessions, children inherit
    workdir = Path(tempfile.mkdtemp(prefix="mailtap-bench-", dir="/tmp"))
    workdir.chmod(0o755)
    started = time.monotonic()
    try:
        results = run_benchmark(args, workdir)
    except (RuntimeError, clients.WorkloadFailed, sandbox_lib.CommandFailed) as e:
        log(f"failed: {e}")
        log(f"work directory kept for inspection: {workdir}")
        return 1
    results["seconds"] = time.monotonic() - started
    results["machine"] = report.machine()
    print(report.table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    if args.keep:
        log(f"work directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
