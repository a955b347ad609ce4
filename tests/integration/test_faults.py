"""Faults (issue 7): peers that reset, vanish, stop reading or never finish; floods; the
connection limit; a transcript directory that is read-only or full; SIGTERM and SIGKILL with
sessions in flight. The real mailtap binary against scripted peers (fault_peers.py).

Every test waits on conditions with generous deadlines; none times mailtap. Each states the
fault, what mailtap did, and what the transcript records. Results: docs/reliability/faults.md.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from fault_peers import (DEADLINE, Greeter, Upstream, fd_count, read_to_eof, read_until, reset,
                         rss_kib, wait_until)
from sandbox import start_proxy
from transcript_checks import (codes, data, data_bytes, joined, of_type,
                               validate_transcripts)

MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def many_descriptors():
    """500 slowloris clients plus the scripted upstream's side of them need > 1024 fds, in this
    process and in mailtap (which inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def plain(proxy, upstream, proto="smtp", extra=(), client_tls="plain", upstream_tls="plain",
          upstream_ca=None):
    return proxy(upstream=upstream.address, proto=proto, client_tls=client_tls,
                 upstream_tls=upstream_tls, upstream_ca=upstream_ca, extra_args=list(extra))


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)


def closes(events):
    return {e["leg"]: e for e in of_type(events, "close")}


def smtp_upstream(after_data):
    """A scripted SMTP server: greets, accepts EHLO/MAIL/RCPT/DATA, then runs after_data(sock,
    buffered)."""
    def handler(sock):
        sock.sendall(b"220 scripted ESMTP\r\n")
        buf = bytearray()
        for expect, answer in ((b"EHLO", b"250 scripted\r\n"), (b"MAIL", b"250 ok\r\n"),
                               (b"RCPT", b"250 ok\r\n"), (b"DATA", b"354 go ahead\r\n")):
            read_until(sock, b"\r\n", buf=buf)
            line, _, rest = bytes(buf).partition(b"\r\n")
            buf[:] = rest
            assert line.upper().startswith(expect), line
            sock.sendall(answer)
        after_data(sock, buf)
    return handler


def smtp_client_to_data(port: int) -> socket.socket:
    c = connect(port)
    read_until(c, b"220 scripted ESMTP\r\n")
    got = bytearray()
    for cmd, want in ((b"EHLO client.test\r\n", b"250 scripted"), (b"MAIL FROM:<a@x.test>\r\n",
                      b"250 ok"), (b"RCPT TO:<b@x.test>\r\n", b"250 ok"),
                      (b"DATA\r\n", b"354 go ahead")):
        c.sendall(cmd)
        read_until(c, want, buf=got)
    return c


def assert_alive_and_clean_exit(p):
    assert p.running(), f"mailtap died: {p.stderr()}"
    assert p.stop() == 0, p.stderr()


# --- resets -----------------------------------------------------------------------------------


def goodbye_of(events) -> bytes:
    """What mailtap itself said to the client, according to the transcript."""
    return joined(events, "mailtap", "client")


def outcome(c, up, p):
    """The end of a scripted-upstream fault: what the client read until its connection ended and
    how it ended, then checks shared by every such test (the scripted upstream met no surprise,
    mailtap is still up and exits cleanly) and the session's validated transcript."""
    said, how = read_to_eof(c)
    c.close()
    print(f"client got {said!r}, then {how}")
    assert not up.errors, up.errors
    assert_alive_and_clean_exit(p)
    [events] = validate_transcripts(p)
    return said, how, events


def test_upstream_reset_in_the_middle_of_data(proxy):
    """Fault: the upstream sends RST after part of a DATA body. mailtap tells the client in SMTP
    (`421 4.4.0 mailtap: the upstream reset the connection while the client was sending a
    message ...`), then closes its connection; it stays up. The transcript holds the body piece
    that was relayed, a close of the server leg by reset, an `upstream_reset` error and the 421."""
    def after_data(sock, buf):
        read_until(sock, b"part-one", buf=buf)
        reset(sock)
    up = Upstream(smtp_upstream(after_data))
    p = plain(proxy, up)
    c = smtp_client_to_data(p.port)
    c.sendall(b"Subject: reset test\r\n\r\npart-one\r\n")
    rest, how, events = outcome(c, up, p)
    body = b"".join(data_bytes(e) for e in data(events, "client", "server")
                    if e.get("frame") == "body")
    assert b"part-one" in body
    legs = closes(events)
    assert "reset" in legs["server"]["reason"], legs
    assert rest.startswith(b"421 4.4.0 mailtap: the upstream reset the connection while the "
                           b"client was sending a message"), rest
    assert rest.endswith(b"\r\n") and rest.count(b"\n") == 1, rest
    assert how == "eof", how
    assert codes(events, "error") == ["upstream_reset"], events
    assert goodbye_of(events) == rest
    assert events[-1]["type"] == "close"


