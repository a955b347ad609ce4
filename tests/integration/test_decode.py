"""Decoded transcripts through the proxy against the sandbox's real Postfix and Dovecot (issue 3).

Each test runs a real client (swaks, curl, python's imaplib) through `mailtap proxy`, then checks
what the decoders wrote on the events, not just that a transcript exists: parsed commands and
arguments, reply codes with their enhanced codes and meanings, replies paired with the commands
they answer (pipelined too), SASL steps decoded with the user name kept and the secrets redacted,
message summaries whose size and SHA-256 match the bytes the client really sent, IMAP tag pairing
and latency, literals, POP3 multi-line replies, and a note on every decoded event. Every
transcript is validated against docs/transcript.schema.json.

Field names: docs/transcript-format.md ("Decoded fields") and src/decode/*.cc.
"""

from __future__ import annotations

import base64
import hashlib
import imaplib
import poplib
import re
import ssl
import subprocess

import pytest

from sandbox import run, swaks, unique_token
from transcript_checks import data, data_bytes, validate_transcripts

REDACTED = re.compile(r"^<redacted len=\d+ h=[0-9a-f]+>$")


# --- helpers ----------------------------------------------------------------------------------


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def check_notes_everywhere(events: list[dict]) -> int:
    """Every event a decoder decoded carries a non-empty plain-language note. Returns how many."""
    count = 0
    for e in events:
        if "decoded" in e:
            count += 1
            assert isinstance(e.get("note"), str) and e["note"].strip(), \
                f"decoded event without a note: {e}"
    assert count, "no event was decoded at all"
    return count


def check_no_secret(proxy, *secrets: str) -> None:
    """No secret, nor its base64, appears in any transcript file of this proxy."""
    for f in proxy.transcript_files():
        raw = f.read_bytes()
        for s in secrets:
            assert s.encode() not in raw, f"{s!r} in {f}"
            assert base64.b64encode(s.encode()) not in raw, f"base64 of {s!r} in {f}"


def client_lines(events) -> list[dict]:
    return [e for e in data(events, "client", "server") if e["frame"] == "line"]


def server_lines(events) -> list[dict]:
    return [e for e in data(events, "server", "client") if e["frame"] == "line"]


def by_seq(events) -> dict[int, dict]:
    return {e["seq"]: e for e in events if "seq" in e}


def smtp_commands(events, verb: str) -> list[dict]:
    return [e for e in client_lines(events)
            if e.get("decoded", {}).get("command") == verb]


def smtp_replies_to(events, verb: str) -> list[dict]:
    return [e for e in server_lines(events)
            if isinstance(e.get("decoded", {}).get("answers"), dict)
            and e["decoded"]["answers"].get("command") == verb]


def only(items: list, what: str):
    assert len(items) == 1, f"expected exactly one {what}, got {len(items)}: {items}"
    return items[0]


def after_tls(events, leg: str = "client") -> list[dict]:
    """The events after the handshake on `leg`."""
    for i, e in enumerate(events):
        if e.get("type") == "tls" and e.get("leg") == leg:
            return events[i + 1:]
    raise AssertionError(f"no TLS handshake on the {leg} leg")


def unstuff(wire: bytes) -> bytes:
    """RFC 5321 4.5.2 / RFC 1939 3: a leading '.' of a line is removed."""
    lines = wire.split(b"\r\n")
    return b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines)


def body_bytes(events, frm: str) -> bytes:
    return b"".join(data_bytes(e) for e in events
                    if e.get("type") == "data" and e["frame"] == "body" and e["from"] == frm)


def message_file(subject: str, token: str, sender: str, to: str) -> bytes:
    """A message with CRLF line ends and a line starting with '.', which SMTP dot-stuffs. Without
    a final line end: swaks ends what --data gives with CRLF . CRLF."""
    return (f"From: Alice <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{token}@sandbox.test>\r\n"
            f"\r\nfirst line {token}\r\n.a line that starts with a dot\r\nlast line").encode()


