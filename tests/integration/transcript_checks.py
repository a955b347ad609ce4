"""Checks shared by the proxy integration tests: every transcript is valid against the JSON
Schema in docs/, and small helpers to find events in a transcript."""

from __future__ import annotations

import base64
import json
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


def validate_transcripts(proxy) -> list[list[dict]]:
    """Stops the proxy, validates every line of every transcript it wrote, returns them."""
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
