"""Memory per idle TLS session, measured precisely and explained (issue 6: <= 32 KiB).

Starts the bench's idle upstream (idle_upstream.py: implicit-TLS IMAP that holds thousands of
connections) and one relay, opens --count idle IMAPS sessions through it (greeting and one NOOP
each, like tools/bench.sh), and prints the relay's resident memory growth per session. Several
rounds on the same process show what a fresh process and a warmed one cost.

With --heaptrack, the relay runs under heaptrack and is made to exit() while the sessions are
idle: what heaptrack reports as "leaked" is then exactly the heap that the idle sessions (plus
the process's fixed state) hold, by allocation site. The fixed state is measured the same way
with no session, so the per-session figure is the difference. The difference is also printed per
allocation site (bytes per session), each site named by the nearest mailtap function on its
stack and what that function called (e.g. `TlsEndpoint::Impl::attach > SSL_new`): what each part
of mailtap, and what OpenSSL on its behalf, keeps per idle session.

Usage (as root, with a sandbox running, e.g. `tools/sandbox.sh start /tmp/sbx`):
  tools/bench/idle_memory.py --sandbox /tmp/sbx --mailtap build/mailtap [--count 1000]
      [--rounds 2] [--relay mailtap|mailtap-norec|haproxy] [--threads N] [--heaptrack]
"""

from __future__ import annotations

import argparse
import collections
import resource
import shutil
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


