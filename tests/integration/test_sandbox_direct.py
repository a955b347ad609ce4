"""The sandbox itself, with real clients talking straight to it (no proxy): mail submitted with
STARTTLS/implicit TLS and AUTH arrives through Postfix -> LMTP -> Dovecot and reads back over
IMAP and POP3. These prove the ground the proxy tests stand on."""

from __future__ import annotations

import imaplib
import poplib
import shutil
import smtplib
import socket
import ssl
import tempfile
from pathlib import Path

import pytest

from sandbox import (SERVICES, candidate_port_offsets, message_text, run, sandbox_cmd,
                     start_sandbox, stop_sandbox, swaks, unique_token)

# --- descriptor and certificates ------------------------------------------------------------


def test_sandbox_json_describes_every_service(sandbox):
    assert set(sandbox.ports) == set(SERVICES)
    assert len(set(sandbox.ports.values())) == len(SERVICES), "two services share a port"
    assert sandbox.host == "127.0.0.1"
    assert sandbox.ca.is_file()
    assert set(sandbox.users) == {"alice", "bob"}
    alice = sandbox.user("alice")
    assert (alice.login, alice.password, alice.address) == ("alice", "alice-secret",
                                                            "alice@sandbox.test")
    assert sandbox["auth_mechanisms"] == ["PLAIN", "LOGIN", "CRAM-MD5"]


def test_status_and_env_report_the_running_sandbox(sandbox):
    status = sandbox_cmd("status", sandbox.dir)
    assert "running" in status.stdout.splitlines()[-1]
    env = sandbox_cmd("env", sandbox.dir).stdout
    exports = dict(line.removeprefix("export ").split("=", 1) for line in env.splitlines())
    assert exports["SANDBOX_IMAPS_PORT"] == str(sandbox.port("imaps"))
    assert exports["SANDBOX_SUBMISSION_PORT"] == str(sandbox.port("submission"))
    assert exports["SANDBOX_CA"] == str(sandbox.ca)
    assert exports["SANDBOX_BOB_PASSWORD"] == "bob-secret"


@pytest.mark.parametrize("service", ["smtps", "imaps", "pop3s"])
def test_implicit_tls_certificate_verifies_against_sandbox_ca(sandbox, service):
    ctx = sandbox.ssl_context()
    for name in ("localhost", "127.0.0.1"):
        with socket.create_connection((sandbox.host, sandbox.port(service)), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=name) as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
                names = [v for _, v in tls.getpeercert()["subjectAltName"]]
                assert "localhost" in names and "127.0.0.1" in names


def test_certificate_is_not_trusted_without_the_sandbox_ca(sandbox):
    """The clients really verify: with only the system store, the handshake is refused."""
    ctx = ssl.create_default_context()
    with socket.create_connection((sandbox.host, sandbox.port("imaps")), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="localhost")


def test_certificate_name_is_checked(sandbox):
    ctx = sandbox.ssl_context()
    with socket.create_connection((sandbox.host, sandbox.port("pop3s")), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="mail.example.com")


# --- SMTP -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_swaks_submission_starttls_auth_delivers(sandbox, mechanism):
    alice = sandbox.user("alice")
    token = unique_token("swaks-sub")
    result = swaks(sandbox.host, sandbox.port("submission"), to=alice.address,
                   sender=alice.address, ca=sandbox.ca, tls="starttls", auth=mechanism,
                   user=alice.login, password=alice.password, subject=token, body=token)
    out = result.stdout
    assert "STARTTLS" in out and "220 2.0.0 Ready to start TLS" in out
    assert "235 2.7.0 Authentication successful" in out
    assert "250 2.0.0 Ok: queued as" in out
    msg = sandbox.wait_for_message(token)
    assert f"Subject: {token}".encode() in msg
    # Postfix records the TLS session and the authenticated submission in its Received header
    assert b"with ESMTPSA" in msg


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_swaks_smtps_implicit_tls_auth_delivers(sandbox, mechanism):
    bob, alice = sandbox.user("bob"), sandbox.user("alice")
    token = unique_token("swaks-smtps")
    result = swaks(sandbox.host, sandbox.port("smtps"), to=alice.address, sender=bob.address,
                   ca=sandbox.ca, tls="implicit", auth=mechanism, user=bob.login,
                   password=bob.password, subject=token, body=token)
    assert "235 2.7.0 Authentication successful" in result.stdout
    msg = sandbox.wait_for_message(token, user="alice")
    assert f"From: {bob.address}".encode() in msg