def test_upstream_reset_in_the_middle_of_an_imap_literal(proxy):
    """Fault: the upstream sends RST while the client streams an APPEND literal. The client is
    told `* BYE mailtap: the upstream reset the connection while the client was sending a
    literal ...`, then its connection closes; mailtap stays up. The literal pieces relayed so far
    are recorded as literal frames, with an `upstream_reset` error."""
    def handler(sock):
        sock.sendall(b"* OK scripted IMAP ready\r\n")
        buf = bytearray()
        read_until(sock, b"{200000}\r\n", buf=buf)
        sock.sendall(b"+ go ahead\r\n")
        read_until(sock, b"L" * 4096, buf=buf)
        reset(sock)
    up = Upstream(handler)
    p = plain(proxy, up, proto="imap")
    c = connect(p.port)
    read_until(c, b"* OK scripted IMAP ready\r\n")
    c.sendall(b"a1 APPEND INBOX {200000}\r\n")
    read_until(c, b"+ go ahead\r\n")
    try:
        c.sendall(b"L" * 200000)
    except (BrokenPipeError, ConnectionResetError):
        pass  # mailtap may already have closed: that is the point
    rest, how, events = outcome(c, up, p)
    literal = [e for e in data(events, "client", "server") if e.get("frame") == "literal"]
    assert literal and all(set(data_bytes(e)) == {ord("L")} for e in literal)
    # mailtap may still be writing the literal when the RST arrives; the write then consumes the
    # socket error and Linux reports the read side as end of stream. The leg remembers the write's
    # error, so the close is a reset either way.
    assert closes(events)["server"]["reason"] == "connection reset by peer", events
    assert rest.startswith(b"* BYE mailtap: the upstream reset the connection "
                           b"while the client was sending a literal"), rest
    assert rest.endswith(b"\r\n") and rest.count(b"\n") == 1, rest
    assert codes(events, "error") == ["upstream_reset"], events
    assert goodbye_of(events) == rest


def test_upstream_reset_in_the_middle_of_the_tls_handshake(proxy):
    """Fault: the upstream (implicit TLS) reads the ClientHello and answers with RST. The client
    (plain IMAP), still waiting for a greeting, is told `* BYE mailtap: the upstream reset the
    connection during the TLS handshake ...` and its connection closes; the transcript has no
    `tls` event, the server leg's close by reset and an `upstream_reset` error."""
    def handler(sock):
        hello = read_until(sock, b"\x16\x03")  # a TLS record header: the ClientHello
        assert hello.startswith(b"\x16\x03")
        reset(sock)
    up = Upstream(handler)
    p = plain(proxy, up, proto="imap", upstream_tls="implicit", extra=["--insecure"])
    c = connect(p.port)
    said, how, events = outcome(c, up, p)
    assert said.startswith(b"* BYE mailtap: the upstream reset the connection during the TLS "
                           b"handshake"), said
    assert said.endswith(b"\r\n") and said.count(b"\n") == 1, said
    print("transcript:", [(e["type"], e.get("code") or e.get("reason")) for e in events
                          if e["type"] in ("error", "warning", "close")])
    assert of_type(events, "tls") == []
    assert "reset" in closes(events)["server"]["reason"], events
    assert codes(events, "error") == ["upstream_reset"], events
    assert goodbye_of(events) == said
    assert events[-1]["type"] == "close"


def test_upstream_closes_before_answering_a_pop3_command(proxy):
    """Fault: the upstream (POP3) closes its connection (FIN, no reply) after reading RETR. The
    client is told `-ERR mailtap: the upstream closed the connection before answering the client`
    and its connection closes; the transcript has an `upstream_closed` error and the -ERR."""
    def handler(sock):
        sock.sendall(b"+OK scripted POP3 ready\r\n")
        read_until(sock, b"RETR 1\r\n")
        sock.close()
    up = Upstream(handler)
    p = plain(proxy, up, proto="pop3")
    c = connect(p.port)
    read_until(c, b"+OK scripted POP3 ready\r\n")
    c.sendall(b"RETR 1\r\n")
    said, how, events = outcome(c, up, p)
    assert said == b"-ERR mailtap: the upstream closed the connection before answering the " \
                   b"client\r\n", said
    assert how == "eof", how
    assert closes(events)["server"]["reason"] == "end of stream", events
    assert codes(events, "error") == ["upstream_closed"], events
    assert goodbye_of(events) == said


