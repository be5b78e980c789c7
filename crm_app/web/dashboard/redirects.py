"""Where a redirect may lead: only a path on this site, never another host."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import url_for

PREFIX = "/dashboard"


def local_path(target: str | None, default: str | None = None) -> str:
    """`target` when it is a path inside the dashboard, else `default` (the overview when not given).

    Refused: absolute and scheme-relative URLs (`https://x`, `//x`, `https:x`), backslashes (browsers read
    `/\\\\x` as `//x`), control characters and whitespace (a newline would split the Location header; browsers
    drop tabs), dot segments, and anything outside /dashboard.
    """
    fallback = default or url_for("dashboard.overview")
    if not target or not isinstance(target, str) or len(target) > 2000:
        return fallback
    if any(ord(ch) < 33 or ord(ch) == 127 or ch == "\\" for ch in target):
        return fallback
    try:
        parts = urlsplit(target)
    except ValueError:
        return fallback
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return fallback
    if parts.path != PREFIX and not parts.path.startswith(PREFIX + "/"):
        return fallback
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        return fallback  # /dashboard/../x leaves the dashboard once the browser resolves it
    return target
