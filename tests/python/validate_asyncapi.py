"""Validates an AsyncAPI document (stdin) against the AsyncAPI 3.0.0 JSON schema.

Usage: validate_asyncapi.py SCHEMA < document.json
Prints `valid`, or each error on its own line and exits 1.
"""

import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
document = json.load(sys.stdin)
errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.path))
for error in errors:
    print("/".join(map(str, error.path)) + ": " + error.message)
print("valid" if not errors else f"{len(errors)} errors")
sys.exit(1 if errors else 0)