def test_upstream_reset_goodbye_reaches_an_implicit_tls_client_over_tls(proxy):
    """Fault: the upstream resets with an SMTP command unanswered while the client is on implicit
    TLS. The 421 travels over the client's TLS, then the connection closes."""
    import ssl

    def handler(sock):
        sock.sendall(b"220 scripted ESMTP\r\n")
        read_until(sock, b"NOOP\r\n")
        reset(sock)
    up = Upstream(handler)
    p = plain(proxy, up, client_tls="implicit")
    ctx = ssl.create_default_context(cafile=str(p.ca_pem))
    c = ctx.wrap_socket(connect(p.port), server_hostname="127.0.0.1")
    read_until(c, b"220 scripted ESMTP\r\n")
    c.sendall(b"NOOP\r\n")
    said, how, events = outcome(c, up, p)
    assert said.startswith(b"421 4.4.0 mailtap: the upstream reset the connection before "
                           b"answering the client"), said
    assert codes(events, "error") == ["upstream_reset"], events
    [goodbye] = data(events, "mailtap", "client")
    assert goodbye["tls"] is True
    assert data_bytes(goodbye) == said


def test_upstream_reset_in_the_middle_of_a_relayed_reply_closes_without_a_goodbye(proxy):
    """Fault: the upstream resets after the first line of a multi-line SMTP reply, which mailtap
    already relayed. A `421` now would be read as that reply's last line, so mailtap closes the
    client's connection without one; the `upstream_reset` error says why."""
    def handler(sock):
        sock.sendall(b"220 scripted ESMTP\r\n")
        read_until(sock, b"HELP\r\n")
        sock.sendall(b"214-first line of help\r\n")
        read_until(sock, b"NOOP\r\n")  # the client saw the first line
        reset(sock)
    up = Upstream(handler)
    p = plain(proxy, up)
    c = connect(p.port)
    read_until(c, b"220 scripted ESMTP\r\n")
    c.sendall(b"HELP\r\n")
    read_until(c, b"214-first line of help\r\n")
    c.sendall(b"NOOP\r\n")
    said, how, events = outcome(c, up, p)
    assert said == b"", said
    assert codes(events, "error") == ["upstream_reset"], events
    [error] = of_type(events, "error")
    assert "without a goodbye" in error["message"], error
    assert goodbye_of(events) == b""


def test_upstream_end_after_its_own_goodbye_is_relayed_unchanged(proxy):
    """Not a fault: QUIT, 221, then the upstream closes. The client gets the 221 and end of stream,
    nothing from mailtap; no error in the transcript."""
    def handler(sock):
        sock.sendall(b"220 scripted ESMTP\r\n")
        read_until(sock, b"QUIT\r\n")
        sock.sendall(b"221 2.0.0 bye\r\n")
        sock.close()
    up = Upstream(handler)
    p = plain(proxy, up)
    c = connect(p.port)
    read_until(c, b"220 scripted ESMTP\r\n")
    c.sendall(b"QUIT\r\n")
    said, how = read_to_eof(c)
    c.close()
    assert not up.errors, up.errors
    assert (said, how) == (b"221 2.0.0 bye\r\n", "eof")
    assert_alive_and_clean_exit(p)
    [events] = validate_transcripts(p)
    assert codes(events, "error") == [], events
    assert goodbye_of(events) == b""


