"""mailtap proxy between real clients and the sandbox's real Postfix and Dovecot (issue 2).

Every test checks what the client got AND what the transcript says, and validates the
transcript against docs/transcript.schema.json.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import ssl
import time

import pytest

from sandbox import message_text, run, swaks, unique_token
from transcript_checks import codes, data, data_bytes, joined, of_type, validate_transcripts


def client_context(proxy) -> ssl.SSLContext:
    """What a mail client configured with mailtap's CA uses: verification on, host checked."""
    return ssl.create_default_context(cafile=str(proxy.ca_pem))


def tls_legs(events) -> dict:
    return {e["leg"]: e for e in of_type(events, "tls")}


# --- SMTP -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_swaks_starttls_auth_through_proxy_delivers(sandbox, proxy, mechanism):
    p = proxy("submission")  # client STARTTLS <-> upstream STARTTLS, passed through
    alice = sandbox.user("alice")
    token = unique_token()
    swaks("127.0.0.1", p.port, to=alice.address, sender=alice.address, ca=p.ca_pem,
          tls="starttls", auth=mechanism, user=alice.login, password=alice.password,
          subject=token)
    assert token.encode() in sandbox.wait_for_message(token)

    [events] = validate_transcripts(p)
    legs = tls_legs(events)
    assert legs["server"]["verification"] == "verified"
    assert legs["server"]["peer_certificate"]["names"] == ["localhost", "127.0.0.1"]
    assert "client" in legs
    client_lines = [data_bytes(e) for e in data(events, "client", "server")]
    assert b"STARTTLS\r\n" in client_lines
    auth = [e for e in data(events, "client", "server") if e.get("tls") and
            data_bytes(e).upper().startswith(b"AUTH")]
    assert auth, "AUTH must be relayed, over TLS"
    # The password never appears in the transcript file.
    for f in p.transcript_files():
        assert alice.password.encode() not in f.read_bytes()


def test_swaks_implicit_tls_both_legs(sandbox, proxy):
    p = proxy("smtps")
    alice = sandbox.user("alice")
    token = unique_token()
    swaks("127.0.0.1", p.port, to=alice.address, sender=alice.address, ca=p.ca_pem,
          tls="implicit", auth="PLAIN", user=alice.login, password=alice.password, subject=token)
    sandbox.wait_for_message(token)
    [events] = validate_transcripts(p)
    legs = tls_legs(events)
    assert set(legs) == {"client", "server"}
    # Upstream first: the server leg's handshake completes before the client's.
    assert legs["server"]["seq"] < legs["client"]["seq"]


def test_smtplib_starttls_to_implicit_upstream(sandbox, proxy):
    """Independent modes: the client uses STARTTLS, the upstream speaks implicit TLS; mailtap
    offers and answers STARTTLS itself and never forwards it."""
    p = proxy("smtps", client_tls="starttls")
    alice = sandbox.user("alice")
    token = unique_token()
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        s.ehlo("client.test")
        assert s.has_extn("starttls")
        s.starttls(context=client_context(p))
        s.ehlo("client.test")
        s.login(alice.login, alice.password)
        s.sendmail(alice.address, [alice.address],
                   message_text(token, token, alice.address, alice.address))
    sandbox.wait_for_message(token)
    [events] = validate_transcripts(p)
    assert not [e for e in data(events, "client", "server") if b"STARTTLS" in data_bytes(e)]
    answered = [e for e in data(events, "mailtap", "client") if data_bytes(e).startswith(b"220 ")]
    assert answered, "mailtap must answer STARTTLS for the client leg"


def test_curl_smtp_ssl_reqd_and_smtps(sandbox, proxy):
    alice = sandbox.user("alice")
    for service, scheme, extra in (("submission", "smtp", ["--ssl-reqd"]),
                                   ("smtps", "smtps", [])):
        p = proxy(service)
        token = unique_token()
        msg = message_text(token, token, alice.address, alice.address)
        run(["curl", "-sS", *extra, "--cacert", str(p.ca_pem), f"{scheme}://127.0.0.1:{p.port}",
             "--user", f"{alice.login}:{alice.password}", "--mail-from", alice.address,
             "--mail-rcpt", alice.address, "-T", "-"], input=msg, timeout=60)
        sandbox.wait_for_message(token)
        [events] = validate_transcripts(p)
        assert set(tls_legs(events)) == {"client", "server"}