def swaks_data(port: int, ca, user, mechanism: str, data_file, extra=()) -> None:
    """swaks sending `data_file` as the whole message (no headers of its own) over STARTTLS."""
    run(["swaks", "--server", f"127.0.0.1:{port}", "--to", user.address, "--from", user.address,
         "-tls", "--tls-verify", "--tls-ca-path", str(ca), "--auth", mechanism,
         "--auth-user", user.login, "--auth-password", user.password,
         "--data", str(data_file), "--timeout", "30", *extra], timeout=60)


# --- SMTP -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN", "CRAM-MD5"])
def test_swaks_auth_session_is_decoded(sandbox, proxy, tmp_path, mechanism):
    p = proxy("submission")
    alice = sandbox.user("alice")
    token = unique_token()
    file = message_file(f"decode {mechanism} {token}", token, alice.address, alice.address)
    (tmp_path / "message.eml").write_bytes(file)
    swaks_data(p.port, p.ca_pem, alice, mechanism, tmp_path / "message.eml")
    message = file + b"\r\n"  # what was sent before the final "."
    sandbox.wait_for_message(token)

    [events] = validate_transcripts(p)
    check_notes_everywhere(events)
    check_no_secret(p, alice.password, f"\0{alice.login}\0{alice.password}")
    seqs = by_seq(events)

    # Greeting and EHLO: capabilities parsed; AUTH only offered after TLS.
    greeting = server_lines(events)[0]
    assert greeting["decoded"]["code"] == 220
    assert greeting["decoded"]["answers"] == "greeting"
    ehlos = smtp_commands(events, "EHLO")
    assert len(ehlos) == 2, "EHLO before and after STARTTLS"
    assert all(e["decoded"]["args"]["domain"] for e in ehlos)
    ehlo_replies = [e for e in smtp_replies_to(events, "EHLO") if "capabilities" in e["decoded"]]
    assert len(ehlo_replies) == 2
    before, after = ehlo_replies
    assert "STARTTLS" in before["decoded"]["capabilities"]
    assert not before["tls"] and after["tls"]
    assert mechanism in after["decoded"]["capabilities"]["AUTH"]
    assert "SIZE" in after["decoded"]["capabilities"]
    assert after["decoded"]["domain"] == "mail.sandbox.test"
    # Each line of the multi-line reply is explained on its own.
    for e in server_lines(events):
        assert "decoded" in e, f"server line not decoded: {e}"
        if e["decoded"].get("continued"):
            assert e["decoded"]["code"] == 250
            assert "extension " in e["note"] or "the server's name" in e["note"], e["note"]
    starttls_reply = only(smtp_replies_to(events, "STARTTLS"), "STARTTLS reply")
    assert starttls_reply["decoded"]["code"] == 220
    assert "TLS handshake follows" in starttls_reply["note"]

    # AUTH: the command, every SASL step, the outcome.
    auth = only(smtp_commands(events, "AUTH"), "AUTH command")
    assert auth["tls"], "AUTH must travel over TLS"
    assert auth["decoded"]["args"]["mechanism"] == mechanism
    steps = [e for e in data(events) if e.get("decoded", {}).get("sasl")]
    sasl = [e["decoded"]["sasl"] for e in steps]
    assert all(s["mechanism"] == mechanism for s in sasl)
    client_steps = [s for s in sasl if s["role"] == "client"]
    final = sasl[-1]
    assert final["role"] == "server" and final["outcome"]["result"] == "success"
    if mechanism == "LOGIN":
        prompts = [s["fields"].get("prompt") for s in sasl if s["role"] == "server"][:2]
        assert prompts == ["Username:", "Password:"]
        assert client_steps[0]["fields"]["username"] == alice.login
        assert REDACTED.match(client_steps[1]["fields"]["password"])
        password_line = [e for e in steps if e["decoded"]["sasl"]["role"] == "client"][1]
        assert password_line["redacted"] is True
        assert REDACTED.match(data_bytes(password_line).decode().strip())
        assert 'base64 for "Username:"' in steps[1]["note"] or \
            any('base64 for "Username:"' in e["note"] for e in steps)
    elif mechanism == "PLAIN":
        [c] = client_steps
        assert c["fields"]["authcid"] == alice.login
        assert c["fields"]["authzid"] == ""
        assert REDACTED.match(c["fields"]["password"])
        assert auth["redacted"] is True
    else:
        challenge = [s for s in sasl if s["role"] == "server" and "challenge" in s["fields"]]
        assert challenge and challenge[0]["fields"]["challenge"].startswith("<")
        [c] = client_steps
        assert c["fields"]["username"] == alice.login
        assert REDACTED.match(c["fields"]["digest"])
    ok = only(smtp_replies_to(events, "AUTH")[-1:], "final AUTH reply")
    assert ok["decoded"]["code"] == 235
    assert ok["decoded"]["enhanced"]["code"] == "2.7.0"
    assert ok["decoded"]["enhanced"]["class"] == "success"
    assert f'authentication as "{alice.login}" succeeded' in ok["note"]

    # Envelope: parsed addresses, replies paired with their commands, enhanced codes explained.
    mail = only(smtp_commands(events, "MAIL"), "MAIL")
    assert mail["decoded"]["args"]["from"] == alice.address
    rcpt = only(smtp_commands(events, "RCPT"), "RCPT")
    assert rcpt["decoded"]["args"]["to"] == alice.address
    mail_ok = only(smtp_replies_to(events, "MAIL"), "MAIL reply")
    assert mail_ok["decoded"]["code"] == 250
    assert mail_ok["decoded"]["answers"]["seq"] == mail["seq"]
    assert mail_ok["decoded"]["enhanced"]["code"] == "2.1.0"
    rcpt_ok = only(smtp_replies_to(events, "RCPT"), "RCPT reply")
    assert rcpt_ok["decoded"]["enhanced"] == {"code": "2.1.5", "class": "success",
                                              "subject": "addressing status",
                                              "meaning": "destination address valid"}
    assert "destination address valid" in rcpt_ok["note"]
    go = only(smtp_replies_to(events, "DATA"), "DATA reply")
    assert go["decoded"]["code"] == 354

    # The message: what swaks sent, summed up on the end-of-data line.
    wire = body_bytes(events, "client")
    assert unstuff(wire) == message, "the body frames carry the message, dot-stuffed"
    assert b"\r\n..a line that starts with a dot" in wire
    dot = only([e for e in client_lines(events) if e["decoded"].get("end_of_message")],
               "end of message")
    summary = dot["decoded"]["message"]
    assert summary["size"] == len(message)
    assert summary["wire_size"] == len(message) + 1
    assert summary["sha256"] == sha256(message)
    assert summary["headers"]["subject"] == f"decode {mechanism} {token}"
    assert summary["headers"]["from"] == f"Alice <{alice.address}>"
    assert summary["headers"]["to"] == alice.address
    assert summary["headers"]["message_id"] == f"<{token}@sandbox.test>"
    assert f"{len(message)} bytes" in dot["note"]
    queued = only(smtp_replies_to(events, "."), "reply to the end of the message")
    assert queued["decoded"]["answers"]["seq"] == dot["seq"]
    assert queued["decoded"]["code"] == 250
    assert re.fullmatch(r"[0-9A-F]+", queued["decoded"]["queue_id"])
    assert "queued as " + queued["decoded"]["queue_id"] in queued["note"]

    bye = only(smtp_replies_to(events, "QUIT"), "QUIT reply")
    assert bye["decoded"]["code"] == 221

    # Latency: every paired reply measures from its command (or last SASL step), never negative.
    for e in server_lines(events):
        d = e.get("decoded", {})
        if isinstance(d.get("answers"), dict):
            assert 0 <= d["latency_us"] <= e["t"] - events[0]["t"]
            assert d["answers"]["seq"] in seqs
    # Over TLS with a verified upstream: no credential warning anywhere.
    assert not [w for e in events for w in e.get("warnings", [])
                if w["code"] == "credentials_before_tls"]


