"""`mailtap report` opened in a real browser (Debian's chromium, headless): the page loads with
its script allowed by the Content-Security-Policy, shows the timeline, TLS boundaries, AUTH
exchanges, latency, warnings and the side-by-side diff, and hostile transcript bytes stay text.

Uses the real captures kept in tests/diff/data (Postfix/Exim, Dovecot/Cyrus), so no sandbox is
needed. Chromium is installed with apt-get when missing (root, Debian), unless
MAILTAP_NO_INSTALL=1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sandbox import REPO_DIR, run

DATA = REPO_DIR / "tests" / "diff" / "data"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("MAILTAP_NO_INSTALL") == "1" or os.geteuid() != 0 or \
            not shutil.which("apt-get"):
        pytest.fail("chromium is not installed (Debian: apt-get install chromium); the report "
                    "page must be checked in a real browser")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-q"], timeout=600, env=env)
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"], timeout=1200,
        env=env)
    path = shutil.which("chromium")
    assert path, "apt-get installed chromium but it is not on PATH"
    return path


def browse(chromium: str, page: Path, *what: str) -> subprocess.CompletedProcess:
    """Runs headless chromium on a file:// page with its own throw-away profile."""
    with tempfile.TemporaryDirectory(prefix="mailtap-chromium-") as profile:
        args = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *what,
                page.resolve().as_uri()]
        return run(args, timeout=120, check=False)


def dump_dom(chromium: str, page: Path) -> str:
    r = browse(chromium, page, "--dump-dom")
    assert r.returncode == 0, f"chromium failed ({r.returncode}): {r.stderr[-2000:]}"
    assert "<html" in r.stdout, r.stdout[:500]
    return r.stdout


class Elements(HTMLParser):
    """Counts elements of the DOM chromium dumped, by tag and by class, and keeps attributes of
    <body>."""

    def __init__(self, dom: str):
        super().__init__()
        self.tags: dict[str, int] = {}
        self.classes: dict[str, int] = {}
        self.body: dict[str, str] = {}
        self.ids: set[str] = set()
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        a = dict(attrs)
        if tag == "body":
            self.body = {k: v or "" for k, v in a.items()}
        if a.get("id"):
            self.ids.add(a["id"])
        for c in (a.get("class") or "").split():
            self.classes[c] = self.classes.get(c, 0) + 1


def report(mailtap_bin: str, out: Path, *files: Path) -> Path:
    r = run([mailtap_bin, "report", *map(str, files), "-o", str(out)], check=False)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 1000
    return out


def test_two_session_report_loads_and_shows_everything(chromium, mailtap_bin, tmp_path):
    page = report(mailtap_bin, tmp_path / "smtp.html", DATA / "postfix-swaks-1.jsonl",
                  DATA / "exim-swaks.jsonl")
    dom = dump_dom(chromium, page)
    e = Elements(dom)
    # the page's own script ran: the CSP hash matched and nothing threw before the end
    assert e.body.get("data-ready") == "yes", "the report's script did not run"
    assert {"diff", "session-0", "session-1", "only-differences"} <= e.ids
    assert e.classes.get("diff-table") == 1
    assert e.classes.get("timeline") == 2
    assert e.classes.get("pair", 0) >= 10
    assert e.classes.get("changed", 0) >= 5
    assert e.classes.get("boundary", 0) >= 4       # TLS on both legs, in both sessions
    assert e.classes.get("auth-badge", 0) >= 2     # the AUTH exchange of each session
    assert e.classes.get("latency", 0) >= 10
    assert e.classes.get("facet", 0) >= 5
    assert "ENHANCEDSTATUSCODES" in dom and "PIPECONNECT" in dom
    assert e.tags.get("script") == 1
    assert not e.tags.get("img") and not e.tags.get("iframe")


def test_imap_report_shows_warnings_and_decoded_auth(chromium, mailtap_bin, tmp_path):
    page = report(mailtap_bin, tmp_path / "imap.html", DATA / "dovecot-imap.jsonl")
    dom = dump_dom(chromium, page)
    e = Elements(dom)
    assert e.body.get("data-ready") == "yes"
    assert "diff" not in e.ids  # one session: no comparison
    assert e.classes.get("warn", 0) >= 1             # Dovecot offers AUTH before TLS
    assert "auth_in_cleartext" in dom
    assert e.classes.get("auth", 0) >= 3             # AUTHENTICATE, challenge, response, OK
    assert "CRAM-MD5" in dom and "HMAC-MD5" in dom    # the decoder's explanation of the steps
    assert e.tags.get("details", 0) >= 1             # the fetched message, folded


def test_hostile_transcript_cannot_run_script(chromium, mailtap_bin, tmp_path):
    payloads = [
        "<script>document.body.setAttribute('data-pwned','script')</script>",
        "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">",
        "\"><svg onload=\"document.body.setAttribute('data-pwned','svg')\">",
        "</pre></td></tr></table><script>document.body.setAttribute('data-pwned','break')</script>",
    ]
    header = {"type": "session", "format": "mailtap-transcript", "version": 1,
              "session": "<script>x</script>", "protocol": "smtp", "t": 1_000_000,
              "client": "127.0.0.1:1", "started": "1970-01-01T00:00:01Z",
              "listener": {"name": "<b>evil</b>", "upstream": "127.0.0.1:25",
                           "client_tls": "plain", "upstream_tls": "plain"}}
    lines = [header]
    t, seq = 1_000_000, 0
    for i, p in enumerate(payloads):
        for frm, to, text in (("server", "client", f"220 {p}\r\n"),
                              ("client", "server", f"EHLO {p}\r\n")):
            t += 1000
            seq += 1
            lines.append({"type": "data", "from": frm, "to": to, "frame": "line", "tls": False,
                          "text": text, "len": len(text), "t": t, "seq": seq, "note": p,
                          "warnings": [{"code": p, "message": p}]})
    t += 1000
    lines.append({"type": "warning", "code": payloads[0], "message": payloads[1], "t": t,
                  "seq": seq + 1})
    evil = tmp_path / "evil.jsonl"
    evil.write_text("".join(json.dumps(x) + "\n" for x in lines))
    page = report(mailtap_bin, tmp_path / "evil.html", evil, DATA / "postfix-swaks-1.jsonl")
    dom = dump_dom(chromium, page)
    e = Elements(dom)
    assert e.body.get("data-ready") == "yes"
    assert "data-pwned" not in e.body, f"injected code ran: {e.body}"
    assert e.tags.get("script") == 1
    assert not e.tags.get("img") and not e.tags.get("svg")
    # and the payloads are shown to the reader as text
    assert "&lt;script&gt;document.body.setAttribute" in dom


def test_screenshot_renders(chromium, mailtap_bin, tmp_path):
    page = report(mailtap_bin, tmp_path / "imap-diff.html", DATA / "dovecot-imap.jsonl",
                  DATA / "cyrus-imap.jsonl")
    shot = tmp_path / "report.png"
    r = browse(chromium, page, f"--screenshot={shot}", "--window-size=1400,1800")
    assert r.returncode == 0, r.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # a blank page compresses to a few kilobytes; a rendered report does not
    assert len(data) > 50_000, len(data)
    keep = os.environ.get("MAILTAP_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
