"""The STARTTLS attack suite (issue 7, GUIDE §3) against the real `mailtap proxy` binary.

Every test puts mailtap between a scripted client (tests/integration/scripted_peer.py, driven
from the test) and a scripted upstream (a thread that plays the mail server), plays one attack,
and asserts three things:

1. the bytes each peer actually received (the scripted server records every byte, cleartext and
   TLS apart, until mailtap closes the connection, so "never arrived" is checked, not assumed);
2. what the client was told (mailtap's own protocol error, or the normal conversation);
3. the transcript: warning/error codes and the `data` events to and from `mailtap`, after every
   transcript line was validated against docs/transcript.schema.json.

Modes are named client-leg × upstream-leg (`--client-tls` × `--upstream-tls`): starttls ×
starttls is *passthrough* (the client's STARTTLS goes to the server); starttls × plain/implicit is
*answered* (mailtap answers STARTTLS itself); plain/implicit × starttls is *negotiated* (mailtap
runs STARTTLS with the upstream itself before the client sees a greeting).

Run: MAILTAP_BIN=build/mailtap /usr/bin/python3 -m pytest -q -p no:cacheprovider
     tests/integration/test_attacks.py
"""

from __future__ import annotations

import json
import ssl

import pytest

from scripted_peer import Conn, ScriptedServer, TestPki, connect_client
from transcript_checks import codes, data, data_bytes, joined, of_type, validate_transcripts

PROTOS = ["smtp", "imap", "pop3"]

GREETING = {
    "smtp": b"220 upstream.test ESMTP scripted\r\n",
    "imap": b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] scripted ready\r\n",
    "pop3": b"+OK scripted POP3 ready\r\n",
}
GREETING_PREFIX = {"smtp": b"220 ", "imap": b"* OK", "pop3": b"+OK"}
FATAL_PREFIX = {"smtp": b"421 4.4.0 mailtap: ", "imap": b"* BYE mailtap: ",
                "pop3": b"-ERR mailtap: "}
EHLO_REPLY = b"250-upstream.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n"
EHLO_REPLY_NO_STARTTLS = b"250-upstream.test\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n"
# What the client sends to upgrade, and what mailtap sends when it negotiates with the upstream.
CLIENT_STARTTLS = {"smtp": b"STARTTLS\r\n", "imap": b"a STARTTLS\r\n", "pop3": b"STLS\r\n"}
MAILTAP_STARTTLS = {"smtp": b"STARTTLS\r\n", "imap": b"mailtap1 STARTTLS\r\n", "pop3": b"STLS\r\n"}
QUIT = {"smtp": (b"QUIT\r\n", b"221 2.0.0 Bye\r\n"),
        "imap": (b"z LOGOUT\r\n", b"* BYE scripted logging out\r\nz OK LOGOUT completed\r\n"),
        "pop3": (b"QUIT\r\n", b"+OK scripted bye\r\n")}
QUIT_REPLY_END = {"smtp": b"221 2.0.0 Bye\r\n", "imap": b"z OK LOGOUT completed\r\n",
                  "pop3": b"+OK scripted bye\r\n"}
# Credentials a naive client sends in cleartext once STARTTLS failed, and mailtap's refusal.
CREDENTIALS = {"smtp": b"AUTH PLAIN AGFsaWNlAHMzY3IzdC1wYXNz\r\n",  # \0alice\0s3cr3t-pass
               "imap": b"b LOGIN alice s3cr3t-pass\r\n",
               "pop3": b"USER alice\r\n"}
CREDENTIAL_VERB = {"smtp": b"AUTH", "imap": b"LOGIN", "pop3": b"USER"}
TLS_REQUIRED_PREFIX = {"smtp": b"530 5.7.0 mailtap: ", "imap": b"b NO [PRIVACYREQUIRED] mailtap: ",
                       "pop3": b"-ERR mailtap: TLS to the upstream is required"}


def starttls_ok(proto: str, tag: bytes = b"a") -> bytes:
    return {"smtp": b"220 2.0.0 Ready to start TLS\r\n",
            "imap": tag + b" OK Begin TLS negotiation now\r\n",
            "pop3": b"+OK Begin TLS negotiation\r\n"}[proto]


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("attack-pki"))


def client_context(p) -> ssl.SSLContext:
    """A careful mail client that trusts mailtap's CA: verification on, host name checked."""
    return ssl.create_default_context(cafile=str(p.ca_pem))


def start_proxy(proxy, pki, server, proto, client_tls, upstream_tls, extra_args=()):
    return proxy(upstream=server.address, proto=proto, client_tls=client_tls,
                 upstream_tls=upstream_tls, upstream_ca=pki.ca_pem, extra_args=extra_args)


def open_client(p, client_tls: str) -> Conn:
    return connect_client(p.port, tls=client_context(p) if client_tls == "implicit" else None)


def negotiate_as_upstream(conn: Conn, proto: str, ctx: ssl.SSLContext) -> bytes:
    """The server's half of mailtap's own STARTTLS (negotiated mode). Returns what mailtap sent."""
    got = b""
    if proto == "smtp":
        got += conn.expect_line(b"EHLO ")
        conn.send(EHLO_REPLY)
    got += conn.expect_line(MAILTAP_STARTTLS[proto])
    conn.send(starttls_ok(proto, b"mailtap1"))
    conn.start_tls_server(ctx)
    return got


def serve_quit(conn: Conn, proto: str) -> None:
    conn.expect_line(QUIT[proto][0])
    conn.send(QUIT[proto][1])


def client_quit(client: Conn, proto: str) -> None:
    client.send(QUIT[proto][0])
    client.read_until(QUIT_REPLY_END[proto])
    client.close()


def the_transcript(p) -> list[dict]:
    [events] = validate_transcripts(p)
    return events


def warnings_and_errors(events) -> tuple[list, list]:
    return codes(events, "warning"), codes(events, "error")


def tls_legs(events) -> set[str]:
    return {e["leg"] for e in of_type(events, "tls")}


def assert_told_fatal(client: Conn, proto: str, *needles: bytes) -> bytes:
    """The client's first line is mailtap's protocol error, then the connection ends."""
    line = client.read_line()
    assert line.startswith(FATAL_PREFIX[proto]), line
    for needle in needles:
        assert needle in line, (needle, line)
    rest = client.read_until_eof()
    assert rest == b"", rest
    client.close()  # mailtap lingers for the client's close after its last words
    return line


