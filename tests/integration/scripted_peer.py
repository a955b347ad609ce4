"""Scripted peers for the STARTTLS attack suite (tests/integration/test_attacks.py).

A `ScriptedServer` stands in for the upstream mail server: it listens on 127.0.0.1, accepts one
connection from `mailtap proxy`, and runs a script (a function of a `Conn`) in a thread. A
`ScriptedClient` is the same `Conn` on a socket connected to the proxy, driven from the test.

Both record exactly what they received, chunk by chunk, tagged with whether it arrived inside
TLS, so a test can assert that an injected command or a password never arrived. Nothing here
sleeps: every read waits for the bytes it needs, up to a generous deadline, and fails with what
did arrive when they do not come.

`TestPki` makes a throw-away CA and a server certificate for 127.0.0.1 with the openssl command
(Debian's `openssl` package, in tools/install-deps.sh), and builds server TLS contexts from them,
including deliberately weak ones (TLS 1.0 only, a NULL cipher).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import traceback
import warnings
from pathlib import Path
from typing import Callable

TIMEOUT = 30.0  # seconds any single expected thing may take; generous for a loaded 2-core CI box


class PeerError(AssertionError):
    pass


class Conn:
    """One side of a scripted conversation. Every byte received is kept in `chunks` as
    (over_tls, bytes), in arrival order, whether or not the script consumed it."""

    def __init__(self, sock: socket.socket, name: str):
        self.sock = sock
        self.name = name
        self.over_tls = False
        self.version: str | None = None  # the TLS version negotiated, once TLS is up
        self.chunks: list[tuple[bool, bytes]] = []
        self.eof = False
        self.eof_how = ""  # "closed", "reset", "tls error: ..." once the peer went away
        self._buf = b""  # received, not yet consumed by a read_* call

    # -- what was received ------------------------------------------------------------------

    @property
    def received(self) -> bytes:
        return b"".join(b for _, b in self.chunks)

    @property
    def received_clear(self) -> bytes:
        return b"".join(b for tls, b in self.chunks if not tls)

    @property
    def received_tls(self) -> bytes:
        return b"".join(b for tls, b in self.chunks if tls)

    def describe(self) -> str:
        return (f"{self.name} received in cleartext {self.received_clear!r}, inside TLS "
                f"{self.received_tls!r}, unread {self._buf!r}, eof={self.eof} {self.eof_how}")

    # -- reading ----------------------------------------------------------------------------

    def _recv_some(self, timeout: float) -> bool:
        """Waits up to `timeout` for more bytes; False at end of stream."""
        if self.eof:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise PeerError(f"{self.name}: nothing more arrived within {timeout:.0f}s; "
                            f"{self.describe()}") from None
        except ssl.SSLError as e:
            data, self.eof_how = b"", f"tls error: {e}"
        except (ConnectionResetError, BrokenPipeError) as e:
            data, self.eof_how = b"", f"reset: {e}"
        if not data:
            self.eof = True
            self.eof_how = self.eof_how or "closed"
            return False
        self.chunks.append((self.over_tls, data))
        self._buf += data
        return True

    def read_until(self, marker: bytes, timeout: float = TIMEOUT) -> bytes:
        """Consumes and returns everything up to and including the first `marker`."""
        while marker not in self._buf:
            if not self._recv_some(timeout):
                raise PeerError(f"{self.name}: the peer closed before {marker!r} arrived; "
                                f"{self.describe()}")
        end = self._buf.index(marker) + len(marker)
        out, self._buf = self._buf[:end], self._buf[end:]
        return out

    def read_line(self, timeout: float = TIMEOUT) -> bytes:
        return self.read_until(b"\n", timeout)

    def expect_line(self, prefix: bytes, timeout: float = TIMEOUT) -> bytes:
        """Reads one line and checks it starts with `prefix`."""
        line = self.read_line(timeout)
        if not line.startswith(prefix):
            raise PeerError(f"{self.name}: expected a line starting {prefix!r}, got {line!r}; "
                            f"{self.describe()}")
        return line

    def read_smtp_reply(self, timeout: float = TIMEOUT) -> bytes:
        """A whole SMTP reply (continuation lines "250-" up to the final "250 ")."""
        reply = b""
        while True:
            line = self.read_line(timeout)
            reply += line
            if len(line) < 4 or line[3:4] != b"-":
                return reply

    def read_until_eof(self, timeout: float = TIMEOUT) -> bytes:
        """Consumes everything until the peer closes (or resets, or TLS fails)."""
        while self._recv_some(timeout):
            pass
        out, self._buf = self._buf, b""
        return out

    @property
    def unread(self) -> bytes:
        return self._buf

    # -- writing and TLS --------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """One sendall: a small buffer leaves as one segment on loopback, which is how the
        injection cases put a command and what follows it into a single read by mailtap."""
        self.sock.settimeout(TIMEOUT)
        self.sock.sendall(data)

    def start_tls_server(self, context: ssl.SSLContext, timeout: float = TIMEOUT) -> None:
        """Server side of a handshake on this connection (after a STARTTLS reply, or at once for
        implicit TLS). Cleartext already read and not consumed would be smuggled into TLS."""
        if self._buf:
            raise PeerError(f"{self.name}: cleartext {self._buf!r} pending when TLS starts")
        self.sock.settimeout(timeout)
        self.sock = context.wrap_socket(self.sock, server_side=True)
        self.over_tls = True
        self.version = self.sock.version()

    def start_tls_client(self, context: ssl.SSLContext, server_hostname: str = "127.0.0.1",
                         timeout: float = TIMEOUT) -> None:
        if self._buf:
            raise PeerError(f"{self.name}: cleartext {self._buf!r} pending when TLS starts")
        self.sock.settimeout(timeout)
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        self.over_tls = True
        self.version = self.sock.version()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class ScriptedServer:
    """A one-connection upstream. `script(conn)` runs in a thread once mailtap connects (after
    the TLS handshake when `implicit_tls` is given). When the script returns, the server keeps
    reading until mailtap closes the connection, so `conn.received` is everything mailtap sent.
    `join()` re-raises a script failure with what the server had received."""

    def __init__(self, script: Callable[[Conn], None], *,
                 implicit_tls: ssl.SSLContext | None = None, drain: bool = True):
        self._script = script
        self._implicit_tls = implicit_tls
        self._drain = drain
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.conn: Conn | None = None
        self.connected = threading.Event()
        self.error: str | None = None
        self.tls_error: str | None = None  # a failed handshake, recorded rather than raised
        self._thread = threading.Thread(target=self._run, name=f"scripted-server-{self.port}",
                                        daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            self._listener.settimeout(TIMEOUT * 2)
            sock, _ = self._listener.accept()
            self.conn = Conn(sock, "scripted server")
            self.connected.set()
            if self._implicit_tls is not None:
                try:
                    self.conn.start_tls_server(self._implicit_tls)
                except (ssl.SSLError, OSError) as e:
                    self.tls_error = f"{type(e).__name__}: {e}"
                    return
            self._script(self.conn)
            if self._drain:
                self.conn.read_until_eof(TIMEOUT * 2)
        except ssl.SSLError as e:
            self.tls_error = f"{type(e).__name__}: {e}"
        except Exception:  # noqa: BLE001 - reported by join() in the test thread
            self.error = traceback.format_exc()
        finally:
            self.connected.set()
            if self.conn is not None:
                self.conn.close()
            self._listener.close()

    def join(self, timeout: float = TIMEOUT * 3, *, tls_may_fail: bool = False) -> Conn:
        """Waits for the script and the drain. A failed TLS handshake is an error unless the
        test expects one (`tls_may_fail`, then see `tls_error`)."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise PeerError(f"the scripted server is still running after {timeout}s; "
                            f"{self.conn.describe() if self.conn else 'no connection'}")
        if self.error:
            raise PeerError(f"the scripted server's script failed:\n{self.error}\n"
                            f"{self.conn.describe() if self.conn else ''}")
        if self.conn is None:
            raise PeerError("mailtap never connected to the scripted server")
        if self.tls_error and not tls_may_fail:
            raise PeerError(f"the scripted server's TLS handshake failed: {self.tls_error}; "
                            f"{self.conn.describe()}")
        return self.conn


