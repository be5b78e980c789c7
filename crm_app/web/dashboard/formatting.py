"""Small display helpers the templates use: dates, numbers, percentages, band colours."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from urllib.parse import urlsplit

from markupsafe import Markup, escape

BAND_COLOURS = {"high": "#16a34a", "medium": "#f59e0b", "low": "#94a3b8"}


def date(ts, with_time: bool = True) -> str:
    if ts is None:
        return "—"
    fmt = "%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d"
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime(fmt)


def number(value) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if isinstance(value, (int, float)) and float(value).is_integer() else f"{value:,.2f}"


def percent(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def points(value: int) -> str:
    return f"{value:+d}"


def short_path(source: str) -> str:
    """An admin file location as `rules/conversion.yaml:10`, whatever folder the specs live in."""
    parts = str(source).replace("\\", "/").split("/")
    return "/".join(parts[-2:])


def spec_error(error) -> str:
    """An admin file error as `check` prints it, with the file named from its folder (rules/x.yaml:12: ...)."""
    text = str(error)
    file = getattr(error, "file", None)
    return text.replace(file, short_path(file), 1) if file else text


def _ours(url: str, crm_url: str) -> bool:
    """Whether a link points into our CRM: same scheme and host as the routing file's `crm_url` template, and
    starting with the template's fixed part (the text before its first `{`)."""
    if not crm_url or "{" not in crm_url:
        return False
    fixed = crm_url.split("{", 1)[0]
    try:
        ours, theirs = urlsplit(fixed), urlsplit(url)
    except ValueError:
        return False
    return (ours.scheme in ("http", "https") and bool(ours.netloc) and (theirs.scheme, theirs.netloc) ==
            (ours.scheme, ours.netloc) and url.startswith(fixed))


LINK = re.compile(r"<([^|<>\s]+)\|([^<>]*)>")


def _slack_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")  # Slack's own escapes


def _plain(raw: str) -> str:
    raw = re.sub(r"<([^<>]*)>", r"\1", raw)  # <!channel>, <@U1>, <https://x>: their words, no markup
    html = str(escape(_slack_unescape(raw)))
    return re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<strong>\1</strong>", html)


def _link(match: re.Match, crm_url: str) -> str:
    url, label = _slack_unescape(match.group(1)), _slack_unescape(match.group(2))
    if _ours(url, crm_url):
        return f'<a href="{escape(url)}" rel="noopener noreferrer">{escape(label)}</a>'
    return _plain(f"{match.group(2)} ({match.group(1)})")


def mrkdwn(text: str, crm_url: str = "") -> Markup:
    """Slack's mrkdwn as the outbox shows it: *bold*; a <url|label> link into our own CRM (the routing file's
    `crm_url`) as a live link, any other link as the words `label (url)`, since the label and the address may
    come from untrusted traits; everything else is escaped text."""
    text, pieces, last = text or "", [], 0
    for match in LINK.finditer(text):
        pieces += [_plain(text[last:match.start()]), _link(match, crm_url)]
        last = match.end()
    return Markup("".join(pieces + [_plain(text[last:])]))


def value(v) -> str:
    """A field or event property for reading: lists joined, mappings as `key: value`, booleans as yes / no."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return ", ".join(value(item) for item in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {value(item)}" for k, item in v.items())
    return "—" if v is None else str(v)


FILTERS = {"fmt_value": value, "mrkdwn": mrkdwn, "short_path": short_path, "spec_error": spec_error, "fmt_date": date,
           "fmt_number": number, "fmt_percent": percent, "fmt_points": points, "band_colours": BAND_COLOURS}
