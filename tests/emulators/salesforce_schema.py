"""Objects, standard fields and custom-field metadata rules of the Salesforce emulator.

Object Reference (Lead, Contact, Account, Task, User, PermissionSet, FieldPermissions, PermissionSetAssignment)
for the fields, their lengths and which are required on create; Metadata API Developer Guide "CustomField" for
the attributes each field type requires (externalId only on Text, Number and Email fields); SOAP API Developer
Guide "ID Field Type" (15-character ids, and the 18-character form with a 3-character case-safe suffix).
"""
from __future__ import annotations

import csv
import io

STANDARD = {
    "Lead": {"Id": "id", "FirstName": "string", "LastName": "string", "Email": "email", "Title": "string",
             "LeadSource": "picklist", "Company": "string", "Industry": "picklist", "NumberOfEmployees": "int", "Country": "string",
             "OwnerId": "reference", "IsConverted": "boolean", "ConvertedContactId": "reference",
             "ConvertedAccountId": "reference", "ConvertedDate": "date", "MasterRecordId": "reference",
             "IsDeleted": "boolean", "SystemModstamp": "datetime", "LastModifiedById": "reference"},
    "Contact": {"Id": "id", "FirstName": "string", "LastName": "string", "Email": "email", "Title": "string",
                "MailingCountry": "string", "AccountId": "reference", "OwnerId": "reference",
                "MasterRecordId": "reference", "IsDeleted": "boolean", "SystemModstamp": "datetime",
                "LastModifiedById": "reference"},
    "Account": {"Id": "id", "Name": "string", "Website": "url", "Industry": "picklist", "NumberOfEmployees": "int",
                "BillingCountry": "string", "OwnerId": "reference", "MasterRecordId": "reference",
                "IsDeleted": "boolean", "SystemModstamp": "datetime", "LastModifiedById": "reference"},
    "Task": {"Id": "id", "Subject": "string", "Description": "textarea", "WhoId": "reference",
             "WhatId": "reference", "OwnerId": "reference", "ActivityDate": "date", "Status": "picklist",
             "Priority": "picklist", "IsDeleted": "boolean", "SystemModstamp": "datetime"},
    "User": {"Id": "id", "Username": "string", "Email": "email", "Name": "string", "IsActive": "boolean"},
    "PermissionSet": {"Id": "id", "Name": "string", "Label": "string"},
    "FieldPermissions": {"Id": "id", "ParentId": "reference", "SobjectType": "string", "Field": "string",
                         "PermissionsRead": "boolean", "PermissionsEdit": "boolean"},
    "PermissionSetAssignment": {"Id": "id", "AssigneeId": "reference", "PermissionSetId": "reference"},
}
PREFIX = {"Lead": "00Q", "Contact": "003", "Account": "001", "Task": "00T", "User": "005", "PermissionSet": "0PS",
          "FieldPermissions": "01k", "PermissionSetAssignment": "0Pa", "CustomField": "00N", "Job": "750"}
# Fields the API sets and a create or update may not (INVALID_FIELD_FOR_INSERT_UPDATE).
READ_ONLY = {"IsConverted", "ConvertedContactId", "ConvertedAccountId", "ConvertedDate", "MasterRecordId",
             "IsDeleted", "SystemModstamp", "LastModifiedById"}
REQUIRED = {"Lead": ("LastName", "Company"), "Contact": ("LastName",), "Account": ("Name",), "Task": ("Status",)}
LENGTHS = {  # (object, field) -> max length, from the Object Reference
    ("Lead", "FirstName"): 40, ("Lead", "LastName"): 80, ("Lead", "Company"): 255, ("Lead", "Email"): 80,
    ("Lead", "Title"): 128, ("Lead", "Country"): 80, ("Contact", "FirstName"): 40, ("Contact", "LastName"): 80,
    ("Contact", "Email"): 80, ("Contact", "Title"): 128, ("Contact", "MailingCountry"): 80,
    ("Account", "Name"): 255, ("Account", "Website"): 255, ("Account", "BillingCountry"): 80,
    ("Task", "Subject"): 255, ("Task", "Description"): 32000,
}
LABELS = {"LastName": "Last Name", "FirstName": "First Name", "Company": "Company", "Email": "Email",
          "Title": "Title", "Name": "Account Name", "Subject": "Subject", "Description": "Comments"}
_CASE_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
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
    if meta.get("externalId") and kind not in ("Text", "Number", "Email"):
        return f"{kind} fields cannot be external IDs"
    if meta.get("unique") and kind not in ("Text", "Number", "Email"):
        return f"{kind} fields cannot be unique"
    return None


def id18(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character record id; None when it is not a record id at all."""
    if not isinstance(value, str) or len(value) not in (15, 18) or not value.isalnum():
        return None
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(value[chunk * 5:chunk * 5 + 5]) if "A" <= ch <= "Z")
        suffix += _CASE_SAFE[bits]
    if len(value) == 18 and value[15:].upper() != suffix:
        return None
    return value[:15] + suffix


def object_of(record_id: str) -> str | None:
    """The object a record id belongs to, by its 3-character key prefix."""
    return next((obj for obj, prefix in PREFIX.items() if str(record_id).startswith(prefix)), None)


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))