def start_idle_upstream(sb, work: Path) -> tuple[subprocess.Popen, int]:
    cert = Path(sb.info["server_cert"])
    port_file = work / "idle-upstream.port"
    proc = subprocess.Popen([sys.executable, str(HERE / "idle_upstream.py"), str(cert),
                             str(cert.with_name("server.key")), str(port_file)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(work / "idle-upstream.stderr", "wb"))
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("idle upstream did not start: " +
                               (work / "idle-upstream.stderr").read_text())
        time.sleep(0.05)
    return proc, int(port_file.read_text())


def start_relay(args, sb, work: Path, upstream_port: int, wrapper: list[str]) -> relays.Relay:
    route = relays.Route("idle", upstream_port, "imap", True)
    if args.relay == "haproxy":
        cert = Path(sb.info["server_cert"])
        return relays.start_haproxy("haproxy", work / "haproxy", [route], cert_pem=cert,
                                    key_pem=cert.with_name("server.key"),
                                    upstream_ca=Path(sb.ca))
    ca_dir = work / "ca"
    relays.ensure_mailtap_ca(args.mailtap, ca_dir)
    record = args.relay == "mailtap"
    return relays.start_mailtap(args.mailtap, args.relay, work / args.relay, [route], record=record,
                                ca_dir=ca_dir, upstream_ca=Path(sb.ca), threads=args.threads,
                                wrapper=tuple(wrapper))


def rss_rounds(args, relay: relays.Relay) -> None:
    pid = relay.pid
    warm = clients.open_idle_sessions(relay.ports["idle"], relay.cafile, 3)
    clients.close_all(warm)
    time.sleep(0.5)
    procstat.wait_cpu_settled(pid)
    print(f"{relay.label}: RSS {procstat.rss_kib(pid)} KiB after 3 warm-up sessions")
    for rnd in range(1, args.rounds + 1):
        before = procstat.rss_kib(pid)
        cpu_before = procstat.cpu_seconds(pid)
        sessions = clients.open_idle_sessions(relay.ports["idle"], relay.cafile, args.count)
        cpu_after = procstat.wait_cpu_settled(pid)
        after = procstat.rss_kib(pid)
        print(f"  round {rnd}: {args.count} idle sessions, RSS {before} -> {after} KiB: "
              f"{(after - before) / args.count:.2f} KiB per session; relay CPU "
              f"{(cpu_after - cpu_before) * 1e6 / args.count:.0f} µs per session set-up "
              "(two TLS handshakes, greeting, one NOOP)")
        if args.malloc_stats and relay.name.startswith("mailtap"):
            print(malloc_stats(pid))
        clients.close_all(sessions)
        time.sleep(1)
        procstat.wait_cpu_settled(pid)


def malloc_stats(pid: int) -> str:
    """glibc's per-arena figures (system bytes vs in use), printed by the process itself on its
    stderr when gdb calls malloc_stats(); the difference is memory held but free (fragmentation
    and freed chunks not returned to the kernel)."""
    stderr_file = Path(f"/proc/{pid}/fd/2").resolve()
    offset = stderr_file.stat().st_size
    subprocess.run(["gdb", "-batch", "-p", str(pid), "-ex", "call (void) malloc_stats()"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    with open(stderr_file, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace").rstrip()


def heaptrack_run(args, sb, work: Path, upstream_port: int, count: int) -> Path:
    """Runs the relay under heaptrack, opens `count` idle sessions, kills it; returns the file."""
    out = work / f"heaptrack-{count}"
    relay = start_relay(args, sb, work, upstream_port, ["heaptrack", "-o", str(out)])
    try:
        warm = clients.open_idle_sessions(relay.ports["idle"], relay.cafile, 3)
        clients.close_all(warm)
        time.sleep(1)
        procstat.wait_cpu_settled(relay.pid)
        sessions = clients.open_idle_sessions(relay.ports["idle"], relay.cafile, count)
        procstat.wait_cpu_settled(relay.pid)
        time.sleep(1)
        # exit() from inside the process (gdb calls it): heaptrack's library flushes its trace at
        # exit, and the idle sessions, owned by objects on main's stack, are never freed, so
        # heaptrack reports them as leaked. SIGKILL would lose the trace's buffered tail.
        children = subprocess.run(["pgrep", "-P", str(relay.pid)], stdout=subprocess.PIPE,
                                  text=True).stdout.split()
        for child in children:
            subprocess.run(["gdb", "-batch", "-p", child, "-ex", "call (void) exit(0)"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        relay.process.wait(timeout=120)
        clients.close_all(sessions)
    finally:
        if relay.alive():
            relay.process.kill()
    found = sorted(work.glob(f"heaptrack-{count}*"))
    if not found:
        raise RuntimeError("heaptrack wrote no file")
    return found[-1]


def leaked_bytes(trace: Path, top: int) -> tuple[int, str]:
    result = subprocess.run(["heaptrack_print", "-f", str(trace), "-l", "1", "-p", "0", "-a", "0",
                             "-T", "0", "-n", str(top), "-s", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    total = 0
    for line in result.stdout.splitlines():
        if line.startswith("total memory leaked:"):
            total = parse_size(line.split(":", 1)[1].split()[0])
    return total, result.stdout


def leaked_by_site(trace: Path) -> collections.Counter:
    """Leaked bytes per allocation site: the nearest mailtap function on the stack and the frame
    it called (heaptrack's flame-graph output of leaked bytes, one stack per line)."""
    sites: collections.Counter = collections.Counter()
    stacks = trace.with_suffix(".stacks")
    subprocess.run(["heaptrack_print", "-f", str(trace), "--flamegraph-cost-type", "leaked",
                    "-F", str(stacks), "-p", "0", "-a", "0", "-T", "0", "-l", "0"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(stacks, errors="replace") as lines:
        for line in lines:
            stack, _, cost = line.rstrip("\n").rpartition(" ")
            if not cost.isdigit():
                continue
            frames = [f.split(" (")[0] for f in stack.split(";") if f]
            ours = [n for n, f in enumerate(frames) if f.startswith("mailtap::")]
            # Frames without symbols (OpenSSL's internals) are addresses that differ from run to
            # run: a site is named by the first named frame below instead.
            named = [f for f in frames[ours[-1] + 1 if ours else 0:] if not f.startswith("0x")]
            if ours and not named:
                site = f"{frames[ours[-1]][:90]} (new, or a container of its own)"
            elif ours:
                skipped = frames[ours[-1] + 1] != named[0]
                site = f"{frames[ours[-1]][:90]} > {'... > ' if skipped else ''}{named[0][:60]}"
            else:
                site = " > ".join(f[:60] for f in named[-2:]) or "(no symbols)"
            sites[site] += int(cost)
    return sites


def print_sites(base: collections.Counter, total: collections.Counter, count: int,
                top: int) -> None:
    per_session = {site: (total[site] - base[site]) / count for site in set(base) | set(total)}
    rows = sorted(per_session.items(), key=lambda kv: -kv[1])
    shown = [(site, b) for site, b in rows if b >= 8][:top]
    print(f"heap per idle session by allocation site (top {len(shown)}, bytes; "
          "nearest mailtap function > what it called):")
    for site, b in shown:
        print(f"  {b:8.1f}  {site}")
    rest = sum(b for _, b in rows) - sum(b for _, b in shown)
    print(f"  {rest:8.1f}  everything else")


def parse_size(text: str) -> int:
    units = {"B": 1, "K": 1000, "KB": 1000, "M": 1000**2, "MB": 1000**2, "G": 1000**3}
    number = text.rstrip("BKMGkmg")
    suffix = text[len(number):].upper() or "B"
    return int(float(number) * units.get(suffix, 1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sandbox", required=True, type=Path)
    ap.add_argument("--mailtap", required=True)
    ap.add_argument("--relay", choices=["mailtap", "mailtap-norec", "haproxy"],
                    default="mailtap")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--heaptrack", action="store_true")
    ap.add_argument("--malloc-stats", action="store_true",
                    help="also print glibc's malloc_stats() while the sessions are idle")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.mailtap = str(Path(args.mailtap).resolve())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sb = sandbox_lib.Sandbox.load(args.sandbox)
    work = Path(tempfile.mkdtemp(prefix="mailtap-idle-", dir="/tmp"))
    work.chmod(0o755)
    upstream, upstream_port = start_idle_upstream(sb, work)
    try:
        if not args.heaptrack:
            relay = start_relay(args, sb, work, upstream_port, [])
            try:
                rss_rounds(args, relay)
            finally:
                relay.stop()
        else:
            base_trace = heaptrack_run(args, sb, work, upstream_port, 0)
            trace = heaptrack_run(args, sb, work, upstream_port, args.count)
            base, _ = leaked_bytes(base_trace, 0)
            total, report = leaked_bytes(trace, args.top)
            print(f"{args.relay}: heap held with no session {base / 1024:.1f} KiB, with "
                  f"{args.count} idle sessions {total / 1024:.1f} KiB: "
                  f"{(total - base) / args.count / 1024:.2f} KiB of heap per session")
            print_sites(leaked_by_site(base_trace), leaked_by_site(trace), args.count, args.top)
            print(report)
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
