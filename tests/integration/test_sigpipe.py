"""A client that resets its connection while mailtap is writing to it costs that one session, not
the proxy. Found by tools/soak.sh: with 1,000 concurrent sessions, a client reset during a write
raised SIGPIPE, whose default action killed `mailtap proxy` with every session in flight."""

from __future__ import annotations

import socket
import struct
import threading


def _sigignore_mask(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("SigIgn:"):
                return int(line.split()[1], 16)
    raise AssertionError(f"no SigIgn line for pid {pid}")


def test_proxy_ignores_sigpipe(proxy):
    # No upstream is contacted before a client connects, so any address will do.
    p = proxy(upstream="127.0.0.1:9", proto="smtp", client_tls="plain", upstream_tls="plain")
    sigpipe = 13
    assert _sigignore_mask(p.process.pid) & (1 << (sigpipe - 1)), \
        "mailtap proxy does not ignore SIGPIPE: a client reset during a write would kill it"


class _FloodingUpstream(threading.Thread):
    """Greets, then answers the first command with an endless multi-line reply, until the proxy
    closes the connection; for every connection it accepts."""

    def __init__(self):
        super().__init__(daemon=True)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.server.settimeout(0.5)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            threading.Thread(target=self.flood, args=(conn,), daemon=True).start()

    @staticmethod
    def flood(conn: socket.socket):
        line = b"214-" + b"x" * 70 + b"\r\n"
        chunk = line * 1000
        try:
            conn.settimeout(60)
            conn.sendall(b"220 flood.test ESMTP\r\n")
            conn.recv(1024)
            for _ in range(2000):  # at most ~144 MB, far more than any socket buffers hold
                conn.sendall(chunk)
        except OSError:
            pass  # the proxy closed the session: what we wait for
        finally:
            conn.close()


def _reset_during_reply(port: int) -> None:
    c = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        greeting = c.recv(1024)
        assert greeting.startswith(b"220"), greeting
        c.sendall(b"HELP\r\n")
        got = 0
        while got < 200_000:  # the proxy is now busy writing the flood to us
            data = c.recv(65536)
            assert data, "the proxy closed the session before the flood arrived"
            got += len(data)
    finally:
        # SO_LINGER with a zero timeout: close() sends a RST, and unread data is discarded.
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()


def test_client_resets_during_a_large_reply_leave_the_proxy_serving(proxy):
    upstream = _FloodingUpstream()
    upstream.start()
    try:
        p = proxy(upstream=f"127.0.0.1:{upstream.port}", proto="smtp", client_tls="plain",
                  upstream_tls="plain", extra_args=["--no-transcripts"])
        for _ in range(20):
            try:
                _reset_during_reply(p.port)
            except OSError as e:
                raise AssertionError(f"a session failed ({e}); mailtap proxy exit status: "
                                     f"{p.process.poll()} (None: still running, -13: SIGPIPE)")
            assert p.running(), f"mailtap proxy died (exit {p.process.poll()}) after a client " \
                                f"reset\nstderr: {p.stderr()}"
        # Still serving: a new session gets its greeting.
        with socket.create_connection(("127.0.0.1", p.port), timeout=60) as c:
            assert c.recv(1024).startswith(b"220")
        assert p.running()
    finally:
        upstream.stop.set()
