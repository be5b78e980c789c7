"""PURE Slack text: escaping of untrusted text, our own links, and `finish`, which every outgoing message,
update, ephemeral and modal goes through.

Slack parses `&`, `<` and `>` as control characters in text objects and in a message's `text`
(api.slack.com/reference/surfaces/formatting#escaping): `<!channel>`, `<@U123>`, `<#C123>` and
`<https://…|label>` are mentions and links. Untrusted text (traits, reasons, names, reasons typed in a
modal) has exactly those three characters replaced by `&amp;`, `&lt;` and `&gt;`; nothing else is
entity-encoded, as the docs say. Only a `Link` built here from a checked http(s) URL stays markup.
"""
from __future__ import annotations

from urllib.parse import quote, urlsplit

_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"  # everything else in a URL is percent-encoded (RFC 3986 reserved set)


def escape(text) -> str:
    """Untrusted text as Slack shows it literally: `&`, `<`, `>` as entities (idempotence is not wanted)."""
    text = str(text)
    for char, entity in _ENTITIES:
        text = text.replace(char, entity)
    return text


def safe_url(url) -> str | None:
    """An http(s) URL fit to sit inside `<…|…>`: characters Slack would parse are percent-encoded, `&` is
    written as `&amp;`; None for any other scheme or no host."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(url.strip(), safe=_URL_SAFE).replace("&", "&amp;")


class Link:
    """Our own `<url|label>` markup: a checked URL and an escaped label."""

    __slots__ = ("markup",)

    def __init__(self, markup: str):
        self.markup = markup

    def __repr__(self) -> str:
        return f"Link({self.markup!r})"


def link(url, label) -> Link | None:
    """A link to an http(s) URL with an untrusted label, or None when the URL is not one."""
    checked = safe_url(url)
    if checked is None:
        return None
    return Link(f"<{checked}|{escape(label).replace('|', '¦')}>")


class Text:
    """Draft text: parts that are untrusted strings (escaped when finished), `Link`s and nested `Text`s,
    cut to `limit` characters without splitting an entity or a link."""

    __slots__ = ("parts", "limit")

    def __init__(self, *parts, limit: int | None = None):
        self.parts = parts
        self.limit = limit

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Text{self.parts!r}"

    def pieces(self):
        for part in self.parts:
            if isinstance(part, Text):
                yield from part.pieces()
            elif isinstance(part, Link):
                yield part.markup, True
            elif part is not None:
                yield escape(part), False

    def render(self) -> str:
        pieces = list(self.pieces())
        whole = "".join(p for p, _ in pieces)
        if self.limit is None or len(whole) <= self.limit:
            return whole
        room, out = self.limit - 1, []
        for piece, atomic in pieces:
            if len(piece) <= room:
                out.append(piece)
                room -= len(piece)
                continue
            if not atomic:
                cut = piece[:room]
                amp = cut.rfind("&")
                if amp >= 0 and ";" not in cut[amp:]:
                    cut = cut[:amp]
                out.append(cut)
            break
        return "".join(out) + "…"


def _text_value(value):
    return value.render() if isinstance(value, Text) else escape(value)


def finish(value):
    """What may leave for Slack (or the outbox): every text rendered and escaped, every URL checked.

    Takes a message's `text`, a list of blocks, a view or any block; run it once, on the way out.
    """
    if isinstance(value, (Text, str)):
        return _text_value(value)
    if isinstance(value, list):
        return [finish(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if key == "text" and value.get("type") in ("plain_text", "mrkdwn"):
                out[key] = _text_value(v)
            elif key == "url":
                checked = safe_url(v)
                if checked is not None:
                    out[key] = checked.replace("&amp;", "&")  # a button's url is a JSON field, not mrkdwn
            elif isinstance(v, (dict, list, Text)):
                out[key] = finish(v)
            else:
                out[key] = v
        return out
    return value