# --- IMAP and POP3 --------------------------------------------------------------------------


def test_mail_sent_through_proxy_is_read_back_through_proxy(sandbox, proxy):
    alice = sandbox.user("alice")
    token = unique_token()
    smtp = proxy("submission")
    swaks("127.0.0.1", smtp.port, to=alice.address, sender=alice.address, ca=smtp.ca_pem,
          tls="starttls", auth="PLAIN", user=alice.login, password=alice.password, subject=token)
    sandbox.wait_for_message(token)
    validate_transcripts(smtp)

    imap = proxy("imap")
    with imaplib.IMAP4("127.0.0.1", imap.port, timeout=30) as m:
        m.starttls(ssl_context=client_context(imap))
        m.login(alice.login, alice.password)
        m.select("INBOX", readonly=True)
        typ, found = m.search(None, "SUBJECT", token)
        assert typ == "OK" and found[0], "the message sent through the proxy must be found"
        typ, parts = m.fetch(found[0].split()[-1], "(BODY.PEEK[])")
        assert typ == "OK" and token.encode() in parts[0][1]
    [events] = validate_transcripts(imap)
    server_bytes = joined(events, "server", "client")
    assert token.encode() in server_bytes


@pytest.mark.parametrize("service,scheme,extra", [
    ("imap", "imap", ["--ssl-reqd"]), ("imaps", "imaps", []),
    ("pop3", "pop3", ["--ssl-reqd"]), ("pop3s", "pop3s", [])])
def test_curl_reads_mailbox_through_proxy(sandbox, proxy, service, scheme, extra):
    alice = sandbox.user("alice")
    token = unique_token()
    swaks("127.0.0.1", sandbox.port("submission"), to=alice.address, sender=alice.address,
          ca=sandbox.ca, tls="starttls", auth="PLAIN", user=alice.login,
          password=alice.password, subject=token)
    sandbox.wait_for_message(token)
    p = proxy(service)
    url = f"{scheme}://127.0.0.1:{p.port}/" + ("INBOX" if "imap" in scheme else "")
    listing = run(["curl", "-sS", *extra, "--cacert", str(p.ca_pem), "-u",
                   f"{alice.login}:{alice.password}", url], timeout=60).stdout
    assert listing.strip(), "curl listed nothing"
    [events] = validate_transcripts(p)
    assert set(tls_legs(events)) == {"client", "server"}
    assert not of_type(events, "error")


def test_poplib_stls_and_imaplib_implicit(sandbox, proxy):
    alice = sandbox.user("alice")
    token = unique_token()
    swaks("127.0.0.1", sandbox.port("submission"), to=alice.address, sender=alice.address,
          ca=sandbox.ca, tls="starttls", auth="PLAIN", user=alice.login,
          password=alice.password, subject=token)
    sandbox.wait_for_message(token)

    pop = proxy("pop3")
    m = poplib.POP3("127.0.0.1", pop.port, timeout=30)
    m.stls(context=client_context(pop))
    m.user(alice.login)
    m.pass_(alice.password)
    count, _ = m.stat()
    assert count >= 1
    _, lines, _ = m.retr(count)
    m.quit()
    assert any(token.encode() in line for line in lines)
    [events] = validate_transcripts(pop)
    body = b"".join(data_bytes(e) for e in events if e.get("frame") == "body")
    assert token.encode() in body

    imaps = proxy("imaps")
    with imaplib.IMAP4_SSL("127.0.0.1", imaps.port, ssl_context=client_context(imaps),
                           timeout=30) as m:
        m.login(alice.login, alice.password)
        typ, _ = m.select("INBOX")
        assert typ == "OK"
    validate_transcripts(imaps)


# --- STARTTLS safety with real servers ------------------------------------------------------