def test_swaks_pipelined_replies_are_paired_with_their_commands(sandbox, proxy, tmp_path):
    p = proxy("submission")
    alice, bob = sandbox.user("alice"), sandbox.user("bob")
    token = unique_token()
    swaks("127.0.0.1", p.port, to=f"{alice.address},nobody-{token}@sandbox.test,{bob.address}",
          sender=alice.address, ca=p.ca_pem, tls="starttls", auth="PLAIN", user=alice.login,
          password=alice.password, subject=token, extra=["--pipeline"])
    sandbox.wait_for_message(token, "bob")

    [events] = validate_transcripts(p)
    check_notes_everywhere(events)
    check_no_secret(p, alice.password)
    tail = after_tls(events)
    mail = only(smtp_commands(tail, "MAIL"), "MAIL")
    rcpts = smtp_commands(tail, "RCPT")
    assert [r["decoded"]["args"]["to"] for r in rcpts] == [
        alice.address, f"nobody-{token}@sandbox.test", bob.address]
    data_cmd = only(smtp_commands(tail, "DATA"), "DATA")
    # Really pipelined: MAIL, the three RCPTs and DATA went out before any of their replies.
    batch = [mail, *rcpts, data_cmd]
    first_reply = min(e["seq"] for e in smtp_replies_to(tail, "MAIL"))
    assert all(c["seq"] < first_reply for c in batch)
    for c in batch[1:]:
        assert c["decoded"]["pipelined"] is True
        assert "pipelined" in c["note"]

    # Each reply answers its own command, in order, whatever the outcome.
    replies = [e for e in server_lines(tail) if isinstance(e["decoded"].get("answers"), dict)
               and e["decoded"]["answers"]["seq"] in {c["seq"] for c in batch}]
    assert [r["decoded"]["answers"]["seq"] for r in replies] == [c["seq"] for c in batch]
    assert [r["decoded"]["answers"]["command"] for r in replies] == \
        ["MAIL", "RCPT", "RCPT", "RCPT", "DATA"]
    codes = [r["decoded"]["code"] for r in replies]
    assert codes[0] == 250 and codes[1] == 250 and codes[3] == 250 and codes[4] == 354
    refused = replies[2]
    assert 500 <= refused["decoded"]["code"] < 600, "the unknown recipient is refused"
    assert refused["decoded"]["enhanced"]["code"].startswith("5.1.")
    assert refused["decoded"]["enhanced"]["class"] == "permanent failure"
    assert "reply to RCPT" in refused["note"]
    assert f"nobody-{token}" in refused["note"], "the server's words are quoted"
    # Latency of a pipelined reply is measured from its own command.
    for r, c in zip(replies, batch):
        assert r["decoded"]["latency_us"] == r["t"] - c["t"]


