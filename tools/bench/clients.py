"""The clients of the benchmark's workloads: curl for bulk IMAPS FETCH and POP3S RETR, a small
IMAP client for round trips and idle sessions, Postfix's smtp-source for SMTP. Every call is
bounded in time and checks that the transfer was complete, so a broken relay is never "fast"."""

from __future__ import annotations

import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path


class WorkloadFailed(RuntimeError):
    pass


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        raise WorkloadFailed(f"timed out after {timeout}s: {' '.join(cmd)}") from None
    if result.returncode != 0:
        raise WorkloadFailed(f"exit {result.returncode}: {' '.join(cmd)}\n"
                             f"{result.stderr.decode(errors='replace')[-2000:]}")
    return result


def curl_download(url: str, cafile: Path, user: str, password: str,
                  expected: bytes | None = None, timeout: float = 600) -> float:
    """Downloads `url` (imaps://.../INBOX;MAILINDEX=1 or pop3s://.../1); returns curl's total
    time in seconds (connect, handshake, login and transfer; no process start). Measured runs
    write to /dev/null, where curl's exit status still says whether the message ended properly
    (IMAP literal complete, POP3 terminator seen). With `expected`, the download goes to a file
    and must equal it byte for byte (curl's size_download miscounts POP3)."""
    with tempfile.NamedTemporaryFile(prefix="mailtap-bench-", dir="/tmp") as out:
        target = out.name if expected is not None else "/dev/null"
        result = _run(["curl", "-sS", "--cacert", str(cafile), "-u", f"{user}:{password}", url,
                       "-o", target, "-w", "%{time_total}"], timeout)
        if expected is not None:
            got = Path(out.name).read_bytes()
            if got != expected:
                raise WorkloadFailed(f"{url}: got {len(got)} bytes that differ from the "
                                     f"{len(expected)} bytes of the message")
    return float(result.stdout.decode())


class LineConnection:
    """A TLS (or plain) connection read line by line, for a hand-driven IMAP session."""

    def __init__(self, port: int, cafile: Path | None, timeout: float = 30):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if cafile is not None:
            ctx = ssl.create_default_context(cafile=str(cafile))
            self.sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        else:
            self.sock = raw
        self.buffer = bytearray()

    def read_line(self) -> bytes:
        while True:
            nl = self.buffer.find(b"\n")
            if nl >= 0:
                line = bytes(self.buffer[:nl + 1])
                del self.buffer[:nl + 1]
                return line
            chunk = self.sock.recv(65536)
            if not chunk:
                raise WorkloadFailed("connection closed by the server")
            self.buffer += chunk

    def command(self, tag: str, text: str) -> bytes:
        """Sends `tag text` and reads up to the tagged reply; returns that line."""
        self.sock.sendall(f"{tag} {text}\r\n".encode())
        prefix = tag.encode() + b" "
        while True:
            line = self.read_line()
            if line.startswith(prefix):
                if not line[len(prefix):].startswith(b"OK"):
                    raise WorkloadFailed(f"{text.split()[0]} failed: {line!r}")
                return line

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def imap_round_trips(port: int, cafile: Path, user: str, password: str, count: int,
                     warmup: int = 20) -> list[float]:
    """One logged-in IMAPS session; the time of each of `count` NOOP round trips, in µs."""
    c = LineConnection(port, cafile)
    try:
        c.read_line()  # greeting
        c.command("l", f"LOGIN {user} {password}")
        for i in range(warmup):
            c.command(f"w{i}", "NOOP")
        samples = []
        for i in range(count):
            t0 = time.perf_counter_ns()
            c.command(f"n{i}", "NOOP")
            samples.append((time.perf_counter_ns() - t0) / 1000.0)
        c.command("z", "LOGOUT")
        return samples
    finally:
        c.close()


def open_idle_sessions(port: int, cafile: Path, count: int) -> list[LineConnection]:
    """`count` IMAPS sessions, each greeted and past one NOOP, left open and idle."""
    sessions = []
    try:
        for i in range(count):
            c = LineConnection(port, cafile)
            sessions.append(c)
            c.read_line()
            c.command("a1", "NOOP")
    except BaseException:
        close_all(sessions)
        raise
    return sessions


def close_all(sessions: list[LineConnection]) -> None:
    for c in sessions:
        c.close()


def smtp_source(port: int, messages: int, sessions: int, persistent: bool, size: int,
                timeout: float = 600) -> float:
    """Postfix's smtp-source: `messages` messages of about `size` bytes over `sessions` parallel
    SMTP sessions, a new connection per message unless `persistent` (-d). Returns seconds."""
    cmd = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
           "-f", "bench@sandbox.test", "-t", "sink@sandbox.test"]
    if persistent:
        cmd.append("-d")
    cmd.append(f"127.0.0.1:{port}")
    t0 = time.perf_counter()
    result = _run(cmd, timeout)
    elapsed = time.perf_counter() - t0
    # smtp-source exits 0 even when sessions fail; it reports failures on stderr.
    if result.stderr.strip():
        raise WorkloadFailed("smtp-source: " + result.stderr.decode(errors="replace")[-2000:])
    return elapsed
