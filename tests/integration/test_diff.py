"""`mailtap diff` on real captures: the same curl/swaks/python sessions through the proxy against
the same server twice (no differences), and against Postfix vs Exim, Dovecot vs Cyrus IMAP
(tools/sandbox-second.sh): real differences (capabilities, texts, codes) and no volatile noise.
"""

from __future__ import annotations

import imaplib
import json
import re
import smtplib
import ssl
import time
from pathlib import Path

import pytest

from sandbox import (BASE_PORTS, REPO_DIR, Sandbox, port_is_free, run, swaks)

SECOND_SCRIPT = REPO_DIR / "tools" / "sandbox-second.sh"
SECOND_BASE_PORTS = {"smtp": 10525, "submission": 11087, "smtps": 10965, "imap": 10643,
                     "imaps": 11493, "pop3": 10610, "pop3s": 11495}
FOLDER = "mailtap-diff"  # a folder of its own on both IMAP servers: its content is known
MESSAGE = (b"From: bob@sandbox.test\r\nTo: bob@sandbox.test\r\nSubject: mailtap diff fixture\r\n"
           b"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <diff-fixture@sandbox.test>\r\n"
           b"\r\nthe same message on both servers\r\n")

# What volatile values look like when they leak through unnormalised.
VOLATILE = [
    (re.compile(r"\b\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}\b"), "a date"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"), "a timestamp"),
    (re.compile(r"UIDVALIDITY \d"), "a UIDVALIDITY value"),
    (re.compile(r"queued as [0-9A-F]{6,}|id=[0-9A-Za-z]{6}-"), "a queue id"),
    # (not a capability's own value such as APPENDLIMIT=4294967295)
    (re.compile(r"(?<![=\w])\d{9,}\b"), "a long number (UIDVALIDITY, timestamp, nonce)"),
    (re.compile(r"SESSIONID=<[^s]"), "a session id"),
    (re.compile(r"secs\)"), "a server timing"),
]


# --- the second servers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(sandbox):
    """The first sandbox with bob's mailboxes as the IMAP and POP3 sessions expect them."""
    _prepare_mailboxes(sandbox)
    return sandbox


@pytest.fixture(scope="module")
def second(prepared):
    """Exim and Cyrus from tools/sandbox-second.sh, in the sandbox's own directory (sharing its
    test CA), on the first set of free ports."""
    sandbox = prepared
    offsets = [sandbox.info.get("port_offset", 0)] + [1000 * k for k in range(0, 22)]
    last = None
    started = None
    for offset in dict.fromkeys(offsets):
        if not all(port_is_free(p + offset) for p in SECOND_BASE_PORTS.values()):
            continue
        env_offset = {"MAILTAP_SANDBOX_PORT_OFFSET": str(offset)}
        result = _second_cmd("start", sandbox.dir, env_offset)
        if result.returncode == 0:
            started = Sandbox(sandbox.dir, json.loads((sandbox.dir / "sandbox-second.json")
                                                      .read_text()))
            break
        last = result
        if result.returncode != 4:
            break
    if started is None:
        pytest.fail("tools/sandbox-second.sh start failed"
                    + (f" (exit {last.returncode})\nstdout: {last.stdout}\nstderr: {last.stderr}"
                       if last else ": no free set of ports"))
    try:
        _prepare_mailboxes(started)
        yield started
    finally:
        _second_cmd("stop", sandbox.dir, {})


def _second_cmd(action: str, directory: Path, env_extra: dict):
    import os
    env = dict(os.environ, **env_extra)
    return run(["bash", str(SECOND_SCRIPT), action, str(directory)], timeout=600, check=False,
               env=env)


def _prepare_mailboxes(sb: Sandbox):
    """bob gets FOLDER holding exactly MESSAGE, and at least one message in INBOX."""
    user = sb.user("bob")
    m = imaplib.IMAP4(sb.host, sb.port("imap"))
    try:
        m.starttls(ssl_context=sb.ssl_context())
        m.login(user.login, user.password)
        m.create(FOLDER)
        status, data = m.select(FOLDER)
        assert status == "OK", data
        if data[0] == b"0":
            # already \Seen: fetching it changes no flag, so every later session sees the same
            assert m.append(FOLDER, "(\\Seen)", None, MESSAGE)[0] == "OK"
        status, data = m.select("INBOX")
        if data[0] == b"0":
            assert m.append("INBOX", None, None, MESSAGE)[0] == "OK"
    finally:
        m.logout()


# --- capturing ---------------------------------------------------------------------------------


def wait_closed(p, timeout: float = 15) -> None:
    """Waits until the proxy has recorded the end of the session (both legs closed), so that
    stopping it does not cut the session short."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in p.transcript_files():
            if '"leg":"both"' in f.read_text(errors="replace"):
                return
        time.sleep(0.1)
    raise AssertionError(f"the session through {p.args} did not close within {timeout}s")


def capture(proxy, server: Sandbox, service: str, client, tmp_path: Path, name: str) -> Path:
    """Runs `client(port, ca)` through a fresh proxy in front of `server`'s `service`; returns a
    copy of the transcript."""
    proto = {"smtp": "smtp", "submission": "smtp", "imap": "imap", "pop3": "pop3"}[service]
    p = proxy(upstream=f"127.0.0.1:{server.port(service)}", proto=proto,
              client_tls="starttls", upstream_tls="starttls", upstream_ca=server.ca)
    client(p.port, p.ca_pem)
    wait_closed(p)
    p.stop()
    files = p.transcript_files()
    assert len(files) == 1, files
    out = tmp_path / f"{name}.jsonl"
    out.write_bytes(files[0].read_bytes())
    return out


def swaks_submission(port: int, ca: Path):
    swaks("127.0.0.1", port, to="alice@sandbox.test", sender="alice@sandbox.test", ca=ca,
          tls="starttls", auth="PLAIN", user="alice", password="alice-secret",
          subject="mailtap diff", body="the same body")


def curl_imap(port: int, ca: Path):
    run(["curl", "-sS", "--ssl-reqd", "--cacert", str(ca), "-u", "bob:bob-secret",
         f"imap://127.0.0.1:{port}/{FOLDER};UID=1"], timeout=60)


def curl_pop3(port: int, ca: Path):
    run(["curl", "-sS", "--ssl-reqd", "--cacert", str(ca), "-u", "bob:bob-secret",
         f"pop3://127.0.0.1:{port}/1"], timeout=60)


def curl_smtp(port: int, ca: Path):
    run(["curl", "-sS", "--ssl-reqd", "--cacert", str(ca), "-u", "alice:alice-secret",
         "--mail-from", "alice@sandbox.test", "--mail-rcpt", "alice@sandbox.test",
         "-T", "-", f"smtp://127.0.0.1:{port}"], timeout=60, input=MESSAGE)


def smtplib_session(extra_noop: bool):
    def client(port: int, ca: Path):
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30) as s:
            s.ehlo()
            s.starttls(context=ssl.create_default_context(cafile=str(ca)))
            s.ehlo()
            if extra_noop:
                s.noop()
            s.login("alice", "alice-secret")
            s.sendmail("alice@sandbox.test", ["alice@sandbox.test"], MESSAGE)
    return client


def mailtap_diff(mailtap_bin: str, a: Path, b: Path, *args: str):
    return run([mailtap_bin, "diff", str(a), str(b), "--color", "never", *args], check=False)


def diff_json(mailtap_bin: str, a: Path, b: Path, *args: str) -> tuple[int, dict]:
    r = mailtap_diff(mailtap_bin, a, b, "--format", "json", *args)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def differences(report: dict, verb: str | None = None) -> list[dict]:
    out = []
    for s in report["steps"]:
        side = s["a"] or s["b"]
        if verb is None or side["verb"] == verb:
            out.extend(s["differences"])
    return out


def assert_no_volatile_noise(report: dict) -> None:
    for s in report["steps"]:
        for d in s["differences"]:
            values = [d.get("a", ""), d.get("b", "")] + d.get("only_a", []) + d.get("only_b", [])
            values += [c["text"] for c in d.get("changes", [])]
            for v in values:
                for pattern, what in VOLATILE:
                    assert not pattern.search(v), \
                        f"{what} leaked into the '{d['facet']}' difference: {v!r}"


# --- the same session twice: no differences --------------------------------------------------


@pytest.mark.parametrize("service,client", [
    ("submission", swaks_submission),
    ("submission", curl_smtp),
    ("imap", curl_imap),
    ("pop3", curl_pop3),
], ids=["swaks-smtp", "curl-smtp", "curl-imap", "curl-pop3"])
def test_same_session_twice_against_the_same_server_has_no_differences(
        prepared, proxy, mailtap_bin, tmp_path, service, client):
    sandbox = prepared
    a = capture(proxy, sandbox, service, client, tmp_path, "a")
    b = capture(proxy, sandbox, service, client, tmp_path, "b")
    assert a.read_bytes() != b.read_bytes()  # different captures (times, ids...)
    r = mailtap_diff(mailtap_bin, a, b)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no differences" in r.stdout
    code, report = diff_json(mailtap_bin, a, b)
    assert code == 0 and report["identical"] is True
    assert report["summary"]["changed"] == report["summary"]["only_a"] == 0
    assert report["summary"]["same"] >= 5


# --- two different servers: real differences, no noise ---------------------------------------


def test_postfix_vs_exim_same_swaks_session(sandbox, second, proxy, mailtap_bin, tmp_path):
    a = capture(proxy, sandbox, "submission", swaks_submission, tmp_path, "postfix")
    b = capture(proxy, second, "submission", swaks_submission, tmp_path, "exim")
    code, report = diff_json(mailtap_bin, a, b)
    assert code == 1
    assert report["summary"]["only_a"] == report["summary"]["only_b"] == 0, \
        "the same client: every command should pair"
    ehlo = [d for d in differences(report, "EHLO") if d["facet"] == "extensions"]
    assert ehlo, "EHLO extension sets should differ"
    assert "ENHANCEDSTATUSCODES" in ehlo[0]["only_a"]
    assert "HELP" in ehlo[0]["only_b"]
    codes = [d for d in differences(report, "MAIL") if d["facet"] == "enhanced code"]
    assert codes and codes[0]["a"] == "2.1.0" and codes[0].get("missing_in") == "b"
    texts = {d["b"] for d in differences(report, "DATA") if d["facet"] == "text"}
    assert texts == {"OK id=<queue-id>"}
    assert not [d for d in differences(report, "DATA") if d["facet"] == "message"], \
        "the message the client sent is the same"
    assert_no_volatile_noise(report)
    # the terminal report names them too
    r = mailtap_diff(mailtap_bin, a, b)
    assert r.returncode == 1
    assert "ENHANCEDSTATUSCODES" in r.stdout and "~ EHLO" in r.stdout


def test_dovecot_vs_cyrus_same_curl_imap_session(sandbox, second, proxy, mailtap_bin, tmp_path):
    a = capture(proxy, sandbox, "imap", curl_imap, tmp_path, "dovecot")
    b = capture(proxy, second, "imap", curl_imap, tmp_path, "cyrus")
    code, report = diff_json(mailtap_bin, a, b)
    assert code == 1
    assert report["summary"]["only_a"] == report["summary"]["only_b"] == 0
    caps = [d for d in differences(report, "CAPABILITY") if d["facet"] == "capabilities"]
    assert caps and "ACL" in caps[0]["only_b"]
    greeting = [d for d in differences(report, "greeting") if d["facet"] == "text"]
    assert greeting and "Dovecot" in greeting[0]["a"] and "Cyrus" in greeting[0]["b"]
    fetch = differences(report, "UID FETCH")
    assert not [d for d in fetch if d["facet"] == "server content"], \
        f"the same message should compare equal: {fetch}"
    assert_no_volatile_noise(report)


def test_dovecot_vs_cyrus_same_curl_pop3_session(sandbox, second, proxy, mailtap_bin, tmp_path):
    a = capture(proxy, sandbox, "pop3", curl_pop3, tmp_path, "dovecot")
    b = capture(proxy, second, "pop3", curl_pop3, tmp_path, "cyrus")
    code, report = diff_json(mailtap_bin, a, b)
    assert code == 1
    caps = [d for d in differences(report, "CAPA") if d["facet"] == "capabilities"]
    assert caps and "IMPLEMENTATION" in caps[0]["only_b"]
    greeting = [d for d in differences(report, "greeting") if d["facet"] == "text"]
    assert greeting and "<apop-timestamp>" in greeting[0]["b"]
    assert_no_volatile_noise(report)


def test_ignore_options_narrow_the_comparison(sandbox, second, proxy, mailtap_bin, tmp_path):
    a = capture(proxy, sandbox, "imap", curl_imap, tmp_path, "dovecot")
    b = capture(proxy, second, "imap", curl_imap, tmp_path, "cyrus")
    _, plain = diff_json(mailtap_bin, a, b)
    _, quiet = diff_json(mailtap_bin, a, b, "--ignore-banners", "--ignore", "^ACL$")
    assert [d for d in differences(plain, "greeting") if d["facet"] == "text"]
    assert not [d for d in differences(quiet, "greeting") if d["facet"] == "text"]
    caps = [d for d in differences(quiet, "CAPABILITY") if d["facet"] == "capabilities"]
    assert caps and "ACL" not in caps[0]["only_b"] and "QUOTA" in caps[0]["only_b"]


# --- alignment on a real session ---------------------------------------------------------------


def test_one_extra_command_aligns_the_rest(sandbox, proxy, mailtap_bin, tmp_path):
    a = capture(proxy, sandbox, "submission", smtplib_session(False), tmp_path, "plain")
    b = capture(proxy, sandbox, "submission", smtplib_session(True), tmp_path, "noop")
    code, report = diff_json(mailtap_bin, a, b)
    assert code == 1
    s = report["summary"]
    assert (s["only_a"], s["only_b"], s["changed"]) == (0, 1, 0), s
    extra = [st for st in report["steps"] if st["status"] == "only_b"]
    assert extra[0]["b"]["verb"] == "NOOP"
    after = report["steps"][report["steps"].index(extra[0]) + 1:]
    assert after and all(st["status"] == "same" for st in after)


def test_unreadable_transcript_is_trouble(mailtap_bin, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not a transcript\n")
    r = mailtap_diff(mailtap_bin, bad, tmp_path / "missing.jsonl")
    assert r.returncode == 2
    assert str(bad) in r.stderr
    r = mailtap_diff(mailtap_bin, tmp_path / "missing.jsonl", bad)
    assert r.returncode == 2 and "missing.jsonl" in r.stderr


# --- a proxy capture against a `mailtap run` replay of it ------------------------------------


def replay(mailtap_bin: str, capture_file: Path, server: Sandbox, service: str, user: str,
           tmp_path: Path, name: str) -> tuple[int, Path]:
    """Replays a capture with `mailtap run` against `server`'s `service`; returns the runner's
    exit status and its own transcript."""
    out = tmp_path / f"run-{name}"
    u = server.user(user)
    r = run([mailtap_bin, "run", str(capture_file), "--target",
             f"127.0.0.1:{server.port(service)}", "--upstream-ca", str(server.ca),
             "--var", f"user={u.login}", "--var", f"pass={u.password}",
             "--transcripts", str(out), "--color", "never"], check=False, timeout=120)
    assert r.returncode in (0, 1), f"mailtap run could not run:\n{r.stdout}\n{r.stderr}"
    files = sorted(out.glob("*.jsonl"))
    assert len(files) == 1, (files, r.stdout, r.stderr)
    return r.returncode, files[0]


@pytest.mark.parametrize("service,client,user", [
    ("submission", swaks_submission, "alice"),
    ("imap", curl_imap, "bob"),
    ("pop3", curl_pop3, "bob"),
], ids=["swaks-smtp", "curl-imap", "curl-pop3"])
def test_capture_against_its_replay_compares_the_server_legs(
        prepared, proxy, mailtap_bin, tmp_path, service, client, user):
    sandbox = prepared
    captured = capture(proxy, sandbox, service, client, tmp_path, "capture")
    status, replayed = replay(mailtap_bin, captured, sandbox, service, user, tmp_path, "same")
    assert status == 0, "the replay against the same server should pass"
    for a, b in ((captured, replayed), (replayed, captured)):
        r = mailtap_diff(mailtap_bin, a, b)
        assert r.returncode == 0, r.stdout + r.stderr
        words = " ".join(r.stdout.split())  # notes are wrapped
        assert "no differences" in words and "client leg" in words, r.stdout
        code, report = diff_json(mailtap_bin, a, b)
        assert code == 0 and report["identical"] is True
        assert report["header_differences"] == []
        assert any("client leg" in n for n in report["notes"]), report["notes"]
        runner_side = "b" if a == captured else "a"
        assert report[runner_side]["recorded_by"] == "mailtap run"
        # the server legs' handshakes were paired with each other
        tls = [s for s in report["steps"] if (s["a"] or s["b"])["kind"] == "tls"]
        assert tls and all(s["a"] and s["b"] and s["a"]["verb"] == s["b"]["verb"] == "TLS server"
                           for s in tls), tls


def test_capture_against_its_replay_on_another_server_shows_only_real_differences(
        sandbox, second, proxy, mailtap_bin, tmp_path):
    captured = capture(proxy, sandbox, "submission", swaks_submission, tmp_path, "postfix")
    _, replayed = replay(mailtap_bin, captured, second, "submission", "alice", tmp_path, "exim")
    code, report = diff_json(mailtap_bin, captured, replayed)
    assert code == 1
    assert report["summary"]["only_a"] == report["summary"]["only_b"] == 0, \
        [s for s in report["steps"] if s["status"] != "same" and s["status"] != "changed"]
    assert any("client leg" in n for n in report["notes"])
    ehlo = [d for d in differences(report, "EHLO") if d["facet"] == "extensions"]
    assert ehlo and "HELP" in ehlo[0]["only_b"]
    assert_no_volatile_noise(report)
