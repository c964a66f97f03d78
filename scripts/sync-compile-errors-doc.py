#!/usr/bin/env python3
"""Refreshes the compiler output shown in docs/compile-errors.md from the UI tests'
expected output (tars-mqtt/tests/ui/fail/*.stderr). Run it after regenerating them with
`TRYBUILD=overwrite cargo test -p tars-mqtt --test ui`. New cases need a section
written by hand; this script reports them."""

import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
doc_path = root / "docs" / "compile-errors.md"
doc = doc_path.read_text()
missing = []
for stderr in sorted((root / "tars-mqtt/tests/ui/fail").glob("*.stderr")):
    case = f"tests/ui/fail/{stderr.stem}.rs"
    block = re.compile(r"```text\n(?:(?!```).)*?" + re.escape(case) + r"(?:(?!```).)*?```", re.S)
    new = "```text\n" + stderr.read_text().rstrip() + "\n```"
    doc, count = block.subn(lambda _: new, doc)
    if count == 0:
        missing.append(stderr.stem)
doc_path.write_text(doc)
if missing:
    print("no section yet in docs/compile-errors.md for:", ", ".join(missing))
    sys.exit(1)
