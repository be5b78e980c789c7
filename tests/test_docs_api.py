"""docs/api.md's generated reference is a fresh render of the OpenAPI document the service serves."""
from __future__ import annotations

import pytest

from docs import gen_api

served_spec = gen_api.current_spec


def test_the_committed_reference_equals_a_fresh_render():
    text = gen_api.API_MD.read_text()
    assert gen_api.splice(text, gen_api.render(served_spec())) == text, "docs/api.md is stale: python docs/gen_api.py"


def test_every_path_and_status_code_is_rendered():
    spec = served_spec()
    block = gen_api.render(spec)
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert f"`{method.upper()} {path}`" in block
            assert all(f"| `{code}` |" in block for code in op["responses"])


def test_a_changed_document_makes_the_committed_block_stale():
    spec = served_spec()
    spec["paths"]["/v1/track"]["post"]["summary"] = "renamed"
    text = gen_api.API_MD.read_text()
    assert gen_api.splice(text, gen_api.render(spec)) != text


@pytest.mark.parametrize("text", ["no markers", f"{gen_api.BEGIN} but no end"])
def test_missing_markers_are_a_clear_error(text):
    with pytest.raises(SystemExit, match="markers"):
        gen_api.splice(text, "x")
