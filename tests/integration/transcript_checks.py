"""Checks shared by the proxy integration tests: every transcript is valid against the JSON
Schema in docs/, and small helpers to find events in a transcript."""

from __future__ import annotations

import base64
import json
import time
from functools import lru_cache
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]
SCHEMA = REPO_DIR / "docs" / "transcript.schema.json"


@lru_cache(maxsize=1)
def _validator():
    import jsonschema  # Debian's python3-jsonschema (tools/install-deps.sh)
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


SESSION_END = '"leg":"both"'  # the close event that ends a session (docs/transcript-format.md)


def wait_sessions_ended(proxy, timeout: float = 15) -> bool:
    """Waits until every transcript the running proxy wrote holds its session's final close
    event, i.e. mailtap itself saw both sides finish. A client that has just exited may not
    have been seen closing yet; stopping the proxy at that moment would record a shutdown
    instead. Returns False when some session is still open at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        files = proxy.transcript_files()
        if files and all(SESSION_END in f.read_text(errors="replace") for f in files):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def validate_transcripts(proxy, *, settle: bool = True, expect_exit: int | None = 0
                         ) -> list[list[dict]]:
    """Stops the proxy, validates every line of every transcript it wrote, returns them.

    settle       first wait for the sessions to end by themselves (pass False when the test
                 leaves sessions open on purpose, for SIGTERM to close them).
    expect_exit  the exit status mailtap must end with (3 says a transcript could not be
                 written); None to not check it."""
    if settle and proxy.running():
        wait_sessions_ended(proxy)
    status = proxy.stop()
    if expect_exit is not None:
        assert status == expect_exit, (
            f"mailtap proxy exited with status {status}, expected {expect_exit}\n"
            f"stderr: {proxy.stderr()}")
    transcripts = proxy.load_transcripts()
    assert transcripts, f"the proxy wrote no transcript in {proxy.transcripts}"
    v = _validator()
    for path, events in zip(proxy.transcript_files(), transcripts):
        assert oct(path.stat().st_mode & 0o777) == oct(0o600), f"{path} is not mode 0600"
        assert events[0]["type"] == "session", f"{path}: first line is not the session header"
        for n, e in enumerate(events, 1):
            errors = sorted(v.iter_errors(e), key=lambda x: x.path)
            assert not errors, f"{path}:{n}: {errors[0].message}\n{json.dumps(e)[:500]}"
    return transcripts


def data_bytes(event: dict) -> bytes:
    if "text" in event:
        return event["text"].encode("utf-8")
    return base64.b64decode(event.get("b64", ""))


def data(events, frm=None, to=None):
    return [e for e in events if e.get("type") == "data" and (frm is None or e["from"] == frm)
            and (to is None or e["to"] == to)]


def of_type(events, kind):
    return [e for e in events if e.get("type") == kind]


def codes(events, kind):
    return [e.get("code") for e in of_type(events, kind)]


def joined(events, frm, to) -> bytes:
    return b"".join(data_bytes(e) for e in data(events, frm, to))
