"""Small display helpers the templates use: dates, numbers, percentages, band colours."""
from __future__ import annotations

import re
from datetime import datetime, timezone

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


def mrkdwn(text: str) -> Markup:
    """Slack's mrkdwn as the outbox shows it: *bold*; a <url|label> link as the words `label (url)`, never a live
    link, since the label and the address may come from untrusted traits; everything else is escaped text."""
    raw = re.sub(r"<([^|<>\s]+)\|([^<>]*)>", r"\2 (\1)", text or "")
    raw = re.sub(r"<([^<>]*)>", r"\1", raw)  # <!channel>, <@U1>, <https://x>: their words, no markup
    raw = raw.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")  # Slack's own escapes
    html = str(escape(raw))
    html = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<strong>\1</strong>", html)
    return Markup(html)


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
