"""`mailtap run` against the sandbox (real Postfix and Dovecot): the seeds' sessions as scripts on
plain, STARTTLS and implicit-TLS ports; sessions captured through `mailtap proxy` from swaks and
curl (CRAM-MD5 included) replayed green; a replay against a server that answers differently
failing with exit status 1 and a readable difference; exit status 2 when a run cannot be played.
"""

from __future__ import annotations

import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sandbox import REPO_DIR, load_jsonl, message_text, run, swaks, unique_token

SCRIPTS = REPO_DIR / "examples" / "scripts"


def mailtap_run(mailtap_bin, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    return run([mailtap_bin, "run", *map(str, args)], timeout=timeout, check=False)


def explain(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def play(mailtap_bin, sandbox, tmp_path, script: Path, service: str, tls: str, **variables):
    args = [script, "--target", f"{sandbox.host}:{sandbox.port(service)}", "--tls", tls,
            "--upstream-ca", sandbox.ca, "--transcripts", tmp_path / "runs"]
    for name, value in variables.items():
        args += ["--var", f"{name}={value}"]
    return mailtap_run(mailtap_bin, *args)


@pytest.fixture(scope="module")
def alice_has_mail(sandbox, mailtap_bin, tmp_path_factory):
    """IMAP FETCH 1 and POP3 RETR 1 need a message in alice's INBOX: send one with the runner."""
    token = unique_token("runner-inbox")
    result = play(mailtap_bin, sandbox, tmp_path_factory.mktemp("inbox"),
                  SCRIPTS / "smtp-auth-login.mtscript", "submission", "starttls",
                  user="bob", **{"pass": "bob-secret", "from": "bob@sandbox.test",
                                 "to": "alice@sandbox.test", "subject": token})
    assert result.returncode == 0, explain(result)
    return sandbox.wait_for_message(token, "alice")


# --- the seeds' sessions as scripts ----------------------------------------------------------

SMTP_SCRIPTS = ["smtp-auth-login.mtscript", "smtp-auth-plain.mtscript",
                "smtp-auth-plain-prompted.mtscript", "smtp-auth-cram-md5.mtscript"]


@pytest.mark.parametrize("service,tls", [("submission", "starttls"), ("smtps", "implicit")])
@pytest.mark.parametrize("script", SMTP_SCRIPTS)
def test_smtp_seed_script_passes(sandbox, mailtap_bin, tmp_path, script, service, tls):
    token = unique_token("runner-smtp")
    result = play(mailtap_bin, sandbox, tmp_path, SCRIPTS / script, service, tls,
                  user="alice", **{"pass": "alice-secret", "to": "alice@sandbox.test",
                                   "subject": token})
    assert result.returncode == 0, explain(result)
    assert "PASS" in result.stdout and "FAIL" not in result.stdout
    if "TLS up: TLSv1." not in result.stdout:
        pytest.fail("the report does not say TLS was up\n" + explain(result))
    if script != "smtp-auth-cram-md5.mtscript":  # the others send a message
        message = sandbox.wait_for_message(token, "alice")
        if script == "smtp-auth-login.mtscript":
            # the content line ".a line starting with a dot" arrives with one dot
            assert b"\n.a line starting with a dot" in message


@pytest.mark.parametrize("tls", ["plain", "starttls"])
def test_smtp_port25_script_passes(sandbox, mailtap_bin, tmp_path, tls):
    token = unique_token("runner-port25")
    result = play(mailtap_bin, sandbox, tmp_path, SCRIPTS / "smtp-port25-helo.mtscript", "smtp",
                  tls, to="alice@sandbox.test", subject=token)
    assert result.returncode == 0, explain(result)
    sandbox.wait_for_message(token, "alice")


@pytest.mark.parametrize("service,tls", [("imap", "starttls"), ("imap", "plain"),
                                         ("imaps", "implicit")])
def test_imap_seed_script_passes(sandbox, mailtap_bin, tmp_path, alice_has_mail, service, tls):
    result = play(mailtap_bin, sandbox, tmp_path, SCRIPTS / "imap-login-list-examine-fetch.mtscript",
                  service, tls, user="alice", **{"pass": "alice-secret"})
    assert result.returncode == 0, explain(result)


@pytest.mark.parametrize("service,tls", [("pop3", "starttls"), ("pop3", "plain"),
                                         ("pop3s", "implicit")])
def test_pop3_seed_script_passes(sandbox, mailtap_bin, tmp_path, alice_has_mail, service, tls):
    result = play(mailtap_bin, sandbox, tmp_path, SCRIPTS / "pop3-user-pass-list-retr.mtscript",
                  service, tls, user="alice", **{"pass": "alice-secret"})
    assert result.returncode == 0, explain(result)


def test_wrong_password_fails_with_exit_1(sandbox, mailtap_bin, tmp_path):
    result = play(mailtap_bin, sandbox, tmp_path, SCRIPTS / "smtp-auth-cram-md5.mtscript",
                  "submission", "starttls", user="bob", **{"pass": "not-the-password"})
    assert result.returncode == 1, explain(result)
    assert "- 235 2.7.0 Authentication successful" in result.stdout
    assert "+ 535 5.7.8" in result.stdout


# --- capture through the proxy, replay -------------------------------------------------------


def wait_for_copies(sandbox, token: str, count: int, user: str = "alice", timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in sandbox.messages(user) if token.encode() in m]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} message(s) with {token}, expected {count}\n"
                                 + sandbox.log_tail())
        time.sleep(0.2)


