"""Objects, standard fields and custom-field metadata rules of the Salesforce emulator.

Object Reference (Lead, Contact, Account, Task, User, PermissionSet, FieldPermissions, PermissionSetAssignment)
for the fields; Metadata API Developer Guide "CustomField" for the attributes each field type requires.
"""
from __future__ import annotations

import csv
import io

STANDARD = {
    "Lead": {"Id": "id", "FirstName": "string", "LastName": "string", "Email": "email", "Title": "string",
             "Company": "string", "Industry": "picklist", "NumberOfEmployees": "int", "Country": "string",
             "OwnerId": "reference", "IsConverted": "boolean", "SystemModstamp": "datetime",
             "LastModifiedById": "reference"},
    "Contact": {"Id": "id", "FirstName": "string", "LastName": "string", "Email": "email", "Title": "string",
                "MailingCountry": "string", "AccountId": "reference", "OwnerId": "reference",
                "SystemModstamp": "datetime", "LastModifiedById": "reference"},
    "Account": {"Id": "id", "Name": "string", "Website": "url", "Industry": "picklist", "NumberOfEmployees": "int",
                "BillingCountry": "string", "OwnerId": "reference", "SystemModstamp": "datetime",
                "LastModifiedById": "reference"},
    "Task": {"Id": "id", "Subject": "string", "Description": "textarea", "WhoId": "reference",
             "WhatId": "reference", "OwnerId": "reference", "ActivityDate": "date", "Status": "picklist",
             "Priority": "picklist", "SystemModstamp": "datetime"},
    "User": {"Id": "id", "Username": "string", "Email": "email", "Name": "string", "IsActive": "boolean"},
    "PermissionSet": {"Id": "id", "Name": "string", "Label": "string"},
    "FieldPermissions": {"Id": "id", "ParentId": "reference", "SobjectType": "string", "Field": "string",
                         "PermissionsRead": "boolean", "PermissionsEdit": "boolean"},
    "PermissionSetAssignment": {"Id": "id", "AssigneeId": "reference", "PermissionSetId": "reference"},
}
PREFIX = {"Lead": "00Q", "Contact": "003", "Account": "001", "Task": "00T", "User": "005", "PermissionSet": "0PS",
          "FieldPermissions": "01k", "PermissionSetAssignment": "0Pa", "CustomField": "00N", "Job": "750"}
METADATA_TYPES = {"Number": "double", "Checkbox": "boolean", "Date": "date", "DateTime": "datetime", "Text": "string",
                  "LongTextArea": "textarea", "Picklist": "picklist"}

def check_metadata(meta: dict) -> str | None:
    """The Metadata API's required attributes per field type."""
    kind = meta.get("type")
    if kind not in METADATA_TYPES:
        return f"unsupported field type {kind!r}"
    if not meta.get("label"):
        return "label is required"
    required = {"Number": ("precision", "scale"), "Text": ("length",), "LongTextArea": ("length", "visibleLines"),
                "Checkbox": ("defaultValue",), "Picklist": ("valueSet",)}.get(kind, ())
    missing = [k for k in required if meta.get(k) is None]
    if missing:
        return f"{kind} requires {', '.join(missing)}"
    if kind == "Text" and not 1 <= int(meta["length"]) <= 255:
        return "Text length must be 1-255"
    if kind == "LongTextArea" and not 256 <= int(meta["length"]) <= 131072:
        return "LongTextArea length must be 256-131072"
    return None


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))