# --- IMAP -----------------------------------------------------------------------------------


def imap_tagged(events) -> dict[str, dict]:
    return {e["decoded"]["tag"]: e for e in server_lines(events)
            if e["decoded"].get("kind") == "tagged"}


def imap_commands(events) -> dict[str, dict]:
    """Tag -> the client event that completes the command (the last line carrying its tag)."""
    out = {}
    for e in client_lines(events):
        d = e.get("decoded", {})
        if d.get("tag") and d.get("command"):
            out[d["tag"]] = e
    return out


def check_imap_pairing(events) -> None:
    """Every tagged completion names the command of the same tag, and its latency is the time
    from the command's last client line (the one the server answers: after a literal or a SASL
    response) to the completion."""
    commands = imap_commands(events)
    first_line = {}
    for e in client_lines(events):
        tag = e.get("decoded", {}).get("tag")
        if tag and tag not in first_line:
            first_line[tag] = e
    tagged = imap_tagged(events)
    assert tagged, "no tagged completion decoded"
    for tag, done in tagged.items():
        assert tag in commands, f"completion {tag} pairs with no command"
        assert done["decoded"]["command"] == commands[tag]["decoded"]["command"]
        latency = done["decoded"]["latency_us"]
        sent = [e["t"] for e in data(events, "client", "server")
                if first_line[tag]["t"] <= e["t"] <= done["t"]]
        assert done["t"] - latency in sent, f"{tag}: latency {latency} us measured from nothing"
        assert done["note"].startswith(f"{tag} {done['decoded']['status']}: ")