def only_transcript(proxy) -> Path:
    proxy.stop()
    files = proxy.transcript_files()
    assert len(files) == 1, f"expected one transcript, got {files}"
    return files[0]


def replay(mailtap_bin, sandbox, tmp_path, capture: Path, *extra):
    return mailtap_run(mailtap_bin, capture, "--upstream-ca", sandbox.ca,
                       "--transcripts", tmp_path / "replays", *extra)


@pytest.mark.parametrize("mechanism", ["CRAM-MD5", "LOGIN", "PLAIN"])
def test_swaks_capture_replays_green(sandbox, mailtap_bin, proxy, tmp_path, mechanism):
    p = proxy("submission")
    token = unique_token("runner-swaks")
    bob = sandbox.user("bob")
    swaks(p.host, p.port, to="alice@sandbox.test", sender=bob.address, ca=p.ca_pem,
          tls="starttls", auth=mechanism, user=bob.login, password=bob.password, subject=token,
          body="hello\n.a dot line\nend")
    sandbox.wait_for_message(token, "alice")
    capture = only_transcript(p)

    result = replay(mailtap_bin, sandbox, tmp_path, capture, "--var", f"pass={bob.password}")
    assert result.returncode == 0, explain(result)
    # the replay sent the same message once more
    wait_for_copies(sandbox, token, 2)

    # The run recorded its own transcript in the proxy's format, with the same client lines.
    runs = sorted((tmp_path / "replays").glob("*.jsonl"))
    assert len(runs) == 1
    lines = load_jsonl(runs[0])
    assert lines[0]["format"] == "mailtap-transcript" and lines[0]["protocol"] == "smtp"

    def client_lines(events):
        return [e.get("text") for e in events
                if e.get("type") == "data" and e.get("from") == "client" and e.get("frame") == "line"
                and not e.get("redacted")]

    captured = load_jsonl(capture)
    assert client_lines(lines)[:3] == client_lines(captured)[:3]


def test_curl_smtp_capture_replays_green(sandbox, mailtap_bin, proxy, tmp_path):
    p = proxy("submission")
    token = unique_token("runner-curl-smtp")
    alice = sandbox.user("alice")
    msg = tmp_path / "msg.eml"
    msg.write_bytes(message_text(token, token, alice.address, "alice@sandbox.test"))
    run(["curl", "-sS", "--ssl-reqd", "--cacert", str(p.ca_pem), f"smtp://{p.host}:{p.port}",
         "--mail-from", alice.address, "--mail-rcpt", "alice@sandbox.test",
         "--upload-file", str(msg), "-u", f"{alice.login}:{alice.password}"], timeout=60)
    sandbox.wait_for_message(token, "alice")
    result = replay(mailtap_bin, sandbox, tmp_path, only_transcript(p),
                    "--var", f"pass={alice.password}")
    assert result.returncode == 0, explain(result)


@pytest.mark.parametrize("service,url", [("imap", "imap://{host}:{port}/INBOX;UID=1"),
                                         ("imaps", "imaps://{host}:{port}/INBOX;UID=1"),
                                         ("pop3s", "pop3s://{host}:{port}/1")])
def test_curl_mailbox_capture_replays_green(sandbox, mailtap_bin, proxy, tmp_path, alice_has_mail,
                                            service, url):
    p = proxy(service)
    alice = sandbox.user("alice")
    args = ["curl", "-sS", "--cacert", str(p.ca_pem), url.format(host=p.host, port=p.port),
            "-u", f"{alice.login}:{alice.password}", "-o", str(tmp_path / "out")]
    if service == "imap":
        args.insert(2, "--ssl-reqd")
    run(args, timeout=60)
    capture = only_transcript(p)
    events = load_jsonl(capture)
    assert any("AUTHENTICATE" in (e.get("text") or "") or "AUTH " in (e.get("text") or "")
               for e in events), "curl did not authenticate with SASL"
    result = replay(mailtap_bin, sandbox, tmp_path, capture, "--var", f"pass={alice.password}")
    assert result.returncode == 0, explain(result)