def connect_client(port: int, *, tls: ssl.SSLContext | None = None) -> Conn:
    """A scripted client connected to the proxy; with `tls`, implicit TLS from the start."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    conn = Conn(sock, "scripted client")
    if tls is not None:
        conn.start_tls_client(tls)
    return conn


class TestPki:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost, made with openssl."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.ca_pem = self.dir / "ca.pem"
        self.cert = self.dir / "server.pem"
        self.key = self.dir / "server.key"
        if not self.cert.exists():
            self._make()

    def _openssl(self, *args: str) -> None:
        r = subprocess.run(["openssl", *args], cwd=self.dir, capture_output=True, timeout=120)
        if r.returncode != 0:
            raise PeerError(f"openssl {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")

    def _make(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3",
                      "-subj", "/CN=mailtap attack-suite test CA", "-keyout", "ca.key",
                      "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                      "-keyout", "server.key", "-out", "server.csr")
        (self.dir / "server.ext").write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        self._openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                      "-CAcreateserial", "-days", "3", "-extfile", "server.ext",
                      "-out", "server.pem")

    def server_context(self, *, only_tls10: bool = False,
                       ciphers: str | None = None) -> ssl.SSLContext:
        """A server context. only_tls10: TLS 1.0 and nothing else (legacy ciphers allowed,
        security level 0). ciphers: a TLS 1.2 cipher list and TLS 1.2 at most (TLS 1.3 suites
        cannot be narrowed to a weak one)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 is the point here
            if only_tls10:
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            if ciphers is not None:
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
                ctx.set_ciphers(ciphers)
        return ctx
