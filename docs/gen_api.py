"""Render the ingest API's OpenAPI document (what GET /openapi.json serves) into docs/api.md.

    python docs/gen_api.py          # rewrite the generated block of docs/api.md
    python docs/gen_api.py --check  # exit 1 when the committed block differs from a fresh render
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_MD = ROOT / "docs" / "api.md"
BEGIN = "<!-- BEGIN GENERATED: python docs/gen_api.py -->"
END = "<!-- END GENERATED -->"


def _ref_name(schema: dict) -> str:
    return schema["$ref"].rsplit("/", 1)[-1]


def _type(schema: dict) -> str:
    if "$ref" in schema:
        return _ref_name(schema)
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{str(schema['const']).lower()}`"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    return " \\| ".join(kind) if isinstance(kind, list) else kind


def _schema_table(name: str, schema: dict) -> list[str]:
    lines = [f"#### `{name}`", ""]
    if schema.get("description"):
        lines += [schema["description"], ""]
    required = set(schema.get("required", ()))
    lines += ["| property | type | required | notes |", "|---|---|---|---|"]
    for prop, sub in schema.get("properties", {}).items():
        notes = sub.get("description", "")
        if "maxLength" in sub:
            notes = (notes + "; " if notes else "") + f"at most {sub['maxLength']} characters"
        lines.append(f"| `{prop}` | {_type(sub)} | {'yes' if prop in required else ''} | {notes} |")
    if schema.get("additionalProperties"):
        lines.append("| (any other) | any | | kept as sent |")
    return lines + [""]


def render(spec: dict) -> str:
    """The Markdown block for one OpenAPI document: operations, status codes, request and response schemas."""
    schemes = spec["components"]["securitySchemes"]
    lines = [f"OpenAPI {spec['openapi']}, *{spec['info']['title']}*, version {spec['info']['version']}.", "",
             "### Operations", "", "| method and path | summary | request body | auth |", "|---|---|---|---|"]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            body = op["requestBody"]["content"]["application/json"]["schema"]
            body_text = _type(body) if "$ref" in body else "object: " + ", ".join(
                f"`{k}`" + (" (required)" if k in body.get("required", ()) else "") for k in body["properties"])
            auth = ", ".join(f"{name} ({schemes[name]['scheme']})" for req in op.get("security", ()) for name in req)
            lines.append(f"| `{method.upper()} {path}` | {op['summary']} | {body_text} | {auth} |")
    lines += ["", "### Headers", "", "| header | values | meaning |", "|---|---|---|"]
    seen = set()
    for item in spec["paths"].values():
        for op in item.values():
            for param in op.get("parameters", ()):
                if param["in"] == "header" and param["name"] not in seen:
                    seen.add(param["name"])
                    lines.append(f"| `{param['name']}` | {_type(param['schema'])} | {param.get('description', '')} |")
    lines += ["", "### Status codes", "", "Every operation answers with these:", "",
              "| status | body | meaning |", "|---|---|---|"]
    codes: dict[str, dict] = {}
    for item in spec["paths"].values():
        for op in item.values():
            codes.update(op["responses"])
    for code in sorted(codes):
        answer = codes[code]
        body = answer.get("content", {}).get("application/json", {}).get("schema", {})
        lines.append(f"| `{code}` | {_type(body) if body else ''} | {answer['description']} |")
    lines += ["", "### Schemas", ""]
    for name, schema in spec["components"]["schemas"].items():
        lines += _schema_table(name, schema)
    for name, scheme in schemes.items():
        lines.append(f"Security scheme `{name}`: HTTP {scheme['scheme']}, {scheme.get('description', '')}.")
    return "\n".join(lines).rstrip() + "\n"


def current_spec() -> dict:
    """The document exactly as GET /openapi.json serves it (Flask's JSON sorts keys)."""
    from flask import Flask

    from crm_app.web import openapi
    app = Flask(__name__)
    app.register_blueprint(openapi.bp)
    return app.test_client().get("/openapi.json").get_json()


def splice(text: str, block: str) -> str:
    """`text` with the part between the BEGIN and END markers replaced by `block`."""
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{API_MD.name}: the markers {BEGIN!r} and {END!r} are missing; add them where the "
                         "generated reference belongs")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return f"{head}{BEGIN}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when docs/api.md is stale")
    args = parser.parse_args(argv)
    text = API_MD.read_text()
    fresh = splice(text, render(current_spec()))
    if args.check:
        if fresh != text:
            print("docs/api.md is stale: run python docs/gen_api.py", file=sys.stderr)
            return 1
        return 0
    API_MD.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
