"""The soak's mail clients: asyncio SMTP submission (STARTTLS, AUTH PLAIN, DATA), IMAP over
implicit TLS (LOGIN, SELECT, FETCH, LOGOUT) and POP3 with STLS (USER/PASS, STAT, RETR, QUIT).

Each session checks every reply, counts the plaintext bytes it wrote and read (so the transcript's
byte counts can be compared with what the client really saw), reads to the end of the stream after
QUIT/LOGOUT, and returns a SessionResult; a failure is recorded with the step it happened in,
never raised past run_session()."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import random
import ssl
import time


class ClientFailure(Exception):
    pass


@dataclasses.dataclass
class SessionResult:
    kind: str                  # smtp, imap or pop3
    listener: str              # the proxy listener's name
    client_port: int = 0       # local port, to find the session's transcript
    started: float = 0.0       # time.time() at connect
    ok: bool = False
    step: str = "connect"      # the step in progress (the failing step when not ok)
    error: str = ""
    sent: int = 0              # plaintext bytes written by the client
    received: int = 0          # plaintext bytes read by the client
    seconds: float = 0.0


@dataclasses.dataclass
class Target:
    """What a session needs to know: the proxy's listeners, mailtap's CA, who logs in, and the
    token every seeded message carries (so a FETCH/RETR proves it got a real message)."""
    host: str
    ports: dict[str, int]      # kind -> proxy listener port
    listeners: dict[str, str]  # kind -> listener name
    proxy_ca: str
    user: str
    password: str
    sender: str
    recipient: str
    seed_token: str
    message_size: int = 4096
    think: float = 0.2         # mean pause between steps, seconds (keeps sessions open)
    step_timeout: float = 120.0


class Conn:
    def __init__(self, result: SessionResult, timeout: float):
        self.r = result
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=tls,
                                    server_hostname=host if tls else None,
                                    ssl_handshake_timeout=self.timeout if tls else None),
            self.timeout)
        self.r.client_port = self.writer.get_extra_info("sockname")[1]

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        self.r.sent += len(data)
        await asyncio.wait_for(self.writer.drain(), self.timeout)

    async def line(self) -> bytes:
        data = await asyncio.wait_for(self.reader.readline(), self.timeout)
        self.r.received += len(data)
        if not data.endswith(b"\n"):
            raise ClientFailure(f"connection closed in step {self.r.step} (got {data[:80]!r})")
        return data

    async def exactly(self, n: int) -> bytes:
        data = await asyncio.wait_for(self.reader.readexactly(n), self.timeout)
        self.r.received += len(data)
        return data

    async def starttls(self, tls: ssl.SSLContext, host: str) -> None:
        await asyncio.wait_for(
            self.writer.start_tls(tls, server_hostname=host, ssl_handshake_timeout=self.timeout),
            self.timeout)

    async def read_to_end(self) -> None:
        """After QUIT/LOGOUT: everything the server still says, up to its close."""
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), self.timeout)
            if not data:
                return
            self.r.received += len(data)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _think(target: Target) -> None:
    if target.think > 0:
        await asyncio.sleep(random.uniform(0, 2 * target.think))


def _expect(line: bytes, prefix: bytes, step: str) -> None:
    if not line.startswith(prefix):
        raise ClientFailure(f"{step}: expected {prefix!r}, got {line[:120]!r}")


# --- SMTP submission ---------------------------------------------------------------------------

async def _smtp_reply(c: Conn, code: bytes) -> list[bytes]:
    lines = []
    while True:
        line = await c.line()
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            break
    _expect(lines[-1], code, c.r.step)
    return lines


def _message(target: Target, n: int) -> bytes:
    head = (f"From: <{target.sender}>\r\nTo: <{target.recipient}>\r\n"
            f"Subject: soak {n}\r\nMessage-ID: <soak-{n}-{random.getrandbits(48):x}@sandbox.test>\r\n"
            "\r\n").encode()
    line = b"The quick brown fox jumps over the lazy dog 0123456789.\r\n"
    body = line * max(1, (target.message_size - len(head)) // len(line))
    return head + body


async def smtp_session(c: Conn, target: Target, tls: ssl.SSLContext, n: int) -> None:
    await c.open(target.host, target.ports["smtp"], None)
    c.r.step = "greeting"
    await _smtp_reply(c, b"220")
    c.r.step = "EHLO"
    await c.send(b"EHLO soak.sandbox.test\r\n")
    ehlo = await _smtp_reply(c, b"250")
    if not any(b"STARTTLS" in line for line in ehlo):
        raise ClientFailure("EHLO: no STARTTLS offered")
    c.r.step = "STARTTLS"
    await c.send(b"STARTTLS\r\n")
    await _smtp_reply(c, b"220")
    await c.starttls(tls, target.host)
    c.r.step = "EHLO after TLS"
    await c.send(b"EHLO soak.sandbox.test\r\n")
    await _smtp_reply(c, b"250")
    await _think(target)
    c.r.step = "AUTH PLAIN"
    token = base64.b64encode(f"\0{target.user}\0{target.password}".encode())
    await c.send(b"AUTH PLAIN " + token + b"\r\n")
    await _smtp_reply(c, b"235")
    await _think(target)
    c.r.step = "MAIL"
    await c.send(f"MAIL FROM:<{target.sender}>\r\n".encode())
    await _smtp_reply(c, b"250")
    c.r.step = "RCPT"
    await c.send(f"RCPT TO:<{target.recipient}>\r\n".encode())
    await _smtp_reply(c, b"250")
    c.r.step = "DATA"
    await c.send(b"DATA\r\n")
    await _smtp_reply(c, b"354")
    await c.send(_message(target, n) + b".\r\n")
    await _smtp_reply(c, b"250")
    await _think(target)
    c.r.step = "QUIT"
    await c.send(b"QUIT\r\n")
    await _smtp_reply(c, b"221")
    c.r.step = "close"
    await c.read_to_end()


# --- IMAP over implicit TLS --------------------------------------------------------------------

async def _imap_command(c: Conn, tag: str, text: str) -> list[bytes]:
    """Sends a command and reads to its tagged completion; literals are read by their length.
    Returns the untagged lines with their literals inlined."""
    c.r.step = text.split()[0]
    await c.send(f"{tag} {text}\r\n".encode())
    out = []
    prefix = tag.encode() + b" "
    while True:
        line = await c.line()
        while line.endswith(b"}\r\n") and b"{" in line:
            n = int(line[line.rindex(b"{") + 1:-3].rstrip(b"+"))
            line += await c.exactly(n)
            line += await c.line()
        if line.startswith(prefix):
            _expect(line[len(prefix):], b"OK", c.r.step)
            return out
        out.append(line)


async def imap_session(c: Conn, target: Target, tls: ssl.SSLContext, n: int) -> None:
    await c.open(target.host, target.ports["imap"], tls)
    c.r.step = "greeting"
    _expect(await c.line(), b"* OK", "greeting")
    await _imap_command(c, "a1", f"LOGIN {target.user} {target.password}")
    await _think(target)
    selected = await _imap_command(c, "a2", "SELECT INBOX")
    if not any(line.endswith(b" EXISTS\r\n") for line in selected):
        raise ClientFailure("SELECT: no EXISTS")
    await _think(target)
    fetched = await _imap_command(c, "a3", "FETCH 1 (BODY.PEEK[])")
    if not any(target.seed_token.encode() in line for line in fetched):
        raise ClientFailure("FETCH: the seeded message did not come back")
    await _think(target)
    untagged = await _imap_command(c, "a4", "LOGOUT")
    if not any(line.startswith(b"* BYE") for line in untagged):
        raise ClientFailure("LOGOUT: no BYE")
    c.r.step = "close"
    await c.read_to_end()


# --- POP3 with STLS ----------------------------------------------------------------------------

async def _pop3(c: Conn, step: str, command: bytes | None) -> bytes:
    c.r.step = step
    if command is not None:
        await c.send(command)
    line = await c.line()
    _expect(line, b"+OK", step)
    return line


async def pop3_session(c: Conn, target: Target, tls: ssl.SSLContext, n: int) -> None:
    await c.open(target.host, target.ports["pop3"], None)
    await _pop3(c, "greeting", None)
    await _pop3(c, "STLS", b"STLS\r\n")
    await c.starttls(tls, target.host)
    await _pop3(c, "USER", f"USER {target.user}\r\n".encode())
    await _pop3(c, "PASS", f"PASS {target.password}\r\n".encode())
    await _think(target)
    stat = await _pop3(c, "STAT", b"STAT\r\n")
    if int(stat.split()[1]) < 1:
        raise ClientFailure(f"STAT: empty mailbox: {stat!r}")
    await _think(target)
    await _pop3(c, "RETR", b"RETR 1\r\n")
    body = bytearray()
    while True:
        line = await c.line()
        if line == b".\r\n":
            break
        body += line
    if target.seed_token.encode() not in body:
        raise ClientFailure("RETR: the seeded message did not come back")
    await _think(target)
    await _pop3(c, "QUIT", b"QUIT\r\n")
    c.r.step = "close"
    await c.read_to_end()


SESSIONS = {"smtp": smtp_session, "imap": imap_session, "pop3": pop3_session}


async def run_session(kind: str, target: Target, tls: ssl.SSLContext, n: int,
                      on_open=None, on_close=None) -> SessionResult:
    result = SessionResult(kind=kind, listener=target.listeners[kind], started=time.time())
    c = Conn(result, target.step_timeout)
    t0 = time.monotonic()
    if on_open:
        on_open()
    try:
        await SESSIONS[kind](c, target, tls, n)
        result.ok = True
    except (ClientFailure, OSError, ssl.SSLError, asyncio.TimeoutError,
            asyncio.IncompleteReadError, ValueError, IndexError) as e:
        result.error = f"{type(e).__name__}: {e}"[:300]
    finally:
        c.close()
        if on_close:
            on_close()
        result.seconds = time.monotonic() - t0
    return result