def curl_bytes(args: list[str]) -> bytes:
    proc = subprocess.run(["curl", "-sS", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60)
    assert proc.returncode == 0, f"curl {args}: {proc.stderr.decode(errors='replace')}"
    return proc.stdout


def deliver(sandbox, token: str, user: str = "alice") -> None:
    u = sandbox.user(user)
    swaks("127.0.0.1", sandbox.port("submission"), to=u.address, sender=u.address,
          ca=sandbox.ca, tls="starttls", auth="PLAIN", user=u.login, password=u.password,
          subject=token, body=f"body of {token}\n.starts with a dot\n")
    sandbox.wait_for_message(token, user)


def test_curl_imap_list_examine_fetch(sandbox, proxy):
    alice = sandbox.user("alice")
    token = unique_token()
    deliver(sandbox, token)
    p = proxy("imap")
    auth = ["--ssl-reqd", "--cacert", str(p.ca_pem), "-u", f"{alice.login}:{alice.password}"]
    base = f"imap://localhost:{p.port}"
    listing = curl_bytes([*auth, f"{base}/"])
    assert b"INBOX" in listing
    curl_bytes([*auth, f"{base}/INBOX", "-X", "EXAMINE INBOX"])
    found = curl_bytes([*auth, f"{base}/INBOX", "-X", f'UID SEARCH SUBJECT "{token}"'])
    uid = found.split()[-1].decode()
    fetched = curl_bytes([*auth, f"{base}/INBOX;UID={uid}"])
    assert token.encode() in fetched

    transcripts = validate_transcripts(p)
    assert len(transcripts) == 4
    for events in transcripts:
        check_notes_everywhere(events)
        check_imap_pairing(events)
        # curl logs in with AUTHENTICATE (the strongest mechanism offered) after STARTTLS.
        authenticate = [e for e in client_lines(events)
                        if e.get("decoded", {}).get("command") == "AUTHENTICATE"]
        assert authenticate and authenticate[0]["tls"]
        done = imap_tagged(events)[authenticate[0]["decoded"]["tag"]]
        assert done["decoded"]["status"] == "OK" and done["decoded"]["user"] == alice.login
    check_no_secret(p, alice.password)
    list_s, examine_s, _, fetch_s = transcripts

    # LIST: the command's arguments parsed, each untagged LIST attributed to it.
    cmd = only([e for e in client_lines(list_s) if e["decoded"].get("command") == "LIST"], "LIST")
    assert cmd["decoded"]["reference"] == "" and cmd["decoded"]["pattern"] == "*"
    untagged = [e for e in server_lines(list_s) if e["decoded"].get("type") == "LIST"]
    assert "INBOX" in [e["decoded"]["mailbox"] for e in untagged]
    assert all(e["decoded"]["in_response_to"] == cmd["decoded"]["tag"] for e in untagged)
    assert all(e["decoded"]["delimiter"] for e in untagged)
    assert imap_tagged(list_s)[cmd["decoded"]["tag"]]["decoded"]["results"] == len(untagged)

    # EXAMINE: the mailbox state gathered on the completion.
    cmd = [e for e in client_lines(examine_s) if e["decoded"].get("command") == "EXAMINE"][-1]
    assert cmd["decoded"]["mailbox"] == "INBOX"
    done = imap_tagged(examine_s)[cmd["decoded"]["tag"]]
    state = done["decoded"]["mailbox"]
    assert state["name"] == "INBOX" and state["access"] == "read-only"
    assert state["exists"] >= 1 and isinstance(state["uidvalidity"], int)
    assert "\\Seen" in state["flags"]
    exists = [e for e in server_lines(examine_s) if e["decoded"].get("type") == "EXISTS"]
    assert exists[-1]["decoded"]["number"] == state["exists"]
    assert f"{state['exists']} messages" in exists[-1]["note"]
    assert "read-only" in done["note"]

    # FETCH: the literal is data, summarised with the size and hash of what curl received.
    cmd = only([e for e in client_lines(fetch_s)
                if e["decoded"].get("command") in ("FETCH", "UID FETCH")], "FETCH")
    assert cmd["decoded"]["items"] == "BODY[]"
    literal = [e for e in data(fetch_s, "server", "client") if e["frame"] == "literal"]
    content = b"".join(data_bytes(e) for e in literal)
    assert content == fetched
    opening = [e for e in server_lines(fetch_s) if e["decoded"].get("literal_follows")]
    assert opening[0]["decoded"]["literal_follows"] == len(fetched)
    closing = only([e for e in server_lines(fetch_s) if e["decoded"].get("type") == "FETCH"
                    and "items" in e["decoded"]], "FETCH response with items")
    assert closing["decoded"]["in_response_to"] == cmd["decoded"]["tag"]
    body = closing["decoded"]["items"]["BODY[]"]
    assert body["size"] == len(fetched) and body["literal"] == len(fetched)
    assert body["sha256"] == sha256(fetched)
    assert body["headers"]["subject"] == token
    assert token in closing["note"]
    assert imap_tagged(fetch_s)[cmd["decoded"]["tag"]]["decoded"]["results"] == 1


def test_imaplib_literal_login_and_append(sandbox, proxy):
    alice = sandbox.user("alice")
    token = unique_token()
    p = proxy("imap")
    message = (f"From: {alice.address}\r\nTo: {alice.address}\r\nSubject: appended {token}\r\n"
               f"Message-ID: <{token}@sandbox.test>\r\n\r\nappended body {token}\r\n").encode()
    m = imaplib.IMAP4("127.0.0.1", p.port, timeout=30)
    m.starttls(ssl_context=ssl.create_default_context(cafile=str(p.ca_pem)))
    # imaplib sends `self.literal` as a {n} literal after the other arguments: LOGIN user {n}.
    m.literal = alice.password.encode()
    typ, _ = m._simple_command("LOGIN", alice.login)
    assert typ == "OK"
    m.state = "AUTH"
    typ, appended = m.append("INBOX", None, None, message)
    assert typ == "OK"
    m.logout()
    assert token.encode() in sandbox.wait_for_message(token)

    [events] = validate_transcripts(p)
    check_notes_everywhere(events)
    check_imap_pairing(events)
    check_no_secret(p, alice.password)
    tail = after_tls(events)

    # LOGIN alice {12}: the password is a literal; the server's "+" invites it.
    opening = only([e for e in client_lines(tail) if e["decoded"].get("command") == "LOGIN"
                    and e["decoded"].get("literal_follows")], "LOGIN line announcing a literal")
    tag = opening["decoded"]["tag"]
    assert opening["decoded"]["literal_follows"] == len(alice.password)
    plus = only([e for e in server_lines(tail) if e["decoded"].get("kind") == "continuation"
                 and e["decoded"].get("in_response_to") == tag], "continuation for LOGIN")
    assert "literal" in plus["note"]
    secret = only([e for e in data(tail, "client", "server") if e["frame"] == "literal"
                   and e.get("decoded", {}).get("for", "").startswith(tag)], "password literal")
    assert secret["redacted"] is True and secret["len"] == len(alice.password)
    assert REDACTED.match(secret["text"])
    assert "password" in secret["note"] and "redacted" in secret["note"]
    login = imap_commands(tail)[tag]
    assert login["decoded"]["user"] == alice.login
    assert REDACTED.match(login["decoded"]["password"])
    done = imap_tagged(tail)[tag]
    assert done["decoded"]["status"] == "OK" and done["decoded"]["user"] == alice.login
    # Both legs are encrypted: no credential warning.
    assert not [w for e in events for w in e.get("warnings", [])
                if w["code"] == "credentials_before_tls"]

    # APPEND INBOX {n}: the literal is the message, recorded exactly and summarised.
    append = [e for e in client_lines(tail) if e["decoded"].get("command") == "APPEND"]
    atag = append[0]["decoded"]["tag"]
    assert append[0]["decoded"]["literal_follows"] == len(message)
    literal = [e for e in data(tail, "client", "server") if e["frame"] == "literal"
               and e["decoded"].get("for", "").startswith(atag)]
    assert b"".join(data_bytes(e) for e in literal) == message
    assert not any(e.get("redacted") for e in literal), "a message is not a secret"
    summary = imap_commands(tail)[atag]["decoded"]["message"]
    assert summary["size"] == len(message)
    assert summary["sha256"] == sha256(message)
    assert summary["headers"]["subject"] == f"appended {token}"
    assert summary["headers"]["message_id"] == f"<{token}@sandbox.test>"
    done = imap_tagged(tail)[atag]
    assert done["decoded"]["command"] == "APPEND" and done["decoded"]["code"] == "APPENDUID"
    uid = appended[0].decode().split("]")[0].split()[-1]
    assert f"UID {uid}" in done["note"]


# --- POP3 -----------------------------------------------------------------------------------


def pop3_session(events, command: str) -> tuple[dict, dict, list[dict], dict]:
    """(command line, status line, lines/bodies in between, end line) of one POP3 exchange."""
    cmd = only([e for e in client_lines(events) if e.get("decoded", {}).get("command") == command],
               command)
    later = [e for e in data(events, "server", "client") if e["seq"] > cmd["seq"]]
    status = later[0]
    end = next(e for e in later if e["frame"] == "line" and
               e.get("decoded", {}).get("end_of") == command)
    middle = [e for e in later if status["seq"] < e["seq"] < end["seq"]]
    return cmd, status, middle, end


def message_number(sandbox, token: str, user: str = "alice") -> int:
    """The POP3 number of the message whose Subject is `token`, asked of the sandbox directly
    (numbers of messages already there do not change when more are delivered)."""
    u = sandbox.user(user)
    m = poplib.POP3("127.0.0.1", sandbox.port("pop3"), timeout=30)
    try:
        m.stls(context=sandbox.ssl_context())
        m.user(u.login)
        m.pass_(u.password)
        count, _ = m.stat()
        for n in range(count, 0, -1):
            _, head, _ = m.top(n, 0)
            if f"Subject: {token}".encode() in head:
                return n
    finally:
        m.quit()
    raise AssertionError(f"no message with Subject {token} in {user}'s mailbox")


def test_curl_pop3_list_retr_top(sandbox, proxy):
    alice = sandbox.user("alice")
    token = unique_token()
    deliver(sandbox, token)
    p = proxy("pop3")
    auth = ["--ssl-reqd", "--cacert", str(p.ca_pem), "-u", f"{alice.login}:{alice.password}"]
    base = f"pop3://localhost:{p.port}"
    listing = curl_bytes([*auth, f"{base}/"]).decode()
    sizes = {int(n): int(s) for n, s in (line.split() for line in listing.splitlines())}
    number = message_number(sandbox, token)
    retrieved = curl_bytes([*auth, f"{base}/{number}"])
    assert token.encode() in retrieved
    curl_bytes([*auth, f"{base}/", "-X", f"TOP {number} 0"])

    transcripts = validate_transcripts(p)
    assert len(transcripts) == 3
    for events in transcripts:
        check_notes_everywhere(events)
        logged_in = [e for e in server_lines(events) if "logged in as alice" in e.get("note", "")]
        assert logged_in and logged_in[0]["tls"]
    check_no_secret(p, alice.password)
    list_s, retr_s, top_s = transcripts

    cmd, status, middle, end = pop3_session(list_s, "LIST")
    assert status["decoded"]["status"] == "+OK" and status["decoded"]["multiline"] is True
    assert status["decoded"]["latency_us"] == status["t"] - cmd["t"]
    listed = {int(e["decoded"]["message"]): e["decoded"]["size"] for e in middle}
    assert listed == sizes
    assert end["decoded"]["count"] == len(sizes)
    assert end["decoded"]["total_size"] == sum(sizes.values())
    assert all(f"{e['decoded']['size']} bytes" in e["note"] for e in middle)

    cmd, status, middle, end = pop3_session(retr_s, "RETR")
    assert cmd["decoded"]["args"] == str(number)
    assert status["decoded"]["multiline"] is True
    assert f"{sizes[number]} octets" in status["text"]
    wire = b"".join(data_bytes(e) for e in middle if e["frame"] == "body")
    assert b"\r\n..starts with a dot" in wire, "the body is recorded dot-stuffed, as on the wire"
    assert unstuff(wire) == retrieved
    summary = end["decoded"]["message"]
    assert summary["size"] == len(retrieved) == sizes[number]
    assert summary["wire_size"] == len(wire)
    assert summary["sha256"] == sha256(retrieved)
    assert summary["headers"]["subject"] == token
    assert token in end["note"]

    cmd, status, middle, end = pop3_session(top_s, "TOP")
    assert cmd["decoded"]["args"] == f"{number} 0"
    head = unstuff(b"".join(data_bytes(e) for e in middle if e["frame"] == "body"))
    assert retrieved.startswith(head) and len(head) < len(retrieved)
    assert end["decoded"]["message"]["headers"]["subject"] == token
    assert end["decoded"]["message"]["size"] == len(head)


def test_a_forty_megabyte_fetch_is_recorded_byte_for_byte(sandbox, proxy):
    """A transcript long enough for the writer to start writeback and drop its older pages from
    the page cache as it goes (WriteBehind: every MiB, 16 MiB behind): every byte is still there,
    and the summary's hash is the hash of what the client received."""
    alice = sandbox.user("alice")
    mailbox = "Big-" + unique_token()
    line = base64.b64encode(bytes(range(57))) + b"\r\n"
    message = (f"From: big@sandbox.test\r\nSubject: {mailbox}\r\n\r\n".encode()
               + b"".join(b"%08d " % i + line for i in range(40_000_000 // (len(line) + 9))))
    direct_tls = ssl.create_default_context(cafile=str(sandbox.ca))
    with imaplib.IMAP4_SSL("127.0.0.1", sandbox.port("imaps"), ssl_context=direct_tls,
                           timeout=120) as m:
        m.login(alice.login, alice.password)
        assert m.create(mailbox)[0] == "OK"
        assert m.append(mailbox, None, None, message)[0] == "OK"
    try:
        p = proxy("imaps")
        context = ssl.create_default_context(cafile=str(p.ca_pem))
        with imaplib.IMAP4_SSL("127.0.0.1", p.port, ssl_context=context, timeout=120) as m:
            m.login(alice.login, alice.password)
            assert m.select(mailbox, readonly=True)[0] == "OK"
            typ, parts = m.fetch("1", "(BODY.PEEK[])")
            assert typ == "OK"
            fetched = parts[0][1]
        assert fetched == message
        [events] = validate_transcripts(p)
        literal = [e for e in data(events, "server", "client") if e["frame"] == "literal"]
        assert b"".join(data_bytes(e) for e in literal) == message
        closing = only([e for e in server_lines(events) if e["decoded"].get("type") == "FETCH"
                        and "items" in e["decoded"]], "FETCH response with items")
        body = closing["decoded"]["items"]["BODY[]"]
        assert body["size"] == len(message) and body["sha256"] == sha256(message)
    finally:
        with imaplib.IMAP4_SSL("127.0.0.1", sandbox.port("imaps"), ssl_context=direct_tls,
                               timeout=60) as m:
            m.login(alice.login, alice.password)
            m.delete(mailbox)