def test_command_injection_after_starttls_never_reaches_server(sandbox, proxy):
    p = proxy("submission")
    with socket.create_connection(("127.0.0.1", p.port), timeout=30) as raw:
        f = raw.makefile("rb")
        assert f.readline().startswith(b"220 ")
        raw.sendall(b"EHLO a\r\nSTARTTLS\r\nRSET\r\n")  # one segment
        while not (line := f.readline()).startswith(b"250 "):
            assert line.startswith(b"250-")
        assert f.readline().startswith(b"220 ")
        tls = client_context(p).wrap_socket(raw, server_hostname="127.0.0.1")
        tf = tls.makefile("rb")
        tls.sendall(b"EHLO b\r\n")
        # Had RSET been carried into TLS, its "250 2.0.0 Ok" would come first.
        first = tf.readline()
        assert first.startswith(b"250-"), first
        tls.sendall(b"QUIT\r\n")
        while not tf.readline().startswith(b"221"):
            pass
    [events] = validate_transcripts(p)
    dropped = data(events, "client", "mailtap")
    assert any(data_bytes(e) == b"RSET\r\n" for e in dropped)
    assert not any(data_bytes(e) == b"RSET\r\n" for e in data(events, "client", "server"))
    assert "starttls_command_injection" in codes(events, "warning")


def test_credentials_are_not_forwarded_before_starttls(sandbox, proxy):
    """Upstream TLS required (STARTTLS), client tries AUTH before STARTTLS: mailtap answers
    530 itself and the credentials never reach the server."""
    p = proxy("submission")
    with socket.create_connection(("127.0.0.1", p.port), timeout=30) as raw:
        f = raw.makefile("rb")
        f.readline()
        raw.sendall(b"EHLO a\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        raw.sendall(b"AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==\r\n")
        reply = f.readline()
        assert reply.startswith(b"530 "), reply
        raw.sendall(b"QUIT\r\n")
        f.readline()
    [events] = validate_transcripts(p)
    assert not any(data_bytes(e).startswith(b"AUTH") for e in data(events, "client", "server"))
    assert "credentials_blocked" in codes(events, "warning")


# --- failures the client must hear about ----------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("proto,expected", [("smtp", b"421 4.4.0 mailtap:"),
                                            ("imap", b"* BYE mailtap:"),
                                            ("pop3", b"-ERR mailtap:")])
def test_upstream_down_gives_protocol_error(proxy, proto, expected):
    p = proxy(upstream=f"127.0.0.1:{closed_port()}", proto=proto, client_tls="plain",
              upstream_tls="plain", upstream_ca=None)
    with socket.create_connection(("127.0.0.1", p.port), timeout=30) as s:
        greeting = s.makefile("rb").readline()
    assert greeting.startswith(expected), greeting
    [events] = validate_transcripts(p)
    errors = of_type(events, "error")
    assert errors and errors[0]["code"] == "upstream_unreachable"
    assert "refused" in errors[0]["message"]


def test_upstream_down_with_implicit_client_tls(proxy):
    p = proxy(upstream=f"127.0.0.1:{closed_port()}", proto="imap", client_tls="implicit",
              upstream_tls="implicit", upstream_ca=None)
    with socket.create_connection(("127.0.0.1", p.port), timeout=30) as raw:
        with client_context(p).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            line = s.makefile("rb").readline()
    assert line.startswith(b"* BYE mailtap: cannot reach the upstream"), line
    validate_transcripts(p)


def test_untrusted_upstream_certificate_is_refused(sandbox, proxy):
    p = proxy("imaps", upstream_ca=None)  # system store only: the sandbox CA is unknown
    with socket.create_connection(("127.0.0.1", p.port), timeout=30) as raw:
        with client_context(p).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            line = s.makefile("rb").readline()
    assert line.startswith(b"* BYE mailtap: TLS with the upstream failed"), line
    assert b"--upstream-ca" in line or b"verif" in line.lower()
    [events] = validate_transcripts(p)
    assert [e["code"] for e in of_type(events, "error")] == ["upstream_tls_failed"]