# ---------------------------------------------------------------------------------------------
# Command injection (CVE-2011-0411 class): commands pipelined after STARTTLS in one segment.
# ---------------------------------------------------------------------------------------------

INJECTED = {  # payload -> proto -> the command pipelined after STARTTLS
    "guide": {"smtp": b"RSET\r\n", "imap": b"b NOOP\r\n", "pop3": b"CAPA\r\n"},
    # CVE-2011-0411 as exploited: the attacker's command runs with the victim's TLS session
    "credentials": {"smtp": CREDENTIALS["smtp"], "imap": CREDENTIALS["imap"],
                    "pop3": CREDENTIALS["pop3"]},
}
INJECTED_PREFIX = {"smtp": b"AUTH PLAIN ", "imap": b"b LOGIN alice ", "pop3": b"USER alice\r\n"}
SECRETS = {"smtp": b"AGFsaWNlAHMzY3IzdC1wYXNz", "imap": b"s3cr3t-pass"}
BEFORE_INJECTED = {"smtp": b"EHLO a\r\nSTARTTLS\r\n", "imap": b"a STARTTLS\r\n",
                   "pop3": b"STLS\r\n"}
AFTER_TLS = {"smtp": b"EHLO b\r\n", "imap": b"c NOOP\r\n", "pop3": b"STAT\r\n"}


def answer_after_tls(proto: str, line: bytes) -> bytes:
    """The scripted server's reply names the command it got, so the client can tell whose reply
    it reads."""
    seen = line.strip()
    return {"smtp": b"250 scripted got " + seen + b"\r\n",
            "imap": b"c OK scripted got " + seen + b"\r\n",
            "pop3": b"+OK scripted got " + seen + b"\r\n"}[proto]


@pytest.mark.parametrize("payload", ["guide", "credentials"])
@pytest.mark.parametrize("upstream_tls", ["starttls", "implicit", "plain"])
@pytest.mark.parametrize("proto", PROTOS)
def test_command_injection_after_starttls(proxy, pki, proto, upstream_tls, payload):
    """Attack: the client pipelines a command after STARTTLS/STLS in the same segment
    (SMTP `EHLO a\\r\\nSTARTTLS\\r\\nRSET\\r\\n`, IMAP `a STARTTLS\\r\\nb NOOP\\r\\n`, POP3
    `STLS\\r\\nCAPA\\r\\n`; or, as CVE-2011-0411 was exploited, `AUTH PLAIN ...` /
    `b LOGIN ...` / `USER ...`), hoping it is executed inside TLS.
    mailtap: passes STARTTLS through (upstream starttls) or answers it itself (upstream
    implicit/plain), drops the pipelined command, and the conversation inside TLS starts afresh:
    the server's first TLS command is the client's first TLS command, and the client's first
    reply inside TLS answers it.
    Transcript: the injected bytes as `client → mailtap` data (a password redacted, and found
    nowhere in the file), never `client → server`; warning `starttls_command_injection`; TLS on
    the client leg."""
    injected = INJECTED[payload][proto]
    segment = BEFORE_INJECTED[proto] + injected
    passthrough = upstream_tls == "starttls"
    ctx = pki.server_context()

    def script(conn: Conn):
        conn.send(GREETING[proto])
        if proto == "smtp":
            conn.expect_line(b"EHLO a\r\n")
            conn.send(EHLO_REPLY)
        if passthrough:
            conn.expect_line(CLIENT_STARTTLS[proto])
            conn.send(starttls_ok(proto))
            conn.start_tls_server(ctx)
        line = conn.read_line()
        conn.send(answer_after_tls(proto, line))
        serve_quit(conn, proto)

    server = ScriptedServer(script, implicit_tls=ctx if upstream_tls == "implicit" else None)
    p = start_proxy(proxy, pki, server, proto, "starttls", upstream_tls)
    client = open_client(p, "starttls")
    client.expect_line(GREETING_PREFIX[proto])
    client.send(segment)
    if proto == "smtp":
        ehlo = client.read_smtp_reply()
        assert ehlo.startswith(b"250-") and b"STARTTLS" in ehlo, \
            f"the client's first reply must answer its EHLO, got {ehlo!r}"
    upgrade = client.read_line()
    assert upgrade.startswith({"smtp": b"220 ", "imap": b"a OK", "pop3": b"+OK"}[proto]), upgrade
    client.start_tls_client(client_context(p))
    client.send(AFTER_TLS[proto])
    first = client.read_line()
    assert first == answer_after_tls(proto, AFTER_TLS[proto]), \
        f"the first reply inside TLS must answer {AFTER_TLS[proto]!r}, got {first!r}"
    client_quit(client, proto)

    conn = server.join()
    tls_part = AFTER_TLS[proto] + QUIT[proto][0]
    ehlo_part = b"EHLO a\r\n" if proto == "smtp" else b""
    if passthrough:
        assert conn.received_clear == ehlo_part + CLIENT_STARTTLS[proto]
        assert conn.received_tls == tls_part
    elif upstream_tls == "implicit":
        assert conn.received_clear == b""
        assert conn.received_tls == ehlo_part + tls_part
    else:
        assert conn.received_clear == ehlo_part + tls_part
    assert injected not in conn.received

    events = the_transcript(p)
    warnings, errors = warnings_and_errors(events)
    assert "starttls_command_injection" in warnings
    assert errors == []
    # Passwords are redacted in transcripts (no --reveal-secrets): the dropped line is recorded
    # up to its secret, and the secret appears nowhere in the file.
    recorded = injected if payload == "guide" else INJECTED_PREFIX[proto]
    assert recorded in joined(events, "client", "mailtap")
    assert recorded not in joined(events, "client", "server")
    if payload == "credentials" and proto != "pop3":
        assert not any(SECRETS[proto] in json.dumps(e).encode() for e in events)
    requested = [e for e in of_type(events, "starttls") if e["phase"] == "requested"]
    assert requested and requested[0]["handled_by"] == ("server" if passthrough else "mailtap")
    assert "client" in tls_legs(events)


