"""PURE identity matching: product users -> CRM people, people -> accounts. No I/O; indexes are passed in.

Order of matching a product user to a CRM person: (1) an explicit external-id field on the CRM record,
(2) the exact email, trimmed and case-insensitive (plus-addressing stripped), (3) for sign-ups with a personal
address only, the same full name and a local part that names that person. Accounts: explicit group id, then
the email domain; personal domains never match (or create) an account.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Free mail providers: a domain shared by unrelated people says nothing about their company.
PERSONAL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "ymail.com", "hotmail.com",
    "hotmail.co.uk", "hotmail.fr", "outlook.com", "live.com", "msn.com", "icloud.com", "me.com", "mac.com",
    "aol.com", "proton.me", "protonmail.com", "pm.me", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com",
    "yandex.ru", "yandex.com", "mail.ru", "qq.com", "163.com", "126.com", "zoho.com", "fastmail.com",
    "hey.com", "tutanota.com", "orange.fr", "free.fr", "t-online.de", "comcast.net", "verizon.net",
})
METHOD_EXTERNAL_ID, METHOD_EMAIL, METHOD_HEURISTIC = "external_id", "email", "name_email_heuristic"
METHOD_GROUP, METHOD_DOMAIN = "group_id", "domain"
_WORD = re.compile(r"[a-z]+")


def canonical_email(email) -> str | None:
    """Trimmed, lower-cased, '+tag' removed from the local part (it reaches the same mailbox); None if not one."""
    if not isinstance(email, str):
        return None
    text = email.strip().lower()
    if text.count("@") != 1:
        return None
    local, domain = text.split("@")
    local = local.split("+", 1)[0]
    if not local or "." not in domain:
        return None
    return f"{local}@{domain}"


def domain_of(email) -> str | None:
    """The domain of a canonical email, or None."""
    canon = canonical_email(email)
    return canon.split("@", 1)[1] if canon else None


def is_personal(domain: str | None) -> bool:
    """True for free-mail domains (and for no domain): they never match accounts."""
    return not domain or domain.lower().removeprefix("www.") in PERSONAL_DOMAINS


def full_name(values: dict) -> str | None:
    """'jane doe' from first/last name or name fields, letters only; None when unknown."""
    first = values.get("first_name") or values.get("firstname") or values.get("FirstName")
    last = values.get("last_name") or values.get("lastname") or values.get("LastName")
    raw = f"{first} {last}" if first and last else values.get("name") or values.get("Name")
    if not isinstance(raw, str):
        return None
    words = _WORD.findall(raw.lower())
    return " ".join(words) if len(words) >= 2 else None


def local_names_person(local: str, name: str) -> bool:
    """Does an email local part spell this name (jane.doe, janedoe, jdoe, doe.jane)?"""
    words = name.split()
    first, last = words[0], words[-1]
    letters = "".join(_WORD.findall(local))
    return letters in {first + last, last + first, first[0] + last, first + last[0]}


@dataclass(frozen=True)
class CrmPerson:
    """A CRM lead or contact, reduced to what matching needs."""

    key: str  # crm:object_type:record_id
    email: str | None  # canonical
    name: str | None  # normalized full name
    product_user_id: str | None  # the explicit external-id field


@dataclass(frozen=True)
class CrmIndex:
    """CRM people indexed for matching: by explicit product id, by canonical email, by full name."""

    by_product_id: dict
    by_email: dict  # canonical email -> [keys]
    by_name: dict  # full name -> [CrmPerson]


def build_index(crm_people: list[CrmPerson]) -> CrmIndex:
    """Index CRM people once for a whole matching run."""
    by_id, by_email, by_name = {}, {}, {}
    for p in crm_people:
        if p.product_user_id:
            by_id.setdefault(p.product_user_id, []).append(p.key)
        if p.email:
            by_email.setdefault(p.email, []).append(p.key)
        if p.name:
            by_name.setdefault(p.name, []).append(p)
    return CrmIndex(by_id, by_email, by_name)


def match_person(user_id: str, email: str | None, name: str | None, index: CrmIndex) -> tuple[list, str | None]:
    """(CRM keys, method) for one product user, trying each method in order; ([], None) when none match.

    Several keys from one method are duplicates of one person in the CRM: all are linked and reported.
    """
    keys = index.by_product_id.get(user_id)
    if keys:
        return sorted(keys), METHOD_EXTERNAL_ID
    canon = canonical_email(email)
    if canon and canon in index.by_email:
        return sorted(index.by_email[canon]), METHOD_EMAIL
    if canon and name and is_personal(canon.split("@")[1]):
        local = canon.split("@")[0]
        found = [p for p in index.by_name.get(name, ()) if p.email and local_names_person(local, name)
                 and local_names_person(p.email.split("@")[0], name)]
        # Two different addresses under one name are two people: a guess between them would be a coin toss.
        if found and len({p.email for p in found}) == 1:
            return sorted(p.key for p in found), METHOD_HEURISTIC
    return [], None


def match_account(group_account: int | None, email: str | None, accounts_by_domain: dict) -> tuple:
    """(account id, method) for a person: explicit group first, then a business email domain.

    accounts_by_domain maps a domain to every account id holding it; a domain two accounts share is
    ambiguous and matches neither (reported, not guessed).
    """
    if group_account is not None:
        return group_account, METHOD_GROUP
    domain = domain_of(email)
    if is_personal(domain):
        return None, None
    ids = accounts_by_domain.get(domain, ())
    if len(ids) == 1:
        return ids[0], METHOD_DOMAIN
    return None, ("ambiguous_domain" if ids else None)