def test_tls_alert_in_the_middle_of_a_session(proxy, tmp_path):
    """Fault: after TLS is up and a command was answered, the upstream sends a fatal TLS alert
    record. mailtap ends the session with an error the transcript explains; it stays up."""
    from scripted_peer import TestPki
    pki = TestPki(tmp_path / "pki")
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.cert, pki.key)

    def handler(sock):
        sock.sendall(b"* OK scripted IMAP ready\r\n")
        buf = bytearray()
        read_until(sock, b"a1 NOOP\r\n", buf=buf)
        sock.sendall(b"a1 OK done\r\n")
        read_until(sock, b"a2 NOOP\r\n", buf=buf)
        raw = socket.socket(fileno=os.dup(sock.fileno()))
        raw.sendall(b"\x15\x03\x03\x00\x02\x02\x50")  # alert: fatal, internal_error
        raw.close()
        read_to_eof(sock)
    up = Upstream(handler, tls=ctx)
    p = plain(proxy, up, proto="imap", upstream_tls="implicit", upstream_ca=pki.ca_pem)
    c = connect(p.port)
    got = bytearray()
    read_until(c, b"* OK scripted IMAP ready\r\n", buf=got)
    c.sendall(b"a1 NOOP\r\n")
    read_until(c, b"a1 OK done\r\n", buf=got)
    c.sendall(b"a2 NOOP\r\n")
    said, how = read_to_eof(c)
    c.close()
    print(f"client got {said!r}, then {how}")
    assert b"a2 OK" not in said
    assert not up.errors, up.errors
    assert_alive_and_clean_exit(p)
    [events] = validate_transcripts(p)
    print("transcript:", [(e["type"], e.get("code") or e.get("reason")) for e in events
                          if e["type"] in ("error", "warning", "close")])
    assert [e["leg"] for e in of_type(events, "tls")] == ["server"]
    server_close = closes(events).get("server", {})
    explained = codes(events, "error") + [server_close.get("reason", "")]
    assert any(explained), events
    assert events[-1]["type"] == "close"


def test_client_vanishes(proxy):
    """Fault: the client sends half a command and disappears with RST. mailtap closes the
    upstream connection (the upstream sees end of stream) and records who went away."""
    seen = {}

    def handler(sock):
        sock.sendall(b"220 scripted ESMTP\r\n")
        got, how = read_to_eof(sock)
        seen["got"], seen["how"] = got, how
        up.event("closed").set()
    up = Upstream(handler)
    p = plain(proxy, up)
    c = connect(p.port)
    read_until(c, b"220 scripted ESMTP\r\n")
    c.sendall(b"EHLO client.test\r\nMAIL FROM:<half")
    wait_until(lambda: b"EHLO" in b"".join(p.transcript_files()[0].read_bytes().split(b"\n")[:-1])
               if p.transcript_files() else False, "the EHLO to be relayed and recorded")
    reset(c)
    up.wait("closed")  # mailtap closed the upstream when the client went
    assert_alive_and_clean_exit(p)
    assert seen["got"].startswith(b"EHLO client.test\r\n")
    [events] = validate_transcripts(p)
    legs = closes(events)
    # Linux may report the RST as a reset or, once the error was consumed, as end of stream.
    assert legs["client"]["by"] == "client", events
    assert legs["client"]["reason"] in ("connection reset by peer", "end of stream"), legs
    assert events[-1]["type"] == "close"


# --- memory: a non-reading upstream ------------------------------------------------------------


def test_non_reading_upstream_while_the_client_streams_a_gigabyte(proxy):
    """Fault: the upstream stops reading in DATA while the client streams 1 GiB as fast as a
    plain socket goes. mailtap stops reading the client (back-pressure), so the client stalls
    far below 1 GiB and mailtap's RSS stays flat; once the upstream reads again, all 1 GiB
    arrives byte for byte, still with flat RSS. Recording is off (--no-transcripts): this tests
    the relay's memory, not the transcript queue's (bounded separately, transcript-format.md)."""
    total = 1024 * MIB
    line = b"x" * 998 + b"\r\n"
    chunk = line * 1024  # ~1 MiB of legal 1000-octet DATA lines
    received = {"n": 0}

    def after_data(sock, buf):
        up.event("data").set()
        up.wait("read", timeout=600)
        n = len(buf)
        while True:
            b = sock.recv(1 << 20)
            if not b:
                break
            n += len(b)
        received["n"] = n
        up.event("done").set()
    up = Upstream(smtp_upstream(after_data))
    p = plain(proxy, up, extra=["--no-transcripts"])
    pid = p.process.pid
    c = smtp_client_to_data(p.port)
    up.wait("data")
    base = rss_kib(pid)
    peak = {"kib": base}
    sent = {"n": 0}
    stop = threading.Event()

    def sender():
        left = total
        while left > 0:
            piece = chunk[:left]
            c.sendall(piece)
            sent["n"] += len(piece)
            left -= len(piece)
        c.shutdown(socket.SHUT_WR)

    def sampler():
        while not stop.is_set():
            try:
                peak["kib"] = max(peak["kib"], rss_kib(pid))
            except (OSError, AssertionError):
                return
            stop.wait(0.05)
    c.settimeout(None)
    threading.Thread(target=sampler, daemon=True).start()
    t = threading.Thread(target=sender, daemon=True)
    t.start()
    # Phase 1: wait for the stall (no progress over a whole second; generous overall deadline).
    last = [-1, time.monotonic()]

    def stalled():
        now = time.monotonic()
        if sent["n"] != last[0]:
            last[0], last[1] = sent["n"], now
            return False
        return now - last[1] > 1.0
    wait_until(stalled, "the client's sends to stall against back-pressure", timeout=300)
    stalled_at = sent["n"]
    assert stalled_at < 256 * MIB, f"mailtap kept reading: {stalled_at} bytes accepted"
    # Phase 2: the upstream reads; everything flows.
    up.event("read").set()
    up.wait("done", timeout=900)
    t.join(60)
    stop.set()
    c.close()
    growth_mib = (peak["kib"] - base) / 1024
    assert received["n"] == total, (received["n"], total)
    print(f"stalled at {stalled_at / MIB:.1f} MiB; RSS growth {growth_mib:.1f} MiB")
    # Under AddressSanitizer (tools/sanitize.sh sets MAILTAP_SANITIZED=1) freed memory is held in
    # a 256 MiB quarantine on purpose, so RSS says nothing about what mailtap keeps: the bound is
    # judged in the ordinary build's run; the back-pressure assertion above holds in both.
    if os.environ.get("MAILTAP_SANITIZED") != "1":
        assert growth_mib < 64, f"mailtap RSS grew by {growth_mib:.1f} MiB"
    assert_alive_and_clean_exit(p)


