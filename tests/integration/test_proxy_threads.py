"""`mailtap proxy --threads N`: several event loops, each accepting on its own SO_REUSEPORT socket
bound to the same address, one transcript writer, session ids unique across loops, and a SIGTERM
that says goodbye to the sessions of every loop and flushes every transcript."""

from __future__ import annotations

import socket
import ssl

from transcript_checks import codes, validate_transcripts


def listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:port (from /proc/net/tcp, state 0A = LISTEN)."""
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                count += 1
    return count


def test_threads_listen_on_one_port_and_sigterm_flushes_every_loop(sandbox, proxy):
    p = proxy("imap", client_tls="plain", upstream_tls="starttls",
              extra_args=["--threads", "3"])
    assert p.ready["threads"] == 3
    assert listening_sockets(p.port) == 3, "one SO_REUSEPORT listening socket per loop"

    clients = []
    try:
        # Enough sessions that the kernel's spreading puts some on every loop; each one is
        # relayed (greeting from Dovecot, a NOOP answered by Dovecot) while all are open.
        for i in range(12):
            s = socket.create_connection(("127.0.0.1", p.port), timeout=30)
            f = s.makefile("rb")
            clients.append((s, f))
            assert f.readline().startswith(b"* OK"), f"session {i}: no greeting"
            s.sendall(b"a1 NOOP\r\n")
            while not (line := f.readline()).startswith(b"a1 "):
                pass
            assert line.startswith(b"a1 OK"), line
        assert p.stop() == 0
        for s, f in clients:
            assert f.readline().startswith(b"* BYE mailtap: mailtap is shutting down")
    finally:
        for s, f in clients:
            s.close()

    transcripts = validate_transcripts(p)
    assert len(transcripts) == 12
    ids = [events[0]["session"] for events in transcripts]
    assert len(set(ids)) == 12, f"session ids must be unique across loops: {ids}"
    for events in transcripts:
        assert events[-1]["type"] == "close", "every loop's sessions are flushed to the end"
        assert "shutdown" in codes(events, "error")


def test_threads_relay_implicit_tls(sandbox, proxy):
    """TLS on both legs from several loops: each loop has its own TLS contexts and CA cache."""
    p = proxy("imaps", extra_args=["--threads", "2"])
    ctx = ssl.create_default_context(cafile=str(p.ca_pem))
    for _ in range(6):
        with socket.create_connection(("127.0.0.1", p.port), timeout=30) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                f = s.makefile("rb")
                assert f.readline().startswith(b"* OK")
                s.sendall(b"a1 LOGOUT\r\n")
                while not (line := f.readline()).startswith(b"a1 "):
                    pass
                assert line.startswith(b"a1 OK"), line
    transcripts = validate_transcripts(p)
    assert len(transcripts) == 6
    assert all(any(e["type"] == "tls" for e in events) for events in transcripts)