# ---------------------------------------------------------------------------------------------
# Response injection (CVE-2021-22947 class): replies buffered after the positive STARTTLS reply.
# ---------------------------------------------------------------------------------------------

RESPONSE_INJECTION = {  # what follows the positive reply in the same segment
    "smtp": b"250 AUTH LOGIN\r\n",
    "imap": b"* OK [ALERT] injected before TLS\r\n",
    "pop3": b"+OK injected before TLS\r\n",
}


@pytest.mark.parametrize("client_tls", ["starttls", "plain", "implicit"])
@pytest.mark.parametrize("proto", PROTOS)
def test_response_injection_after_starttls_reply(proxy, pki, proto, client_tls):
    """Attack: the upstream (or someone on its path) answers STARTTLS with the positive reply and
    more bytes in the same segment (SMTP `220 Ready\\r\\n250 AUTH LOGIN\\r\\n`, IMAP a tagged OK
    and `* OK [ALERT] ...`, POP3 `+OK` and another `+OK`), hoping they are read as the first
    replies inside TLS (CVE-2021-22947).
    mailtap: trusts none of it. It never starts TLS with the upstream (the server receives no
    ClientHello, nothing after STARTTLS), aborts the session, and tells the client with its own
    protocol error, in cleartext, after the client's handshake (implicit) or as the greeting
    (negotiated). In passthrough mode the positive reply itself is not delivered either.
    Transcript: error `starttls_response_injection`; the reply and the injected bytes as
    `server → mailtap` data and never `server → client`; no TLS on the upstream leg."""
    passthrough = client_tls == "starttls"
    tag = b"a" if passthrough else b"mailtap1"
    injected = RESPONSE_INJECTION[proto]

    def script(conn: Conn):
        conn.send(GREETING[proto])
        if proto == "smtp":
            conn.expect_line(b"EHLO a\r\n" if passthrough else b"EHLO ")
            conn.send(EHLO_REPLY)
        conn.expect_line(CLIENT_STARTTLS[proto] if passthrough else MAILTAP_STARTTLS[proto])
        conn.send(starttls_ok(proto, tag) + injected)

    server = ScriptedServer(script)
    p = start_proxy(proxy, pki, server, proto, client_tls, "starttls")
    client = open_client(p, client_tls)
    if passthrough:
        client.expect_line(GREETING_PREFIX[proto])
        if proto == "smtp":
            client.send(b"EHLO a\r\n")
            client.read_smtp_reply()
        client.send(CLIENT_STARTTLS[proto])
    told = assert_told_fatal(client, proto, b"after its positive STARTTLS reply")
    assert injected.strip() not in client.received
    assert starttls_ok(proto, tag) not in client.received

    conn = server.join()
    sent_by_mailtap = conn.received
    assert sent_by_mailtap.endswith(CLIENT_STARTTLS[proto] if passthrough
                                    else MAILTAP_STARTTLS[proto]), sent_by_mailtap
    assert conn.received_tls == b"" and b"\x16\x03" not in sent_by_mailtap  # no ClientHello

    events = the_transcript(p)
    warnings, errors = warnings_and_errors(events)
    assert errors == ["starttls_response_injection"]
    assert injected in joined(events, "server", "mailtap")
    assert injected not in joined(events, "server", "client")
    assert starttls_ok(proto, tag) in joined(events, "server", "mailtap")
    assert "server" not in tls_legs(events)
    assert told in joined(events, "mailtap", "client")


# ---------------------------------------------------------------------------------------------
# Stripping: STARTTLS not offered, refused, or answered with a continuation, TLS required.
# ---------------------------------------------------------------------------------------------

# variant -> (does the upstream offer STARTTLS, its reply to STARTTLS; b"TAG" is replaced)
STRIPPING = {
    "smtp": {"not_offered": (False, b"502 5.5.1 Unrecognized command\r\n"),
             "refused_454": (True, b"454 4.7.0 TLS not available due to temporary reason\r\n"),
             "continuation_334": (True, b"334 \r\n")},
    "imap": {"not_offered": (False, b"TAG BAD Unknown command\r\n"),
             "refused_NO": (True, b"TAG NO STARTTLS is disabled\r\n"),
             "refused_BAD": (True, b"TAG BAD STARTTLS not now\r\n"),
             "continuation_plus": (True, b"+ go ahead\r\n")},
    "pop3": {"not_offered": (False, b"-ERR unknown command\r\n"),
             "refused_ERR": (True, b"-ERR TLS not available\r\n"),
             "continuation_plus": (True, b"+ \r\n")},
}
STRIPPING_CASES = [(proto, variant) for proto in PROTOS for variant in STRIPPING[proto]]