# --- floods and limits --------------------------------------------------------------------------


def read_all_to_eof(socks, timeout):
    """Reads every socket until it closes; returns {sock: bytes}."""
    sel = selectors.DefaultSelector()
    out = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        out[s] = b""
    deadline = time.monotonic() + timeout
    open_ = len(socks)
    while open_:
        if time.monotonic() > deadline:
            raise AssertionError(f"{open_} of {len(socks)} connections still open after "
                                 f"{timeout}s")
        for key, _ in sel.select(timeout=1):
            try:
                b = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                b = b""
            if b:
                out[key.fileobj] += b
            else:
                sel.unregister(key.fileobj)
                open_ -= 1
    return out


def test_five_hundred_slowloris_connections(proxy):
    """Fault: 500 clients open connections and stall: 250 send half a command line, 250 send
    nothing at all; on a second listener with implicit TLS 100 more never start their handshake.
    With short deadlines (--line-timeout, --idle-timeout, --handshake-timeout) mailtap closes
    every one of them, each plaintext one with a 421; a normal session works meanwhile; mailtap's
    descriptor count returns to its baseline."""
    up = Greeter(b"220 greeter ESMTP\r\n", b"250 ok\r\n")
    p = plain(proxy, up, extra=["--line-timeout", "2", "--idle-timeout", "4",
                                "--max-connections", "5000"])
    tls_p = plain(proxy, up, client_tls="implicit",
                  extra=["--handshake-timeout", "2", "--max-connections", "5000"])
    pids = (p.process.pid, tls_p.process.pid)
    baseline = {pid: fd_count(pid) for pid in pids}
    loris = []
    for i in range(500):
        s = connect(p.port)
        loris.append(s)
    for i, s in enumerate(loris):
        read_until(s, b"220 greeter ESMTP\r\n")
        if i % 2 == 0:
            s.sendall(b"EHL")
    silent_tls = [connect(tls_p.port) for _ in range(100)]
    wait_until(lambda: up.accepted >= 600, "mailtap to connect upstream for every client")
    # A normal session through the same proxy while all of them hang on.
    with connect(p.port) as n:
        got = bytearray()
        read_until(n, b"220 greeter ESMTP\r\n", buf=got)
        n.sendall(b"EHLO normal.test\r\n")
        read_until(n, b"250 ok\r\n", buf=got)
        n.sendall(b"QUIT\r\n")
        read_until(n, b"221 bye\r\n", buf=got)
    said = read_all_to_eof(loris + silent_tls, timeout=300)
    plain_goodbyes = [said[s] for s in loris]
    assert all(b"421 4.4.0 mailtap: timed out" in g for g in plain_goodbyes), \
        [g for g in plain_goodbyes if b"421" not in g][:3]
    for s in loris + silent_tls:
        s.close()
    for pid in pids:
        wait_until(lambda: fd_count(pid) <= baseline[pid],
                   f"mailtap {pid}'s descriptors back to {baseline[pid]}", timeout=120)
    wait_until(lambda: up.open == 0, "every upstream connection closed", timeout=120)
    transcripts = validate_transcripts(p)
    assert len(transcripts) == 501
    assert sum("timeout" in codes(t, "error") for t in transcripts) == 500
    tls_transcripts = validate_transcripts(tls_p)
    assert len(tls_transcripts) == 100
    assert all("timeout" in codes(t, "error") for t in tls_transcripts)
    assert p.returncode == 0 and tls_p.returncode == 0
    up.close()


