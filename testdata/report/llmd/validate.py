#!/usr/bin/env python3
"""Validate llm-d benchmark reports (JSON or YAML-free JSON files) against the v0.2 JSON Schema.

Usage: validate.py SCHEMA REPORT...   Exit 0 when every report is valid, 1 with every error listed.
Uses Python's `jsonschema` (installed by .ci/setup) with format checking on (date-time).
"""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
bad = 0
for path in sys.argv[2:]:
    report = json.load(open(path))
    for err in sorted(validator.iter_errors(report), key=lambda e: list(e.path)):
        bad += 1
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        print(f"{path}: {where}: {err.message}", file=sys.stderr)
sys.exit(1 if bad else 0)
