"""The relays under test, each a long-running process with one listener per route:
mailtap (recording on or off) and haproxy (`mode tcp`, TLS terminated and re-originated with
verification, recording nothing). A route is what a workload connects through, e.g. "imaps"."""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import procstat


@dataclasses.dataclass(frozen=True)
class Route:
    name: str           # "imaps", "pop3s", "smtp", "idle"
    upstream_port: int  # on 127.0.0.1
    proto: str          # smtp, imap, pop3
    tls: bool           # implicit TLS on both legs (else plain on both)


class Relay:
    """A started relay: `ports[route]` is where clients connect, `cafile` what they trust."""

    def __init__(self, name: str, label: str, process: subprocess.Popen, ports: dict[str, int],
                 cafile: Path, workdir: Path):
        self.name = name
        self.label = label
        self.process = process
        self.ports = ports
        self.cafile = cafile
        self.workdir = workdir

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr_tail(self, lines: int = 20) -> str:
        try:
            text = (self.workdir / "stderr").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _wait_ready(process: subprocess.Popen, ready_file: Path, workdir: Path,
                timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"relay exited with {process.returncode} before it was ready:\n"
                               + (workdir / "stderr").read_text(errors="replace"))
        if ready_file.exists():
            try:
                return json.loads(ready_file.read_text())
            except json.JSONDecodeError:
                pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"relay wrote no ready file within {timeout}s")


def ensure_mailtap_ca(mailtap: str, ca_dir: Path) -> Path:
    if not (ca_dir / "ca.pem").exists():
        subprocess.run([mailtap, "ca", "init", "--ca-dir", str(ca_dir)], check=True,
                       stdout=subprocess.DEVNULL, timeout=120)
    return ca_dir / "ca.pem"


def start_mailtap(mailtap: str, name: str, workdir: Path, routes: list[Route], *, record: bool,
                  ca_dir: Path, upstream_ca: Path, threads: int = 0,
                  wrapper: tuple[str, ...] = ()) -> Relay:
    """`wrapper`: a command to run mailtap under (e.g. heaptrack); its pid is then the relay's."""
    workdir.mkdir(parents=True, exist_ok=True)
    ready_file = workdir / "ready.json"
    ready_file.unlink(missing_ok=True)
    args = [*wrapper, mailtap, "proxy", "--ca-dir", str(ca_dir), "--upstream-ca", str(upstream_ca),
            "--ready-file", str(ready_file), "--max-connections", "100000",
            "--idle-timeout", "3600"]
    args += ["--transcripts", str(workdir / "transcripts")] if record else ["--no-transcripts"]
    if threads:
        args += ["--threads", str(threads)]
    for r in routes:
        mode = "implicit" if r.tls else "plain"
        args += ["--listener", f"name={r.name},listen=127.0.0.1:0,upstream=127.0.0.1:"
                 f"{r.upstream_port},proto={r.proto},client-tls={mode},upstream-tls={mode}"]
    with open(workdir / "stderr", "wb") as err:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=err)
    ready = _wait_ready(process, ready_file, workdir)
    ports = {}
    for listener in ready["listeners"]:
        ports[listener["name"]] = int(listener["listen"].rpartition(":")[2])
    label = "mailtap" if record else "mailtap --no-transcripts"
    if threads:
        label += f" --threads {threads}"
    return Relay(name, label, process, ports, ca_dir / "ca.pem", workdir)


def transcript_stats(relay: Relay) -> dict:
    """Bytes of transcripts written so far and how many events the writer had to drop
    (transcript_overflow warnings): a relay that outruns its recorder must say so."""
    directory = relay.workdir / "transcripts"
    size, overflow = 0, 0
    if directory.is_dir():
        for path in directory.glob("*.jsonl"):
            size += path.stat().st_size
            with open(path, "rb") as f:
                for line in f:
                    if b'"transcript_overflow"' in line:
                        overflow += 1
    return {"bytes": size, "overflow_warnings": overflow}


def clear_transcripts(relay: Relay) -> None:
    """Sets the transcripts measured so far aside (renamed, not deleted) so the next measurement
    counts only its own. Not deleted: ext4 avoids reusing an inode for a while after its file
    was deleted and searches past such inodes on every file it creates, which made each
    transcript's creation several times dearer than in a directory that only grows (as a
    user's does). The work directory, and so these files, goes at the end of the run."""
    directory = relay.workdir / "transcripts"
    if directory.is_dir():
        aside = relay.workdir / "measured"
        aside.mkdir(exist_ok=True)
        for path in directory.glob("*.jsonl"):
            path.rename(aside / path.name)


def haproxy_available() -> bool:
    return shutil.which("haproxy") is not None or Path("/usr/sbin/haproxy").exists()


def start_haproxy(name: str, workdir: Path, routes: list[Route], *, cert_pem: Path,
                  key_pem: Path, upstream_ca: Path) -> Relay:
    """haproxy as a user would run it in front of a mail server: `mode tcp`, the server's own
    certificate towards clients, and a verified TLS connection to the upstream."""
    workdir.mkdir(parents=True, exist_ok=True)
    bundle = workdir / "frontend.pem"
    bundle.write_text(cert_pem.read_text() + key_pem.read_text())
    bundle.chmod(0o600)
    ports = {r.name: procstat.free_port() for r in routes}
    lines = [
        "global",
        "  maxconn 8000",
        "  log stderr format raw local0 emerg",
        "defaults",
        "  mode tcp",
        "  timeout connect 10s",
        "  timeout client 1h",
        "  timeout server 1h",
    ]
    for r in routes:
        bind = f"  bind 127.0.0.1:{ports[r.name]}"
        server = f"  server upstream 127.0.0.1:{r.upstream_port}"
        if r.tls:
            bind += f" ssl crt {bundle}"
            server += f" ssl verify required ca-file {upstream_ca} verifyhost localhost"
        lines += [f"frontend fe_{r.name}", bind, f"  default_backend be_{r.name}",
                  f"backend be_{r.name}", server]
    config = workdir / "haproxy.cfg"
    config.write_text("\n".join(lines) + "\n")
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    check = subprocess.run([haproxy, "-c", "-f", str(config)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
    if check.returncode != 0:
        raise RuntimeError("haproxy rejected its configuration:\n" + check.stdout.decode())
    with open(workdir / "stderr", "wb") as err:
        # -db: stay in the foreground, one process (so /proc/<pid> holds all of its CPU time).
        process = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 30
    for port in ports.values():
        while True:
            if process.poll() is not None:
                raise RuntimeError("haproxy exited: " + (workdir / "stderr").read_text())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError(f"haproxy is not listening on {port} after 30 s")
                time.sleep(0.05)
    return Relay(name, "haproxy", process, ports, upstream_ca, workdir)