def test_connection_limit_turns_away_then_recovers(proxy):
    """Fault: more clients than --max-connections. The extra one is told 421 4.3.2 and closed;
    once a session ends, a new client is served again."""
    up = Greeter(b"220 greeter ESMTP\r\n", b"250 ok\r\n")
    p = plain(proxy, up, extra=["--max-connections", "3"])
    held = [connect(p.port) for _ in range(3)]
    for s in held:
        read_until(s, b"220 greeter ESMTP\r\n")
    with connect(p.port) as extra:
        said, _ = read_to_eof(extra)
    assert said.startswith(b"421 4.3.2 mailtap: too many connections"), said
    held.pop().close()

    def served():
        with connect(p.port) as s:
            first, _ = read_to_eof_or_line(s)
            return first.startswith(b"220 greeter")
    wait_until(served, "a new client to be served once a slot is free")
    for s in held:
        s.close()
    assert_alive_and_clean_exit(p)
    assert "connection limit (3) reached" in p.stderr()
    validate_transcripts(p)
    up.close()


def read_to_eof_or_line(s):
    buf = bytearray()
    s.settimeout(DEADLINE)
    while b"\n" not in buf:
        b = s.recv(4096)
        if not b:
            return bytes(buf), "eof"
        buf += b
    return bytes(buf), "line"


# --- transcript directory: read-only, full ------------------------------------------------------


