"""Check HTTP exchanges against the edge's OpenAPI document, and log lines against the log schema.

usage:
  contract_check.py openapi SPEC.json EXCHANGES.json   # [{method, path, status, body}] (body parsed JSON)
  contract_check.py log SCHEMA.json LINES.txt          # one JSON object per line
Validates SPEC with openapi-spec-validator first. Prints one line per violation and exits 1 if any.
"""
import json
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec


def pointer(*parts):
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def check_openapi(spec_path, exchanges_path):
    spec = json.load(open(spec_path))
    validate_spec(spec)
    errors = []
    for x in json.load(open(exchanges_path)):
        path = x["path"].split("?")[0]
        op = spec["paths"].get(path, {}).get(x["method"].lower())
        where = f'{x["method"]} {x["path"]} -> {x["status"]}'
        if op is None:
            if x["status"] not in (404, 405):
                errors.append(f"{where}: route not in the spec")
            continue
        status = str(x["status"])
        response = op["responses"].get(status) or op["responses"].get("default")
        if response is None:
            errors.append(f"{where}: status not documented")
            continue
        ref_parts = ["paths", path, x["method"].lower(), "responses", status]
        if "$ref" in response:
            ref_parts = response["$ref"][2:].split("/")
            response = spec["components"]["responses"][ref_parts[-1]]
        schema_ptr = pointer(*ref_parts, "content", "application/json", "schema")
        # Validate against the whole document with a root $ref, so every "#/components/..." resolves.
        validator = Draft202012Validator({**spec, "$ref": schema_ptr})
        for e in validator.iter_errors(x["body"]):
            errors.append(f"{where}: {e.message} at {list(e.absolute_path)}")
    return errors


def check_log(schema_path, lines_path):
    validator = Draft202012Validator(json.load(open(schema_path)))
    errors = []
    for n, line in enumerate(open(lines_path), 1):
        line = line.strip()
        if not line:
            continue
        for e in validator.iter_errors(json.loads(line)):
            errors.append(f"line {n}: {e.message} at {list(e.absolute_path)}: {line[:200]}")
    return errors


if __name__ == "__main__":
    mode, a, b = sys.argv[1:4]
    errs = check_openapi(a, b) if mode == "openapi" else check_log(a, b)
    for e in errs:
        print(e)
    sys.exit(1 if errs else 0)