@pytest.mark.parametrize("client_tls", ["starttls", "plain", "implicit"])
@pytest.mark.parametrize("proto,variant", STRIPPING_CASES)
def test_stripping_fails_closed(proxy, pki, proto, variant, client_tls):
    """Attack: STARTTLS stripping. The upstream (or someone on its path) does not offer
    STARTTLS, refuses it (`454`, `NO`, `BAD`, `-ERR`), or answers it with a continuation request
    (`334`, `+ `), while TLS to the upstream is required (`--upstream-tls starttls`).
    mailtap fails closed. Negotiated (client plain/implicit): the session ends before the client
    gets a greeting, with a protocol error naming the refusal; the server received only mailtap's
    EHLO/STARTTLS. Passthrough (client starttls): a refusal is relayed so the client knows, and
    the credentials the client then sends in cleartext are answered by mailtap ("TLS required")
    and never reach the server; a continuation request is not a reply at all, so the session ends
    with an error.
    Transcript: negotiated: error `upstream_starttls_unavailable`, no upstream TLS; passthrough
    refusal: warnings `upstream_refused_starttls` and `credentials_blocked`, the credential line
    as `client → mailtap` data, never `client → server`."""
    offered, reply = STRIPPING[proto][variant]
    passthrough = client_tls == "starttls"
    continuation = variant.startswith("continuation")
    tag = b"a" if passthrough else b"mailtap1"
    reply = reply.replace(b"TAG", tag)
    greeting = GREETING[proto]
    if proto == "imap" and not offered:
        greeting = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] scripted ready\r\n"
    ehlo_reply = EHLO_REPLY if offered else EHLO_REPLY_NO_STARTTLS

    def script(conn: Conn):
        conn.send(greeting)
        if proto == "smtp":
            conn.expect_line(b"EHLO a\r\n" if passthrough else b"EHLO ")
            conn.send(ehlo_reply)
            if not offered and not passthrough:
                return  # mailtap must give up here, before sending STARTTLS
        conn.expect_line(CLIENT_STARTTLS[proto] if passthrough else MAILTAP_STARTTLS[proto])
        conn.send(reply)
        if passthrough and not continuation:
            serve_quit(conn, proto)

    server = ScriptedServer(script)
    p = start_proxy(proxy, pki, server, proto, client_tls, "starttls")
    client = open_client(p, client_tls)
    if not passthrough:
        told = assert_told_fatal(client, proto)
        if proto == "smtp" and not offered:
            assert b"does not offer STARTTLS" in told, told
        else:
            assert reply.strip() in told, f"the error should quote the upstream's {reply!r}: {told!r}"
    else:
        client.expect_line(GREETING_PREFIX[proto])
        if proto == "smtp":
            client.send(b"EHLO a\r\n")
            ehlo = client.read_smtp_reply()
            assert (b"STARTTLS" in ehlo) == offered, ehlo
        client.send(CLIENT_STARTTLS[proto])
        if continuation:
            told = assert_told_fatal(client, proto, b"continuation")
        else:
            assert client.read_line() == reply  # the refusal, relayed
            client.send(CREDENTIALS[proto])
            refusal = client.read_line()
            assert refusal.startswith(TLS_REQUIRED_PREFIX[proto]), refusal
            client_quit(client, proto)

    conn = server.join()
    assert CREDENTIAL_VERB[proto] not in conn.received
    assert conn.received_tls == b""
    events = the_transcript(p)
    warnings, errors = warnings_and_errors(events)
    assert "server" not in tls_legs(events)
    assert not any(CREDENTIAL_VERB[proto] in data_bytes(e) for e in data(events, "client", "server"))
    if passthrough and not continuation:
        assert conn.received == ((b"EHLO a\r\n" if proto == "smtp" else b"")
                                 + CLIENT_STARTTLS[proto] + QUIT[proto][0])
        assert errors == []
        assert "upstream_refused_starttls" in warnings and "credentials_blocked" in warnings
        assert any(data_bytes(e).startswith(INJECTED_PREFIX[proto])
                   for e in data(events, "client", "mailtap"))
        if proto in SECRETS:
            assert not any(SECRETS[proto] in json.dumps(e).encode() for e in events)
    else:
        assert errors == ["upstream_starttls_unavailable"]
        assert told in joined(events, "mailtap", "client")
        if not passthrough:
            expected = MAILTAP_STARTTLS[proto] if offered or proto != "smtp" else b""
            assert conn.received.endswith(expected)
            assert joined(events, "server", "client") == b""  # not even the greeting


# ---------------------------------------------------------------------------------------------
# IMAP: PREAUTH greeting, and untagged responses before TLS.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_tls", ["starttls", "plain", "implicit"])
def test_imap_preauth_greeting_fails_closed(proxy, pki, client_tls):
    """Attack: the upstream greets with `* PREAUTH` (already authenticated), which makes
    STARTTLS impossible (RFC 3501 6.2.1), while TLS to it is required.
    mailtap: ends the session at once with `* BYE mailtap: ... PREAUTH ...`, in every client
    mode (after the client's handshake when implicit); the server receives nothing at all.
    Transcript: error `upstream_starttls_unavailable`; the PREAUTH line as `server → mailtap`
    data, never delivered to the client."""
    preauth = b"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] logged in as alice\r\n"

    def script(conn: Conn):
        conn.send(preauth)

    server = ScriptedServer(script)
    p = start_proxy(proxy, pki, server, "imap", client_tls, "starttls")
    client = open_client(p, client_tls)
    assert_told_fatal(client, "imap", b"PREAUTH")
    conn = server.join()
    assert conn.received == b""
    events = the_transcript(p)
    warnings, errors = warnings_and_errors(events)
    assert errors == ["upstream_starttls_unavailable"]
    assert joined(events, "server", "mailtap") == preauth
    assert joined(events, "server", "client") == b""
    assert "server" not in tls_legs(events)


UNTAGGED = b"* 7 EXISTS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n* OK [ALERT] pre-TLS alert\r\n"