class Tmpfs:
    """A small tmpfs mounted where the proxy will keep its transcripts (root only)."""

    def __init__(self, path: Path, size: str = "1m"):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                            str(path)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs (needs root): {r.stderr.strip()}")

    def read_only(self):
        subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)

    def fill(self):
        """Writes a filler file until the file system is full."""
        with open(self.path / "filler", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        # A last byte must not fit either.
        with pytest.raises(OSError):
            with open(self.path / "probe", "wb") as f:
                f.write(b"x" * 8192)
                f.flush()

    def unmount(self):
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture
def tmpfs_workdir(tmp_path):
    mounts = []

    def make(size="1m"):
        t = Tmpfs(tmp_path / "proxy" / "transcripts", size)
        mounts.append(t)
        return t
    yield make
    for t in mounts:
        t.unmount()


def start(mailtap_bin, tmp_path, up, policy=None, extra=()):
    args = list(extra)
    if policy:
        args += ["--on-transcript-error", policy]
    return start_proxy(mailtap_bin, tmp_path / "proxy", proto="smtp", upstream=up.address,
                       client_tls="plain", upstream_tls="plain", upstream_ca=None,
                       extra_args=args)


def smtp_exchange(port, lines=None):
    """EHLO `lines` times and QUIT; with lines=None, EHLO until mailtap ends the session (up to
    DEADLINE). Returns (what the client got, whether the exchange completed)."""
    got = bytearray()
    s = connect(port)
    deadline = time.monotonic() + DEADLINE
    try:
        read_until(s, b"\r\n", buf=got)
        i = 0
        while lines is None or i < lines:
            if time.monotonic() > deadline:
                raise AssertionError(f"mailtap never ended the session; got {bytes(got[-200:])!r}")
            s.sendall(b"EHLO client%d.test\r\n" % i)
            before = got.count(b"250 ok\r\n")
            while got.count(b"250 ok\r\n") <= before:
                b = s.recv(4096)
                if not b:
                    return bytes(got), False
                got += b
            i += 1
        s.sendall(b"QUIT\r\n")
        read_until(s, b"221 bye\r\n", buf=got)
        return bytes(got), True
    except (ConnectionResetError, BrokenPipeError):
        return bytes(got), False
    finally:
        s.close()


def test_read_only_transcript_directory_at_start(mailtap_bin, tmp_path, tmpfs_workdir):
    """Fault: the transcript directory is read-only when mailtap starts. Default policy (close):
    mailtap refuses to start (exit 2) and says why and what to do. With continue: it starts,
    warns, relays unrecorded, and exits 3 to say sessions were not recorded."""
    up = Greeter(b"220 greeter ESMTP\r\n", b"250 ok\r\n")
    fs = tmpfs_workdir()
    fs.read_only()
    with pytest.raises(AssertionError) as refused:
        start(mailtap_bin, tmp_path, up)
    message = str(refused.value)
    assert "exited with 2" in message and "Read-only file system" in message, message
    assert "--on-transcript-error continue" in message

    p = start(mailtap_bin, tmp_path, up, "continue")
    try:
        got, completed = smtp_exchange(p.port, lines=3)
        assert completed, got
    finally:
        code = p.stop()
    err = p.stderr()
    assert "relayed unrecorded" in err and "Read-only file system" in err, err
    assert code == 3, err
    up.close()


@pytest.mark.parametrize("fault", ["full", "read-only"])
@pytest.mark.parametrize("policy", ["close", "continue"])
def test_transcript_directory_fails_while_running(mailtap_bin, tmp_path, tmpfs_workdir, fault,
                                                  policy):
    """Fault: the transcript file system fills up (or turns read-only) while mailtap runs.
    close (the default): each affected session is ended with a protocol error, nothing is relayed
    unrecorded past the point mailtap learns of it; continue: sessions are relayed unrecorded.
    Either way stderr names the error and the policy, nothing crashes, and the exit status is 3."""
    up = Greeter(b"220 greeter ESMTP\r\n", b"250 ok\r\n")
    fs = tmpfs_workdir("256k")
    p = start(mailtap_bin, tmp_path, up, None if policy == "close" else policy)
    try:
        if fault == "full":
            fs.fill()
        else:
            fs.read_only()
        results = [smtp_exchange(p.port, lines=None if policy == "close" else 5)
                   for _ in range(3)]
        assert p.running(), p.stderr()
        for got, completed in results:
            if policy == "close":
                assert not completed, got[-300:]
                said = b"421 4.4.0 mailtap: mailtap ends this session: its transcript cannot be"
                assert said in got, got[-300:]
            else:
                assert completed, got[-300:]
    finally:
        code = p.stop()
    err = p.stderr()
    reason = "No space left on device" if fault == "full" else "Read-only file system"
    assert reason in err, err
    if policy == "close":
        assert "closing the session (--on-transcript-error close)" in err, err
    assert "could not be fully recorded" in err
    assert code == 3, err
    up.close()


# --- signals -------------------------------------------------------------------------------------


def open_sessions(port, n):
    socks = []
    for i in range(n):
        s = connect(port)
        read_until(s, b"220 greeter ESMTP\r\n")
        s.sendall(b"EHLO c%d.test\r\n" % i)
        read_until(s, b"250 ok\r\n")
        socks.append(s)
    return socks


def test_sigterm_with_many_sessions_in_flight(proxy):
    """Fault: SIGTERM while 60 sessions are open (one of them mid-line). Every client is told
    421 in SMTP's words, mailtap exits 0, and every transcript is complete, schema-valid, and
    ends with close events."""
    up = Greeter(b"220 greeter ESMTP\r\n", b"250 ok\r\n")
    p = plain(proxy, up)
    socks = open_sessions(p.port, 60)
    socks[0].sendall(b"MAIL FROM:<half")
    p.process.send_signal(signal.SIGTERM)
    said = read_all_to_eof(socks, timeout=120)
    for s in socks:
        s.close()
    assert all(b"421 4.4.0 mailtap: mailtap is shutting down" in g for g in said.values()), \
        list(said.values())[:2]
    assert p.stop() == 0, p.stderr()
    transcripts = validate_transcripts(p)
    assert len(transcripts) == 60
    for t in transcripts:
        assert t[-1]["type"] == "close", t[-3:]
        assert "shutdown" in codes(t, "error")
        assert [e["seq"] for e in t[1:]] == list(range(1, len(t)))
    up.close()


def test_signals_repeated_until_exit_never_kill_the_flush(proxy):
    """Fault: SIGTERM sent again and again, every millisecond, from the first until mailtap has
    exited (a supervisor or an impatient user repeating themselves). The second one stops the
    loop at once; the ones after it arrive while mailtap joins its threads and flushes the
    transcripts, and must not kill it there: mailtap exits 0 and every transcript is complete.
    (Found by CI: a SIGTERM landing after the loop had stopped met the default action, exit -15.)"""
    up = Greeter(b"220 greeter ESMTP\r\n", b"250 ok\r\n")
    p = plain(proxy, up)
    socks = open_sessions(p.port, 60)
    sent = 0
    deadline = time.monotonic() + 60
    while p.process.poll() is None and time.monotonic() < deadline:
        try:
            p.process.send_signal(signal.SIGTERM)
            sent += 1
        except ProcessLookupError:
            break
        time.sleep(0.001)
    for s in socks:
        s.close()
    assert p.process.poll() is not None, "mailtap did not exit within 60 s of repeated SIGTERMs"
    assert sent >= 2, sent
    assert p.stop() == 0, (sent, p.stderr())
    transcripts = validate_transcripts(p)
    assert len(transcripts) == 60
    for t in transcripts:
        assert t[-1]["type"] == "close", t[-3:]
        assert [e["seq"] for e in t[1:]] == list(range(1, len(t)))
    up.close()


def test_sigkill_mid_session_leaves_parsable_transcripts(proxy):
    """Fault: SIGKILL while 20 sessions exchange commands and one streams DATA. Every transcript
    parses up to its last complete line: at most one torn line, and only at the very end; seq
    numbers have no gaps. Also: what a client saw answered is on disk before any shutdown (events
    are handed over as each loop iteration ends and written within the writer's 2 ms linger, not
    held back until shutdown)."""
    up = Greeter(b"220 greeter ESMTP\r\n", b"250 ok\r\n")
    p = plain(proxy, up)
    socks = open_sessions(p.port, 20)
    # Written without flush or shutdown: wait until every EHLO is in its file.

    def ehlos_on_disk():
        count = 0
        for f in p.transcript_files():
            count += f.read_bytes().count(b'"text":"EHLO c')
        return count >= 20
    wait_until(ehlos_on_disk, "every answered EHLO to be written while the sessions run")
    busy = socks[0]
    stop = threading.Event()

    def stream():
        i = 0
        try:
            while not stop.is_set():
                busy.sendall(b"NOOP %d\r\n" % i * 50)
                i += 1
        except OSError:
            pass
    t = threading.Thread(target=stream, daemon=True)
    t.start()
    wait_until(lambda: p.transcript_files()[0].stat().st_size > 200_000 or
               max(f.stat().st_size for f in p.transcript_files()) > 200_000,
               "the busy session to have written a good amount")
    p.process.send_signal(signal.SIGKILL)
    p.process.wait(30)
    stop.set()
    t.join(10)
    for s in socks:
        s.close()
    files = p.transcript_files()
    assert len(files) == 20
    torn_total = 0
    for f in files:
        raw = f.read_bytes()
        lines = raw.split(b"\n")
        tail = lines.pop()  # after the last newline: empty, or a torn line
        events = [json.loads(line) for line in lines]  # every complete line parses
        assert events[0]["type"] == "session"
        assert [e["seq"] for e in events[1:]] == list(range(1, len(events)))
        if tail:
            torn_total += 1
            with pytest.raises(ValueError):
                json.loads(tail)
    assert torn_total <= 1
    up.close()


# --- the CI flake of test_proxy.py::test_insecure_upstream_is_recorded_as_warning ---------------


def test_insecure_session_is_complete_on_disk_while_mailtap_runs(sandbox, proxy):
    """Regression for the CI failure where a session that logged in left a transcript of three
    lines (header, two connects): the whole session must reach the file while mailtap is still
    running, with no shutdown or flush to push it out, and mailtap must then exit 0. The
    harness used to stop mailtap first and ignore its exit status, so lost events and an abnormal
    exit could not be told apart from a clean run."""
    import imaplib
    import ssl
    p = proxy("imaps", upstream_ca=None, extra_args=["--insecure"])
    alice = sandbox.user("alice")
    ctx = ssl.create_default_context(cafile=str(p.ca_pem))
    with imaplib.IMAP4_SSL("127.0.0.1", p.port, ssl_context=ctx, timeout=30) as m:
        m.login(alice.login, alice.password)

    def complete_on_disk():
        files = p.transcript_files()
        if len(files) != 1:
            return False
        raw = files[0].read_bytes()
        if not raw.endswith(b"\n"):
            return False
        events = [json.loads(x) for x in raw.splitlines()]
        kinds = [e["type"] for e in events]
        closed = {e["leg"] for e in events if e["type"] == "close"}
        return ("tls" in kinds and "upstream_not_verified" in codes(events, "warning")
                and any(e["type"] == "data" for e in events) and {"client", "server"} <= closed)
    wait_until(complete_on_disk, "the whole session (tls, warning, data, both closes) on disk "
               "while mailtap runs")
    assert p.running(), p.stderr()
    assert p.stop() == 0, p.stderr()
    [events] = validate_transcripts(p)
    assert events[0]["listener"]["upstream_insecure"] is True
    assert [e["seq"] for e in events[1:]] == list(range(1, len(events)))