def test_swaks_wrong_password_is_refused(sandbox):
    alice = sandbox.user("alice")
    result = swaks(sandbox.host, sandbox.port("submission"), to=alice.address,
                   sender=alice.address, ca=sandbox.ca, tls="starttls", auth="PLAIN",
                   user=alice.login, password="wrong-password", check=False)
    assert result.returncode != 0
    assert "535 5.7.8" in result.stdout


def test_submission_offers_auth_only_after_starttls(sandbox):
    with smtplib.SMTP(sandbox.host, sandbox.port("submission"), timeout=20) as smtp:
        smtp.ehlo("client.test")
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth"), "AUTH must not be offered before TLS"
        code, reply = smtp.mail("alice@sandbox.test")
        assert code == 530 and b"STARTTLS" in reply  # STARTTLS required on submission
        smtp.rset()
        smtp.starttls(context=sandbox.ssl_context())
        smtp.ehlo("client.test")
        assert smtp.has_extn("auth")
        assert set(smtp.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN", "CRAM-MD5"}


def test_port_25_style_service_offers_starttls_and_no_auth(sandbox):
    with smtplib.SMTP(sandbox.host, sandbox.port("smtp"), timeout=20) as smtp:
        code, banner = smtp.ehlo("client.test")
        assert code == 250
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth")
        # unknown users and other domains are refused at RCPT time
        smtp.mail("someone@example.org")
        code, _ = smtp.rcpt("nobody@sandbox.test")
        assert code == 550
        code, _ = smtp.rcpt("someone@example.com")
        assert code == 550


def test_smtplib_starttls_login_delivers_to_two_users(sandbox):
    alice, bob = sandbox.user("alice"), sandbox.user("bob")
    token = unique_token("smtplib-sub")
    msg = message_text(token, token, alice.address, bob.address)
    with smtplib.SMTP(sandbox.host, sandbox.port("submission"), timeout=20) as smtp:
        smtp.starttls(context=sandbox.ssl_context())
        smtp.login(alice.login, alice.password)
        refused = smtp.sendmail(alice.address, [alice.address, bob.address], msg)
        assert refused == {}
    assert token.encode() in sandbox.wait_for_message(token, user="alice")
    assert token.encode() in sandbox.wait_for_message(token, user="bob")


def test_smtplib_smtps_delivers(sandbox):
    bob = sandbox.user("bob")
    token = unique_token("smtplib-smtps")
    with smtplib.SMTP_SSL(sandbox.host, sandbox.port("smtps"), timeout=20,
                          context=sandbox.ssl_context()) as smtp:
        smtp.login(bob.login, bob.password)
        smtp.sendmail(bob.address, [bob.address], message_text(token, token, bob.address,
                                                                bob.address))
    sandbox.wait_for_message(token, user="bob")


def test_curl_smtp_ssl_reqd_upload_delivers(sandbox, tmp_path):
    alice = sandbox.user("alice")
    token = unique_token("curl-smtp")
    mail = tmp_path / "mail.eml"
    mail.write_bytes(message_text(token, token, alice.address, alice.address))
    run(["curl", "-sS", "--max-time", "30", "--ssl-reqd", "--cacert", str(sandbox.ca),
         f"smtp://127.0.0.1:{sandbox.port('submission')}", "--mail-from", alice.address,
         "--mail-rcpt", alice.address, "--user", f"{alice.login}:{alice.password}",
         "--upload-file", str(mail)])
    sandbox.wait_for_message(token)


# --- reading back ---------------------------------------------------------------------------


@pytest.fixture
def delivered(sandbox):
    """A fresh message in bob's mailbox (bob's box stays small: only these tests read it)."""
    bob = sandbox.user("bob")
    token = unique_token("readback")
    swaks(sandbox.host, sandbox.port("smtps"), to=bob.address, sender=bob.address, ca=sandbox.ca,
          tls="implicit", auth="PLAIN", user=bob.login, password=bob.password, subject=token,
          body=f"readback body {token}")
    sandbox.wait_for_message(token, user="bob")
    return token


def _imap_find(imap: imaplib.IMAP4, token: str) -> bytes:
    typ, _ = imap.select("INBOX", readonly=True)
    assert typ == "OK"
    typ, data = imap.uid("SEARCH", None, "SUBJECT", f'"{token}"')
    assert typ == "OK"
    uids = data[0].split()
    assert len(uids) == 1, f"expected one message with {token}, got {uids}"
    typ, fetched = imap.uid("FETCH", uids[0], "(BODY.PEEK[])")
    assert typ == "OK"
    return fetched[0][1]


def test_imaplib_starttls_login_reads_message(sandbox, delivered):
    bob = sandbox.user("bob")
    with imaplib.IMAP4(sandbox.host, sandbox.port("imap"), timeout=20) as imap:
        assert "STARTTLS" in imap.capabilities
        imap.starttls(ssl_context=sandbox.ssl_context())
        imap.login(bob.login, bob.password)
        body = _imap_find(imap, delivered)
    assert f"readback body {delivered}".encode() in body


def test_imaplib_imaps_login_reads_message(sandbox, delivered):
    bob = sandbox.user("bob")
    with imaplib.IMAP4_SSL(sandbox.host, sandbox.port("imaps"), ssl_context=sandbox.ssl_context(),
                           timeout=20) as imap:
        imap.login(bob.login, bob.password)
        body = _imap_find(imap, delivered)
    assert f"Subject: {delivered}".encode() in body


def test_imap_wrong_password_is_refused(sandbox):
    with imaplib.IMAP4_SSL(sandbox.host, sandbox.port("imaps"), ssl_context=sandbox.ssl_context(),
                           timeout=20) as imap:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED|Authentication failed"):
            imap.login("bob", "not-bobs-password")


def test_dovecot_considers_loopback_secure(sandbox):
    """Documents a Dovecot behaviour the proxy tests must know: with disable_plaintext_auth=yes,
    Dovecot still treats a connection whose client IP equals its local IP as secured, so on
    127.0.0.1 there is no LOGINDISABLED and plaintext LOGIN works without STARTTLS. Tests that
    need "TLS before credentials" must check the client/proxy side, not rely on Dovecot."""
    bob = sandbox.user("bob")
    with imaplib.IMAP4(sandbox.host, sandbox.port("imap"), timeout=20) as imap:
        assert "STARTTLS" in imap.capabilities
        assert "LOGINDISABLED" not in imap.capabilities
        typ, _ = imap.login(bob.login, bob.password)
        assert typ == "OK"


def _pop3_find(pop: poplib.POP3, token: str) -> bytes:
    count, _ = pop.stat()
    assert count >= 1
    for n in range(count, 0, -1):
        _, lines, _ = pop.retr(n)
        raw = b"\r\n".join(lines)
        if token.encode() in raw:
            return raw
    raise AssertionError(f"no POP3 message contains {token}")


def test_poplib_stls_reads_message(sandbox, delivered):
    bob = sandbox.user("bob")
    pop = poplib.POP3(sandbox.host, sandbox.port("pop3"), timeout=20)
    try:
        assert "STLS" in pop.capa()
        pop.stls(context=sandbox.ssl_context())
        pop.user(bob.login)
        pop.pass_(bob.password)
        raw = _pop3_find(pop, delivered)
    finally:
        pop.quit()
    assert f"readback body {delivered}".encode() in raw


def test_poplib_pop3s_reads_message(sandbox, delivered):
    bob = sandbox.user("bob")
    pop = poplib.POP3_SSL(sandbox.host, sandbox.port("pop3s"), context=sandbox.ssl_context(),
                          timeout=20)
    try:
        pop.user(bob.login)
        pop.pass_(bob.password)
        raw = _pop3_find(pop, delivered)
    finally:
        pop.quit()
    assert f"Subject: {delivered}".encode() in raw


def _curl(sandbox, url: str, user, *extra: str) -> str:
    return run(["curl", "-sS", "--max-time", "30", "--cacert", str(sandbox.ca), "--user",
                f"{user.login}:{user.password}", *extra, url]).stdout


def test_curl_imaps_list_and_fetch(sandbox, delivered):
    bob = sandbox.user("bob")
    listing = _curl(sandbox, f"imaps://127.0.0.1:{sandbox.port('imaps')}/", bob)
    assert '"INBOX"' in listing or " INBOX" in listing
    search = _curl(sandbox, f"imaps://127.0.0.1:{sandbox.port('imaps')}/INBOX", bob,
                   "--request", f'UID SEARCH SUBJECT "{delivered}"')
    uids = search.split("SEARCH", 1)[1].split()
    assert len(uids) == 1, search
    body = _curl(sandbox, f"imaps://127.0.0.1:{sandbox.port('imaps')}/INBOX;UID={uids[0]}", bob)
    assert f"readback body {delivered}" in body


def test_curl_imap_starttls_required_lists(sandbox, delivered):
    bob = sandbox.user("bob")
    listing = _curl(sandbox, f"imap://localhost:{sandbox.port('imap')}/", bob, "--ssl-reqd")
    assert "INBOX" in listing


def test_curl_pop3s_retr(sandbox, delivered):
    bob = sandbox.user("bob")
    listing = _curl(sandbox, f"pop3s://127.0.0.1:{sandbox.port('pop3s')}/", bob)
    numbers = [line.split()[0] for line in listing.splitlines() if line.strip()]
    assert numbers, "empty POP3 listing"
    # newest last: look from the end for our message
    for n in reversed(numbers):
        body = _curl(sandbox, f"pop3s://127.0.0.1:{sandbox.port('pop3s')}/{n}", bob)
        if delivered in body:
            break
    else:
        raise AssertionError(f"no POP3 message contains {delivered}")
    assert f"readback body {delivered}" in body


def test_curl_pop3_stls_required_lists(sandbox, delivered):
    bob = sandbox.user("bob")
    listing = _curl(sandbox, f"pop3://localhost:{sandbox.port('pop3')}/", bob, "--ssl-reqd")
    assert listing.strip(), "empty POP3 listing over STLS"


# --- lifecycle ------------------------------------------------------------------------------


def test_start_is_idempotent_and_stop_start_cycles(sandbox):
    """A second sandbox in its own directory and ports: start twice, stop, start again, and mail
    still flows each time. (Does not touch the session's sandbox.)"""
    directory = Path(tempfile.mkdtemp(prefix="mailtap-sbx2-", dir="/tmp"))
    directory.chmod(0o755)
    offsets = [o for o in candidate_port_offsets() if o != sandbox["port_offset"]]
    try:
        second = start_sandbox(directory, offsets)
        assert second.ports != sandbox.ports
        again = sandbox_cmd("start", directory)
        assert "already running" in again.stdout
        for cycle in range(2):
            stop_sandbox(directory)
            status = sandbox_cmd("status", directory, check=False)
            assert status.returncode == 3, status.stdout
            for port in second.ports.values():
                with pytest.raises(OSError):
                    socket.create_connection(("127.0.0.1", port), timeout=2).close()
            second = start_sandbox(directory, [second["port_offset"]])
            token = unique_token(f"cycle{cycle}")
            alice = second.user("alice")
            swaks(second.host, second.port("submission"), to=alice.address, sender=alice.address,
                  ca=second.ca, tls="starttls", auth="PLAIN", user=alice.login,
                  password=alice.password, subject=token, body=token)
            second.wait_for_message(token)
    finally:
        sandbox_cmd("stop", directory, timeout=90, check=False)
        shutil.rmtree(directory, ignore_errors=True)