@pytest.mark.parametrize("client_tls", ["starttls", "plain", "implicit"])
def test_imap_untagged_responses_before_starttls_reply(proxy, pki, client_tls):
    """Attack: between STARTTLS and its tagged OK the upstream sends untagged EXISTS,
    CAPABILITY and `OK [ALERT]` responses, in the same segment, hoping one is taken as the
    STARTTLS reply or carried into TLS.
    mailtap: only the tagged reply decides. Passthrough: the untagged lines reach the client in
    cleartext, before the tagged OK, and TLS starts only after that OK. Negotiated: they were
    answers to mailtap's own STARTTLS and are never shown to the client. Either way the first
    bytes inside TLS, on both legs, belong to the client's first TLS command.
    Transcript: passthrough: the untagged lines as `server → client` with `tls` false;
    negotiated: as `server → mailtap`; no warning or error; TLS on both legs."""
    passthrough = client_tls == "starttls"
    ctx = pki.server_context()
    tag = b"a" if passthrough else b"mailtap1"

    def script(conn: Conn):
        conn.send(GREETING["imap"])
        conn.expect_line(CLIENT_STARTTLS["imap"] if passthrough else MAILTAP_STARTTLS["imap"])
        conn.send(UNTAGGED + starttls_ok("imap", tag))
        conn.start_tls_server(ctx)
        conn.expect_line(b"c CAPABILITY\r\n")
        conn.send(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nc OK CAPABILITY completed\r\n")
        serve_quit(conn, "imap")

    server = ScriptedServer(script)
    p = start_proxy(proxy, pki, server, "imap", client_tls, "starttls")
    client = open_client(p, client_tls)
    client.expect_line(b"* OK")
    if passthrough:
        client.send(CLIENT_STARTTLS["imap"])
        assert client.read_until(b"a OK") == UNTAGGED + b"a OK"
        client.read_line()
        client.start_tls_client(client_context(p))
    client.send(b"c CAPABILITY\r\n")
    assert client.read_until(b"c OK") == b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nc OK"
    client.read_line()
    client_quit(client, "imap")
    if not passthrough:
        assert b"EXISTS" not in client.received and b"ALERT" not in client.received
    else:
        assert b"EXISTS" not in client.received_tls and b"ALERT" not in client.received_tls

    conn = server.join()
    assert conn.received_tls == b"c CAPABILITY\r\n" + QUIT["imap"][0]
    events = the_transcript(p)
    warnings, errors = warnings_and_errors(events)
    assert errors == [] and warnings == []
    assert tls_legs(events) == ({"server"} if client_tls == "plain" else {"client", "server"})
    if passthrough:
        relayed = [e for e in data(events, "server", "client") if not e["tls"]]
        assert UNTAGGED in b"".join(data_bytes(e) for e in relayed)
    else:
        assert UNTAGGED in joined(events, "server", "mailtap")
        assert b"EXISTS" not in joined(events, "server", "client")


# ---------------------------------------------------------------------------------------------
# Literals and bodies that contain STARTTLS: data, never a command.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["synchronizing", "literal_plus"])
@pytest.mark.parametrize("upstream_tls", ["starttls", "plain"])
def test_imap_client_literal_containing_starttls_is_data(proxy, pki, upstream_tls, literal):
    """Attack: an IMAP APPEND whose literal content is `b STARTTLS\\r\\n` (JAMES-1862), sent as
    a synchronizing literal (`{12}`, after the server's `+`) or LITERAL+ (`{12+}`, one segment).
    mailtap: relays the literal as data; it neither answers nor forwards a STARTTLS, and no TLS
    starts on either leg. The server receives the exact bytes; the client gets the server's
    APPEND reply.
    Transcript: the literal as a `literal` frame `client → server`; no `starttls` or `tls`
    event, no warning or error."""
    content = b"b STARTTLS\r\n"

    def script(conn: Conn):
        conn.send(GREETING["imap"])
        if literal == "synchronizing":
            conn.expect_line(b"a APPEND INBOX {12}\r\n")
            conn.send(b"+ Ready for literal data\r\n")
        else:
            conn.expect_line(b"a APPEND INBOX {12+}\r\n")
        assert conn.read_until(b"\r\n\r\n") == content + b"\r\n"
        conn.send(b"a OK APPEND completed\r\n")
        serve_quit(conn, "imap")

    server = ScriptedServer(script)
    p = start_proxy(proxy, pki, server, "imap", "starttls", upstream_tls)
    client = open_client(p, "starttls")
    client.expect_line(b"* OK")
    if literal == "synchronizing":
        client.send(b"a APPEND INBOX {12}\r\n")
        client.expect_line(b"+ ")
        client.send(content + b"\r\n")
    else:
        client.send(b"a APPEND INBOX {12+}\r\n" + content + b"\r\n")
    assert client.read_line() == b"a OK APPEND completed\r\n"
    client_quit(client, "imap")

    conn = server.join()
    marker = b"{12}" if literal == "synchronizing" else b"{12+}"
    assert conn.received_clear == (b"a APPEND INBOX " + marker + b"\r\n" + content + b"\r\n"
                                   + QUIT["imap"][0])
    events = the_transcript(p)
    assert warnings_and_errors(events) == ([], [])
    assert of_type(events, "starttls") == [] and of_type(events, "tls") == []
    literals = [e for e in data(events, "client", "server") if e["frame"] == "literal"]
    assert b"".join(data_bytes(e) for e in literals) == content


def test_imap_server_literal_containing_tagged_ok_is_data(proxy, pki):
    """Attack: with the client's `a STARTTLS` pending (pipelined after a FETCH), the upstream's
    FETCH response carries a literal whose content is `a OK Begin TLS\\r\\n`, then refuses the
    STARTTLS with `a NO`. A proxy that read the literal as a line would start TLS.
    mailtap (passthrough): the literal is data relayed to the client; only the real tagged
    `a NO` answers STARTTLS; no TLS starts; credentials stay blocked.
    Transcript: the literal as a `literal` frame `server → client`; warning
    `upstream_refused_starttls`; no `tls` event."""
    fetch = b"* 1 FETCH (BODY[] {16}\r\na OK Begin TLS\r\n)\r\nf OK FETCH completed\r\n"

    def script(conn: Conn):
        conn.send(GREETING["imap"])
        conn.expect_line(b"f FETCH 1 BODY[]\r\n")
        conn.expect_line(b"a STARTTLS\r\n")
        conn.send(fetch + b"a NO not now\r\n")
        serve_quit(conn, "imap")

    server = ScriptedServer(script)
    p = start_proxy(proxy, pki, server, "imap", "starttls", "starttls")
    client = open_client(p, "starttls")
    client.expect_line(b"* OK")
    client.send(b"f FETCH 1 BODY[]\r\na STARTTLS\r\n")
    assert client.read_until(b"a NO not now\r\n") == fetch + b"a NO not now\r\n"
    client_quit(client, "imap")
    conn = server.join()
    assert conn.received == b"f FETCH 1 BODY[]\r\na STARTTLS\r\n" + QUIT["imap"][0]
    events = the_transcript(p)
    warnings, errors = warnings_and_errors(events)
    assert errors == [] and "upstream_refused_starttls" in warnings
    assert of_type(events, "tls") == []
    literals = [e for e in data(events, "server", "client") if e["frame"] == "literal"]
    assert b"".join(data_bytes(e) for e in literals) == b"a OK Begin TLS\r\n"


@pytest.mark.parametrize("upstream_tls", ["starttls", "plain"])
def test_smtp_data_body_containing_starttls_is_data(proxy, pki, upstream_tls):
    """Attack (SMTP form of the literal differential): a DATA message whose body has a line
    `STARTTLS`, before any TLS.
    mailtap: relays it as message body; no STARTTLS is answered or forwarded; no TLS starts.
    Transcript: the line inside a `body` frame `client → server`; no `starttls`/`tls` event."""
    body = b"Subject: test\r\n\r\nSTARTTLS\r\n"

    def script(conn: Conn):
        conn.send(GREETING["smtp"])
        conn.expect_line(b"EHLO a\r\n")
        conn.send(EHLO_REPLY)
        conn.expect_line(b"MAIL FROM:<a@example.org>\r\n")
        conn.send(b"250 2.1.0 Ok\r\n")
        conn.expect_line(b"RCPT TO:<b@example.org>\r\n")
        conn.send(b"250 2.1.5 Ok\r\n")
        conn.expect_line(b"DATA\r\n")
        conn.send(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        assert conn.read_until(b"\r\n.\r\n") == body + b".\r\n"
        conn.send(b"250 2.0.0 Ok: queued\r\n")
        serve_quit(conn, "smtp")

    server = ScriptedServer(script)
    p = start_proxy(proxy, pki, server, "smtp", "starttls", upstream_tls)
    client = open_client(p, "starttls")
    client.expect_line(b"220 ")
    client.send(b"EHLO a\r\n")
    client.read_smtp_reply()
    for command, reply in [(b"MAIL FROM:<a@example.org>\r\n", b"250 "),
                           (b"RCPT TO:<b@example.org>\r\n", b"250 "), (b"DATA\r\n", b"354 ")]:
        client.send(command)
        client.expect_line(reply)
    client.send(body + b".\r\n")
    client.expect_line(b"250 2.0.0 Ok: queued")
    client_quit(client, "smtp")
    conn = server.join()
    assert body in conn.received_clear and conn.received_tls == b""
    events = the_transcript(p)
    assert warnings_and_errors(events) == ([], [])
    assert of_type(events, "starttls") == [] and of_type(events, "tls") == []
    bodies = [e for e in data(events, "client", "server") if e["frame"] == "body"]
    assert b"STARTTLS\r\n" in b"".join(data_bytes(e) for e in bodies)


def test_pop3_retr_body_containing_ok_is_data(proxy, pki):
    """Attack (POP3 form): the client pipelines `RETR 1` and `STLS`; the RETR body holds a line
    `+OK Begin TLS`, and the real reply to STLS is `-ERR`. A proxy pairing the body line with
    STLS would start TLS.
    mailtap (passthrough): the body is data relayed to the client; `-ERR` answers STLS; no TLS.
    Transcript: the line inside a `body` frame `server → client`; warning
    `upstream_refused_starttls`; no `tls` event."""
    retr = b"+OK 17 octets\r\n+OK Begin TLS\r\n.\r\n"

    def script(conn: Conn):
        conn.send(GREETING["pop3"])
        conn.expect_line(b"RETR 1\r\n")
        conn.expect_line(b"STLS\r\n")
        conn.send(retr + b"-ERR not now\r\n")
        serve_quit(conn, "pop3")

    server = ScriptedServer(script)
    p = start_proxy(proxy, pki, server, "pop3", "starttls", "starttls")
    client = open_client(p, "starttls")
    client.expect_line(b"+OK")
    client.send(b"RETR 1\r\nSTLS\r\n")
    assert client.read_until(b"-ERR not now\r\n") == retr + b"-ERR not now\r\n"
    client_quit(client, "pop3")
    conn = server.join()
    assert conn.received == b"RETR 1\r\nSTLS\r\n" + QUIT["pop3"][0]
    events = the_transcript(p)
    warnings, errors = warnings_and_errors(events)
    assert errors == [] and "upstream_refused_starttls" in warnings
    assert of_type(events, "tls") == []
    bodies = [e for e in data(events, "server", "client") if e["frame"] == "body"]
    assert b"+OK Begin TLS\r\n" in b"".join(data_bytes(e) for e in bodies)


# ---------------------------------------------------------------------------------------------
# No upgrade on sniffed bytes: cleartext that looks like a ClientHello / ServerHello.
# ---------------------------------------------------------------------------------------------

# A TLS 1.2 ClientHello record (16 03 01 ...), fixed bytes (no CR, LF or brace inside), and a
# ServerHello-looking record for the other direction.
CLIENT_HELLO = (b"\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03" + b"\x5a" * 32 +
                b"\x00\x00\x04\xc0\x2f\x00\x9c\x01\x00")
SERVER_HELLO = b"\x16\x03\x03\x00\x2a\x02\x00\x00\x26\x03\x03" + b"\x6b" * 32 + b"\x00\xc0\x2f\x00"


@pytest.mark.parametrize("modes", [("starttls", "starttls"), ("starttls", "plain"),
                                   ("plain", "plain")], ids=lambda m: "-".join(m))
@pytest.mark.parametrize("proto", PROTOS)
def test_cleartext_hello_bytes_never_upgrade(proxy, pki, proto, modes):
    """Attack: in cleartext, with no STARTTLS, the client sends bytes that look like a TLS
    ClientHello (`16 03 01 ...`) and the server answers with bytes that look like a ServerHello
    (`16 03 03 ...`), hoping mailtap sniffs them and switches to TLS (sslsplit autossl).
    mailtap: relays both as ordinary protocol lines, byte for byte; no leg switches to TLS.
    Transcript: the bytes as `client → server` and `server → client` data, `tls` false; no
    `starttls` or `tls` event; no error."""
    client_tls, upstream_tls = modes

    def script(conn: Conn):
        conn.send(GREETING[proto])
        assert conn.read_until(b"\r\n") == CLIENT_HELLO + b"\r\n"
        conn.send(SERVER_HELLO + b"\r\n")
        serve_quit(conn, proto)

    server = ScriptedServer(script)
    p = start_proxy(proxy, pki, server, proto, client_tls, upstream_tls)
    client = open_client(p, client_tls)
    client.expect_line(GREETING_PREFIX[proto])
    client.send(CLIENT_HELLO + b"\r\n")
    assert client.read_until(b"\r\n") == SERVER_HELLO + b"\r\n"
    client_quit(client, proto)
    conn = server.join()
    assert conn.received == CLIENT_HELLO + b"\r\n" + QUIT[proto][0]
    assert conn.received_tls == b"" and client.received_tls == b""
    events = the_transcript(p)
    warnings, errors = warnings_and_errors(events)
    assert errors == []
    assert of_type(events, "starttls") == [] and of_type(events, "tls") == []
    assert CLIENT_HELLO in joined(events, "client", "server")
    assert SERVER_HELLO in joined(events, "server", "client")
    assert not any(e["tls"] for e in data(events))


# ---------------------------------------------------------------------------------------------
# TLS downgrade: an upstream that offers only TLS 1.0, or only a NULL cipher.
# ---------------------------------------------------------------------------------------------

DOWNGRADE_MODES = [("implicit", "implicit"), ("starttls", "starttls"), ("plain", "starttls")]


def downgrade_script(proto, upstream_tls, client_tls, ctx, ok_after):
    """The upstream's side: greeting (inside TLS when implicit), STARTTLS when asked (by the
    client in passthrough, by mailtap when negotiating), then one command and QUIT."""

    def script(conn: Conn):
        conn.send(GREETING[proto])
        if upstream_tls == "starttls":
            passthrough = client_tls == "starttls"
            if proto == "smtp":
                conn.expect_line(b"EHLO a\r\n" if passthrough else b"EHLO ")
                conn.send(EHLO_REPLY)
            conn.expect_line(CLIENT_STARTTLS[proto] if passthrough else MAILTAP_STARTTLS[proto])
            conn.send(starttls_ok(proto, b"a" if passthrough else b"mailtap1"))
            conn.start_tls_server(ctx)  # raises (recorded as tls_error) when mailtap refuses
        if ok_after:
            line = conn.read_line()
            conn.send(answer_after_tls(proto, line))
            serve_quit(conn, proto)

    return script


def client_until_upstream_tls(client: Conn, p, proto, client_tls) -> None:
    """The client's side up to the point where mailtap has TLS with the upstream."""
    if client_tls == "starttls":
        client.expect_line(GREETING_PREFIX[proto])
        if proto == "smtp":
            client.send(b"EHLO a\r\n")
            client.read_smtp_reply()
        client.send(CLIENT_STARTTLS[proto])


@pytest.mark.parametrize("modes", DOWNGRADE_MODES, ids=lambda m: "-".join(m))
@pytest.mark.parametrize("weakness", ["tls1_0_only", "null_cipher_only"])
@pytest.mark.parametrize("proto", PROTOS)
def test_downgraded_upstream_is_refused_by_default(proxy, pki, proto, weakness, modes):
    """Attack: TLS downgrade. The upstream offers only TLS 1.0 (RFC 8996 deprecated), or only
    the NULL-SHA256 cipher (no encryption), hoping mailtap settles for it.
    mailtap (no --allow-legacy-tls): refuses the handshake and ends the session with a protocol
    error to the client that says TLS with the upstream failed; for TLS 1.0 it names
    --allow-legacy-tls. Nothing but the handshake reaches the server.
    Transcript: error `upstream_tls_failed`; no `tls` event for the upstream leg."""
    client_tls, upstream_tls = modes
    ctx = (pki.server_context(only_tls10=True) if weakness == "tls1_0_only"
           else pki.server_context(ciphers="NULL-SHA256:@SECLEVEL=0"))
    server = ScriptedServer(downgrade_script(proto, upstream_tls, client_tls, ctx, False),
                            implicit_tls=ctx if upstream_tls == "implicit" else None)
    p = start_proxy(proxy, pki, server, proto, client_tls, upstream_tls)
    client = open_client(p, client_tls)
    client_until_upstream_tls(client, p, proto, client_tls)
    needles = [b"TLS with the upstream failed"]
    if weakness == "tls1_0_only":
        needles.append(b"--allow-legacy-tls")
    told = assert_told_fatal(client, proto, *needles)
    conn = server.join(tls_may_fail=True)
    assert server.tls_error, "the scripted server's handshake should have failed"
    assert conn.received_tls == b""
    events = the_transcript(p)
    warnings, errors = warnings_and_errors(events)
    assert errors == ["upstream_tls_failed"]
    assert "server" not in tls_legs(events)
    assert told in joined(events, "mailtap", "client")
    if weakness == "tls1_0_only":
        assert "--allow-legacy-tls" in of_type(events, "error")[0]["message"]


@pytest.mark.parametrize("modes", DOWNGRADE_MODES, ids=lambda m: "-".join(m))
@pytest.mark.parametrize("proto", PROTOS)
def test_tls10_upstream_with_allow_legacy_tls_is_used_and_said(proxy, pki, proto, modes):
    """Attack: as above, the upstream offers only TLS 1.0; this time the user passed
    --allow-legacy-tls.
    mailtap: completes TLS 1.0 with the upstream and relays the session normally.
    Transcript: the upstream leg's `tls` event says version `TLSv1`, and warning
    `old_tls_version` says it is obsolete."""
    client_tls, upstream_tls = modes
    ctx = pki.server_context(only_tls10=True)
    server = ScriptedServer(downgrade_script(proto, upstream_tls, client_tls, ctx, True),
                            implicit_tls=ctx if upstream_tls == "implicit" else None)
    p = start_proxy(proxy, pki, server, proto, client_tls, upstream_tls,
                    extra_args=["--allow-legacy-tls"])
    client = open_client(p, client_tls)
    client_until_upstream_tls(client, p, proto, client_tls)
    if client_tls == "starttls":
        client.expect_line({"smtp": b"220 ", "imap": b"a OK", "pop3": b"+OK"}[proto])
        client.start_tls_client(client_context(p))
    else:
        client.expect_line(GREETING_PREFIX[proto])
    client.send(AFTER_TLS[proto])
    assert client.read_line() == answer_after_tls(proto, AFTER_TLS[proto])
    client_quit(client, proto)
    conn = server.join()
    assert server.tls_error is None and conn.version == "TLSv1"
    assert conn.received_tls.startswith(AFTER_TLS[proto])
    events = the_transcript(p)
    warnings, errors = warnings_and_errors(events)
    assert errors == [] and "old_tls_version" in warnings
    server_tls = [e for e in of_type(events, "tls") if e["leg"] == "server"]
    assert server_tls and server_tls[0]["version"] == "TLSv1"


@pytest.mark.parametrize("proto", PROTOS)
def test_null_cipher_upstream_is_refused_even_with_allow_legacy_tls(proxy, pki, proto):
    """Attack: the upstream offers only NULL-SHA256 (integrity but no encryption) and the user
    passed --allow-legacy-tls.
    mailtap: still refuses: the legacy option lowers the protocol floor and security level, but
    OpenSSL's DEFAULT list never includes eNULL suites, so the session ends with an error.
    Transcript: error `upstream_tls_failed`; no `tls` event for the upstream leg."""
    ctx = pki.server_context(ciphers="NULL-SHA256:@SECLEVEL=0")
    server = ScriptedServer(downgrade_script(proto, "implicit", "implicit", ctx, False),
                            implicit_tls=ctx)
    p = start_proxy(proxy, pki, server, proto, "implicit", "implicit",
                    extra_args=["--allow-legacy-tls"])
    client = open_client(p, "implicit")
    assert_told_fatal(client, proto, b"TLS with the upstream failed")
    server.join(tls_may_fail=True)
    assert server.tls_error
    events = the_transcript(p)
    assert warnings_and_errors(events)[1] == ["upstream_tls_failed"]
    assert "server" not in tls_legs(events)


@pytest.mark.parametrize("proto", PROTOS)
def test_static_rsa_cbc_sha1_upstream_is_refused_by_default(proxy, pki, proto):
    """Attack: TLS downgrade to a weak cipher suite. The upstream offers only AES128-SHA (TLS 1.2,
    static RSA key exchange: no forward secrecy; CBC with HMAC-SHA1).
    mailtap: without --allow-legacy-tls its upstream context offers only forward-secret AEAD
    suites, so the handshake fails; the client is told in its protocol's words.
    Transcript: error `upstream_tls_failed`, no TLS event for the server leg."""
    ctx = pki.server_context(ciphers="AES128-SHA")
    server = ScriptedServer(downgrade_script(proto, "implicit", "implicit", ctx, True),
                            implicit_tls=ctx)
    p = start_proxy(proxy, pki, server, proto, "implicit", "implicit")
    client = open_client(p, "implicit")
    line = client.read_line()
    if line.startswith(GREETING_PREFIX[proto]):  # accepted: finish the session cleanly first
        client.send(AFTER_TLS[proto])
        client.read_line()
        client_quit(client, proto)
    server.join(tls_may_fail=True)
    events = the_transcript(p)
    server_tls = [e for e in of_type(events, "tls") if e["leg"] == "server"]
    assert not server_tls, f"mailtap completed TLS with the upstream: {server_tls[0]['cipher']}"
    assert line.startswith(FATAL_PREFIX[proto]), line
    assert warnings_and_errors(events)[1] == ["upstream_tls_failed"]


@pytest.mark.parametrize("proto", PROTOS)
def test_static_rsa_cbc_sha1_upstream_with_allow_legacy_tls_is_used_and_said(proxy, pki, proto):
    """Attack: as above (the upstream offers only AES128-SHA); this time the user passed
    --allow-legacy-tls.
    mailtap: completes TLS with that suite and relays the session.
    Transcript: the upstream leg's `tls` event names the cipher, and warning `weak_cipher` says
    it has no forward secrecy or AEAD."""
    ctx = pki.server_context(ciphers="AES128-SHA")
    server = ScriptedServer(downgrade_script(proto, "implicit", "implicit", ctx, True),
                            implicit_tls=ctx)
    p = start_proxy(proxy, pki, server, proto, "implicit", "implicit",
                    extra_args=["--allow-legacy-tls"])
    client = open_client(p, "implicit")
    client.expect_line(GREETING_PREFIX[proto])
    client.send(AFTER_TLS[proto])
    assert client.read_line() == answer_after_tls(proto, AFTER_TLS[proto])
    client_quit(client, proto)
    server.join()
    events = the_transcript(p)
    warnings, errors = warnings_and_errors(events)
    assert errors == [] and "weak_cipher" in warnings
    server_tls = [e for e in of_type(events, "tls") if e["leg"] == "server"]
    assert server_tls and server_tls[0]["cipher"] == "AES128-SHA"


@pytest.mark.parametrize("client_tls", ["plain", "implicit"])
@pytest.mark.parametrize("proto", PROTOS)
def test_starttls_where_the_client_leg_has_none_is_refused(proxy, pki, proto, client_tls):
    """Attack: on a client leg without STARTTLS (plain, or already TLS), the client sends
    STARTTLS with a command pipelined after it, hoping for a transition anyway.
    mailtap: refuses STARTTLS itself (`454 4.7.0 mailtap:` / `a NO mailtap:` / `-ERR mailtap:`,
    "does not offer TLS" or "already active"); there is no transition, so the next command is an
    ordinary command and is relayed. The server never sees STARTTLS.
    Transcript: STARTTLS as `client → mailtap`, the refusal `mailtap → client`, the next command
    `client → server`; no `starttls` event and no warning or error."""
    ctx = pki.server_context()
    segment, _ = {"smtp": (b"STARTTLS\r\nNOOP\r\n", None), "imap": (b"a STARTTLS\r\nc NOOP\r\n", None),
                  "pop3": (b"STLS\r\nSTAT\r\n", None)}[proto]
    following = segment[segment.index(b"\n") + 1:]

    def script(conn: Conn):
        conn.send(GREETING[proto])
        line = conn.read_line()
        conn.send(answer_after_tls(proto, line))
        serve_quit(conn, proto)

    server = ScriptedServer(script, implicit_tls=ctx)
    p = start_proxy(proxy, pki, server, proto, client_tls, "implicit")
    client = open_client(p, client_tls)
    client.expect_line(GREETING_PREFIX[proto])
    client.send(segment)
    refusal = client.read_line()
    assert refusal.startswith({"smtp": b"454 4.7.0 mailtap: ", "imap": b"a NO mailtap: ",
                               "pop3": b"-ERR mailtap: "}[proto]), refusal
    assert (b"already active" if client_tls == "implicit" else b"does not offer TLS") in refusal
    assert client.read_line() == answer_after_tls(proto, following)
    client_quit(client, proto)
    conn = server.join()
    assert conn.received_tls == following + QUIT[proto][0]
    events = the_transcript(p)
    assert warnings_and_errors(events) == ([], [])
    assert of_type(events, "starttls") == []
    assert joined(events, "client", "mailtap") == segment[:segment.index(b"\n") + 1]
    assert refusal in joined(events, "mailtap", "client")
    assert following in joined(events, "client", "server")
