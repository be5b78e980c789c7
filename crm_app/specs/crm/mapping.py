"""The CRM data mapping (mapping/crm.yaml): which CRM fields feed which of our person and account fields."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crm_app.errors import ErrorCollector, SpecSetInvalid
from crm_app.specs.reader import Reader, Where
from crm_app.specs.yamlsource import load_yaml

CRMS = {"sandbox": ("leads", "contacts", "accounts"), "salesforce": ("Lead", "Contact", "Account"),
        "hubspot": ("contacts", "companies")}
SUBJECTS = ("person", "account")
MAPPING_HOLDS = "a section per CRM ('sandbox:', 'salesforce:', 'hubspot:') mapping its objects to our fields"
PERSON_COLUMNS = ("email",)
ACCOUNT_COLUMNS = ("name", "domain")


@dataclass(frozen=True)
class ObjectMapping:
    """How one CRM object becomes people or accounts: our field -> CRM field."""

    object_type: str
    subject: str
    fields: tuple  # ((our_key, crm_field), ...)
    account_link: str | None = None  # CRM field holding the account / company id
    source: str = ""

    @property
    def crm_fields(self) -> list[str]:
        """The CRM fields a sync must read for this object."""
        names = [crm for _, crm in self.fields]
        return names + ([self.account_link] if self.account_link and self.account_link not in names else [])


@dataclass(frozen=True)
class CrmMapping:
    crm: str
    objects: tuple  # accounts first, so a person's account link resolves

    def for_subject(self, subject: str) -> list[ObjectMapping]:
        return [o for o in self.objects if o.subject == subject]


def load_mapping(path: Path, crm: str) -> CrmMapping:
    """Read the mapping for one CRM; raise SpecSetInvalid naming file:line for every problem."""
    errors = ErrorCollector()
    name = str(path)
    if not path.is_file():
        errors.add(name, 1, "", "the CRM data-mapping file is missing; copy mapping/crm.yaml from the repository")
        raise SpecSetInvalid(errors.sorted())
    doc = load_yaml(path, errors, name, holds=MAPPING_HOLDS)
    mapping = parse_mapping(doc, name, crm, errors) if doc is not None else None
    if errors or mapping is None:
        raise SpecSetInvalid(errors.sorted())
    return mapping


def parse_mapping(doc, file: str, crm: str, errors: ErrorCollector) -> CrmMapping | None:
    """Validate the whole file (every CRM section), then return the section of one CRM."""
    r = Reader(doc, Where(file, getattr(doc, "line", 1), ""), errors, "the CRM mapping file")
    chosen: list[ObjectMapping] = []
    for name, objects in CRMS.items():
        section = r.mapping(name)
        if section is None:
            continue
        s = Reader(section, r.at(name), errors)
        for object_type in objects:
            node = s.mapping(object_type)
            if node is not None:
                parsed = _parse_object(node, s.at(object_type), object_type, errors)
                if parsed and name == crm:
                    chosen.append(parsed)
        s.finish()
    r.finish()
    if crm not in CRMS:
        r.error(r.where, f"unknown CRM {crm!r}; use one of: {', '.join(CRMS)}")
    if not r.ok:
        return None
    chosen.sort(key=lambda o: 0 if o.subject == "account" else 1)
    return CrmMapping(crm=crm, objects=tuple(chosen))


def _parse_object(node, where: Where, object_type: str, errors: ErrorCollector) -> ObjectMapping | None:
    r = Reader(node, where, errors, f"the mapping of {object_type}")
    subject = r.choice("subject", SUBJECTS, required=True)
    fields = r.mapping("fields", required=True) or {}
    link = r.text("account_link", default=None)
    r.finish()
    pairs = []
    for ours, theirs in fields.items():
        if not isinstance(theirs, str) or not theirs:
            r.error(r.at("fields").child(ours), "map our field to the CRM field's API name, such as Title")
            continue
        if subject == "account" and str(ours).startswith("account."):
            r.error(r.at("fields").child(ours), "an account's own fields need no 'account.' prefix")
        pairs.append((str(ours), theirs))
    if link and subject != "person":
        r.error(r.at("account_link"), "only a person object can link to an account")
    if not r.ok:
        return None
    return ObjectMapping(object_type, subject, tuple(pairs), link, f"{where.file}:{where.line}")