def test_insecure_upstream_is_recorded_as_warning(sandbox, proxy):
    p = proxy("imaps", upstream_ca=None, extra_args=["--insecure"])
    alice = sandbox.user("alice")
    with imaplib.IMAP4_SSL("127.0.0.1", p.port, ssl_context=client_context(p), timeout=30) as m:
        m.login(alice.login, alice.password)
    [events] = validate_transcripts(p)
    assert events[0]["listener"]["upstream_insecure"] is True
    assert "upstream_not_verified" in codes(events, "warning")
    assert tls_legs(events)["server"]["verification"].startswith("skipped")


# --- robustness -----------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_ten_megabyte_line_is_refused_with_bounded_memory(sandbox, proxy):
    p = proxy("smtp", client_tls="plain", upstream_tls="plain")
    alice = sandbox.user("alice")
    before = rss_kib(p.process.pid)
    with socket.create_connection(("127.0.0.1", p.port), timeout=30) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"220")
        chunk = b"A" * 65536
        sent = 0
        try:
            while sent < 10 * 1024 * 1024:
                s.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # mailtap closed the connection: that is the point
        reply = f.readline()
        # Meanwhile another session through the same proxy is unharmed.
        token = unique_token()
        swaks("127.0.0.1", p.port, to=alice.address, sender=alice.address, subject=token)
    assert reply.startswith(b"421 4.4.0 mailtap:") and b"longer than 512" in reply, reply
    assert rss_kib(p.process.pid) - before < 20 * 1024, "memory grew with the line"
    transcripts = validate_transcripts(p)
    first = transcripts[0]
    assert [e["code"] for e in of_type(first, "error")] == ["line_too_long"]
    assert sum(len(data_bytes(e)) for e in data(first, "client")) <= 1024
    assert len(transcripts) == 2 and not of_type(transcripts[1], "error")


def test_half_close_after_quit(sandbox, proxy):
    p = proxy("smtp", client_tls="plain", upstream_tls="plain")
    with socket.create_connection(("127.0.0.1", p.port), timeout=30) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"QUIT\r\n")
        s.shutdown(socket.SHUT_WR)
        rest = f.read()  # until the proxy closes its side
    assert rest.startswith(b"221 "), rest
    [events] = validate_transcripts(p)
    closes = of_type(events, "close")
    assert closes[-1]["leg"] == "both"
    assert any(c["leg"] == "client" and c["reason"] == "end of stream" for c in closes)


def test_sigterm_says_goodbye_and_flushes(sandbox, proxy):
    p = proxy("imap", client_tls="plain", upstream_tls="starttls")
    alice = sandbox.user("alice")
    with socket.create_connection(("127.0.0.1", p.port), timeout=30) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"* OK")
        s.sendall(f"a1 LOGIN {alice.login} {alice.password}\r\n".encode())
        while not (line := f.readline()).startswith(b"a1 "):
            pass
        assert line.startswith(b"a1 OK"), line
        assert p.stop() == 0
        assert f.readline().startswith(b"* BYE mailtap: mailtap is shutting down")
    [events] = validate_transcripts(p)
    assert events[-1]["type"] == "close"
    assert "shutdown" in codes(events, "error")


def test_connection_limit_turns_clients_away(sandbox, proxy):
    p = proxy("smtp", client_tls="plain", upstream_tls="plain",
              extra_args=["--max-connections", "1"])
    with socket.create_connection(("127.0.0.1", p.port), timeout=30) as first:
        assert first.makefile("rb").readline().startswith(b"220 ")
        with socket.create_connection(("127.0.0.1", p.port), timeout=30) as second:
            line = second.makefile("rb").readline()
        assert line.startswith(b"421 4.3.2 mailtap: too many connections"), line
    validate_transcripts(p)


def test_slow_partial_line_is_closed_by_deadline(sandbox, proxy):
    p = proxy("smtp", client_tls="plain", upstream_tls="plain",
              extra_args=["--line-timeout", "2"])
    with socket.create_connection(("127.0.0.1", p.port), timeout=30) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"EHL")  # and never the rest
        start = time.monotonic()
        line = f.readline()
    assert line.startswith(b"421 4.4.0 mailtap: timed out"), line
    assert time.monotonic() - start < 10
    [events] = validate_transcripts(p)
    assert "timeout" in codes(events, "error")
