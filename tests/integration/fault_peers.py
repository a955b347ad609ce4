"""Scripted peers and probes for the fault tests (tests/integration/test_faults.py).

- `Upstream`: a scripted upstream mail server on 127.0.0.1. Every connection mailtap makes runs
  `handler(sock)` in its own thread (plain TCP, or implicit TLS when a context is given), so a
  test can misbehave on cue: reset in the middle of DATA or of a literal, stop reading, send a
  TLS alert. `connections` counts what was accepted; `events` lets a test wait for a script step.
- `Greeter`: many connections on one selector thread (slowloris, SIGTERM with sessions in
  flight): greets, answers each complete line with a fixed reply, never blocks on one peer.
- Probes of the mailtap process: RSS, open descriptors; `wait_until(condition)` with a deadline.

Nothing here sleeps and hopes: a step waits for the bytes or the state it needs, up to a generous
deadline, and fails saying what it saw.
"""

from __future__ import annotations

import os
import selectors
import socket
import ssl
import struct
import threading
import time
import traceback
from typing import Callable

DEADLINE = 60.0  # generous: CI is a loaded 2-core machine


def wait_until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE,
               interval: float = 0.05):
    """Polls `condition` until it is true; fails with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def reset(sock: socket.socket) -> None:
    """Closes with a TCP RST instead of a FIN (SO_LINGER with a zero timeout)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def read_until(sock: socket.socket, marker: bytes, timeout: float = DEADLINE,
               buf: bytearray | None = None) -> bytes:
    """Reads until `marker` has arrived; returns everything read (and keeps it in `buf`)."""
    data = buf if buf is not None else bytearray()
    deadline = time.monotonic() + timeout
    while marker not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {marker!r} within {timeout}s; got {bytes(data[-300:])!r}")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"peer closed before {marker!r}; got {bytes(data[-300:])!r}")
        data += chunk
    return bytes(data)


def read_to_eof(sock: socket.socket, timeout: float = DEADLINE) -> tuple[bytes, str]:
    """Reads until the peer closes. Returns (bytes, "eof" | "reset")."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the peer did not close within {timeout}s; got "
                                 f"{bytes(data[-300:])!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return bytes(data), "reset"
        except ssl.SSLError as e:
            return bytes(data), f"tls: {e}"
        if not chunk:
            return bytes(data), "eof"
        data += chunk


class Upstream:
    """A scripted upstream: `handler(sock)` runs for every connection, in a thread."""

    def __init__(self, handler: Callable[[socket.socket], None], *,
                 tls: ssl.SSLContext | None = None):
        self._handler = handler
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self.errors: list[str] = []
        self.events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name=f"upstream-{self.port}").start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def event(self, name: str) -> threading.Event:
        with self._lock:
            return self.events.setdefault(name, threading.Event())

    def wait(self, name: str, timeout: float = DEADLINE) -> None:
        if not self.event(name).wait(timeout):
            raise AssertionError(f"the scripted upstream never reached {name!r} within "
                                 f"{timeout}s; errors: {self.errors}")

    def _accept(self) -> None:
        while not self._closed:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_side=True)
            self._handler(sock)
        except Exception:  # noqa: BLE001 - kept for the test to show
            self.errors.append(traceback.format_exc())
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        self._closed = True
        self._listener.close()


class Greeter:
    """Many upstream connections on one selector thread. Sends `greeting` on accept and `reply`
    for each complete line received; counts connections open and accepted."""

    def __init__(self, greeting: bytes, reply: bytes, quit_reply: bytes = b"221 bye\r\n"):
        self.greeting = greeting
        self.reply = reply
        self.quit_reply = quit_reply
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self.open = 0
        self.accepted = 0
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listener, selectors.EVENT_READ, None)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="greeter")
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        while not self._stop:
            for key, _ in self._sel.select(timeout=0.2):
                if key.data is None:
                    try:
                        sock, _ = self._listener.accept()
                    except OSError:
                        continue
                    sock.setblocking(True)
                    sock.settimeout(5)
                    try:
                        sock.sendall(self.greeting)
                    except OSError:
                        sock.close()
                        continue
                    sock.setblocking(False)
                    self.open += 1
                    self.accepted += 1
                    self._sel.register(sock, selectors.EVENT_READ, bytearray())
                    continue
                sock, buf = key.fileobj, key.data
                try:
                    chunk = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    self._sel.unregister(sock)
                    sock.close()
                    self.open -= 1
                    continue
                buf += chunk
                while b"\n" in buf:
                    line, _, rest = bytes(buf).partition(b"\n")
                    buf[:] = rest
                    answer = self.quit_reply if line.strip().upper() == b"QUIT" else self.reply
                    try:
                        sock.send(answer)
                    except OSError:
                        pass

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()


# --- the mailtap process ------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
