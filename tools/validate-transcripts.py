#!/usr/bin/python3
"""Validate mailtap transcripts against docs/transcript.schema.json.

Usage: /usr/bin/python3 tools/validate-transcripts.py FILE_OR_DIR...

Every line of every .jsonl file (directories are searched recursively) must match the schema.
Beyond the schema, the file-level rules of docs/transcript-format.md are checked: the first line
is the session header and no other line is; "seq" counts 1, 2, 3, ...; "t" never goes backwards;
"len" is the length of the bytes that "text"/"b64" rebuild (unless "redacted"). A last line cut
off mid-write (no final newline, not JSON) is tolerated, as readers must tolerate it.

Prints "N files, M lines valid" and exits 0, or prints each problem as FILE:LINE: message and
exits 1. Needs the jsonschema module (Debian: python3-jsonschema).
"""

import base64
import binascii
import json
import os
import sys

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs",
                      "transcript.schema.json")


def transcript_files(args):
    for arg in args:
        if os.path.isdir(arg):
            for root, dirs, files in os.walk(arg):
                dirs.sort()
                for name in sorted(files):
                    if name.endswith(".jsonl"):
                        yield os.path.join(root, name)
        else:
            yield arg


def rebuilt_length(event):
    if "text" in event and isinstance(event["text"], str):
        return len(event["text"].encode("utf-8"))
    if "b64" in event and isinstance(event["b64"], str):
        try:
            return len(base64.b64decode(event["b64"], validate=True))
        except (binascii.Error, ValueError):
            return None
    return None


def check_file(path, validator, errors):
    """Returns the number of valid lines; appends (path, line, message) to errors."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        errors.append((path, 0, "cannot read: %s" % e.strerror))
        return 0
    if not raw:
        errors.append((path, 0, "empty file (a transcript starts with its session header line)"))
        return 0
    lines = raw.split(b"\n")
    unterminated = lines[-1] != b""
    if not unterminated:
        lines.pop()
    valid = 0
    last_seq = 0
    last_t = None
    for number, blob in enumerate(lines, start=1):
        is_last = number == len(lines)
        try:
            event = json.loads(blob.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            if is_last and unterminated and number > 1:
                print("%s:%d: note: last line cut off mid-write (tolerated)" % (path, number),
                      file=sys.stderr)
                break
            errors.append((path, number, "not valid JSON: %s" % e))
            continue
        problems = sorted(validator.iter_errors(event), key=lambda e: list(e.absolute_path))
        for p in problems:
            where = "/".join(str(x) for x in p.absolute_path)
            errors.append((path, number, "%s%s" % (where + ": " if where else "", p.message)))
        if not isinstance(event, dict):
            continue
        line_ok = not problems
        kind = event.get("type")
        if number == 1 and kind != "session":
            errors.append((path, number, "the first line must be the session header"))
            line_ok = False
        if number > 1 and kind == "session":
            errors.append((path, number, "a session header after the first line"))
            line_ok = False
        if number > 1:
            seq = event.get("seq")
            if isinstance(seq, int) and seq != last_seq + 1:
                errors.append((path, number, "seq %d follows %d" % (seq, last_seq)))
                line_ok = False
            if isinstance(seq, int):
                last_seq = seq
        t = event.get("t")
        if isinstance(t, int):
            if last_t is not None and t < last_t:
                errors.append((path, number, "time goes backwards (%d < %d)" % (t, last_t)))
                line_ok = False
            last_t = t
        if kind == "data" and not event.get("redacted", False):
            n = rebuilt_length(event)
            if n is not None and isinstance(event.get("len"), int) and n != event["len"]:
                errors.append((path, number, "len %d but the bytes are %d long" % (event["len"], n)))
                line_ok = False
        if line_ok:
            valid += 1
    return valid


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 1
    try:
        import jsonschema
    except ImportError:
        print("validate-transcripts: the jsonschema module is missing "
              "(Debian: apt-get install python3-jsonschema)", file=sys.stderr)
        return 1
    with open(SCHEMA, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    errors = []
    files = 0
    lines = 0
    for path in transcript_files(argv[1:]):
        files += 1
        lines += check_file(path, validator, errors)
    if files == 0:
        print("validate-transcripts: no .jsonl files in %s" % " ".join(argv[1:]), file=sys.stderr)
        return 1
    for path, number, message in errors:
        print("%s:%d: %s" % (path, number, message))
    if errors:
        print("%d files, %d problems" % (files, len(errors)))
        return 1
    print("%d files, %d lines valid" % (files, lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