def test_replay_against_a_server_that_answers_differently(sandbox, mailtap_bin, proxy, tmp_path):
    """Captured on the submission port (AUTH offered after TLS), replayed against port 25,
    where Postfix offers no AUTH: the EHLO reply and the AUTH step differ."""
    p = proxy("submission")
    bob = sandbox.user("bob")
    swaks(p.host, p.port, to="alice@sandbox.test", sender=bob.address, ca=p.ca_pem,
          tls="starttls", auth="CRAM-MD5", user=bob.login, password=bob.password)
    capture = only_transcript(p)
    result = replay(mailtap_bin, sandbox, tmp_path, capture, "--var", f"pass={bob.password}",
                    "--target", f"{sandbox.host}:{sandbox.port('smtp')}")
    assert result.returncode == 1, explain(result)
    out = result.stdout
    assert "FAIL" in out
    assert "- 250-AUTH PLAIN LOGIN CRAM-MD5" in out, out
    assert "+ 503 5.5.1 Error: authentication not enabled" in out, out
    assert "first difference at column" in out


def test_to_script_makes_an_editable_script_that_replays(sandbox, mailtap_bin, proxy, tmp_path):
    p = proxy("imaps")
    alice = sandbox.user("alice")
    run(["curl", "-sS", "--cacert", str(p.ca_pem), f"imaps://{p.host}:{p.port}/",
         "-u", f"{alice.login}:{alice.password}"], timeout=60)
    capture = only_transcript(p)
    script = tmp_path / "list.mtscript"
    converted = mailtap_run(mailtap_bin, "--to-script", capture, "-o", script)
    assert converted.returncode == 0, explain(converted)
    text = script.read_text()
    assert "!proto imap" in text and "!tls implicit" in text
    assert "C: ${sasl}" in text or "${pass}" in text, text
    assert "<redacted" not in text
    result = mailtap_run(mailtap_bin, script, "--upstream-ca", sandbox.ca, "--no-transcripts",
                         "--var", f"pass={alice.password}")
    assert result.returncode == 0, explain(result)


# --- could not run, reports ------------------------------------------------------------------


def test_script_error_names_file_and_line(mailtap_bin, tmp_path):
    bad = tmp_path / "bad.mtscript"
    bad.write_text("S: 220 *\nC: EHLO x\nthis is not a script line\n")
    result = mailtap_run(mailtap_bin, bad, "--target", "127.0.0.1:9", "--no-transcripts")
    assert result.returncode == 2, explain(result)
    assert f"{bad}:3: expected a line starting with C:" in result.stdout + result.stderr


def test_connection_refused_is_exit_2(mailtap_bin, tmp_path):
    script = tmp_path / "s.mtscript"
    script.write_text("S: 220 *\n")
    result = mailtap_run(mailtap_bin, script, "--target", "127.0.0.1:9", "--proto", "smtp",
                         "--no-transcripts")
    assert result.returncode == 2, explain(result)
    assert "cannot connect" in result.stdout


def test_untrusted_certificate_is_exit_2(sandbox, mailtap_bin, tmp_path):
    """Without the sandbox CA the server's certificate does not verify: the run cannot start."""
    result = mailtap_run(mailtap_bin, SCRIPTS / "pop3-user-pass-list-retr.mtscript", "--target",
                         f"{sandbox.host}:{sandbox.port('pop3s')}", "--tls", "implicit",
                         "--no-transcripts")
    assert result.returncode == 2, explain(result)
    assert "TLS handshake failed" in result.stdout


def test_many_scripts_junit_and_exit_status(sandbox, mailtap_bin, tmp_path):
    failing = tmp_path / "greeting-differs.mtscript"
    failing.write_text("S: 220 somewhere.else ESMTP\nC: QUIT\nS: 221 *\n")
    junit = tmp_path / "report.xml"
    result = mailtap_run(mailtap_bin, SCRIPTS / "smtp-auth-cram-md5.mtscript", failing,
                         SCRIPTS / "smtp-auth-plain-prompted.mtscript",
                         "--target", f"{sandbox.host}:{sandbox.port('submission')}",
                         "--tls", "starttls", "--upstream-ca", sandbox.ca, "-j", "3",
                         "--junit", junit, "--no-transcripts",
                         "--var", "user=bob", "--var", "pass=bob-secret",
                         "--var", "to=alice@sandbox.test")
    assert result.returncode == 1, explain(result)
    assert "3 runs: 2 passed, 1 failed, 0 could not run" in result.stdout
    assert "[3/3]" in result.stderr  # progress on the terminal
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "0")
    cases = root.findall("./testsuite/testcase")
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == 1 and failed[0].get("name") == str(failing)
    assert "220 somewhere.else" in failed[0].find("failure").text
