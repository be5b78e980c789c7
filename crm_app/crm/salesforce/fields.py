"""Salesforce field types: our FIELD_TYPES <-> Metadata API CustomField types and describe() types."""
from __future__ import annotations

_DESCRIBE = {"double": "number", "int": "number", "currency": "number", "percent": "number", "boolean": "boolean",
             "date": "date", "datetime": "datetime", "picklist": "picklist"}


def our_type(described: dict) -> str:
    """Our type of a field as describe() reports it; a textarea over 255 characters is long text."""
    kind = described.get("type")
    if kind == "textarea":
        return "long_text" if int(described.get("length") or 0) > 255 else "text"
    return _DESCRIBE.get(kind, "text")


def field_metadata(spec) -> dict:
    """The Metadata API CustomField body for a field spec (Metadata API Developer Guide: CustomField)."""
    meta = {"label": spec.label[:40], "description": f"Written by the PQL scoring engine ({spec.key})"}
    if spec.type == "number":
        meta.update(type="Number", precision=18, scale=0 if spec.value != "model_score" else 4)
    elif spec.type == "boolean":
        meta.update(type="Checkbox", defaultValue="false")
    elif spec.type == "date":
        meta.update(type="Date")
    elif spec.type == "datetime":
        meta.update(type="DateTime")
    elif spec.type == "text":
        meta.update(type="Text", length=min(spec.length or 255, 255))
    elif spec.type == "long_text":
        meta.update(type="LongTextArea", length=max(256, spec.length or 32768), visibleLines=5)
    elif spec.type == "picklist":
        meta.update(type="Picklist", valueSet={"restricted": True, "valueSetDefinition": {
            "sorted": False, "value": [{"fullName": o, "label": o, "default": False} for o in spec.options]}})
    return meta
