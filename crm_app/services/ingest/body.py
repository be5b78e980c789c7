"""An ingest request body: read within the byte limit, gunzipped as a stream so the limit holds decompressed too."""
from __future__ import annotations

import zlib

GZIP_ENCODINGS = ("gzip", "x-gzip")


class BodyRefused(Exception):
    """The body as a whole cannot be taken: HTTP status, a short machine code and a reason for people."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _too_large(what: str, limit: int) -> BodyRefused:
    return BodyRefused(413, "payload_too_large", f"{what} is over {limit} bytes, the limit for one request")


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzip body, stopping as soon as the output passes `limit` (a gzip bomb costs ~limit bytes)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BodyRefused(400, "invalid_request", f"body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise _too_large("the decompressed body", limit)
    if not inflater.eof:
        raise BodyRefused(400, "invalid_request", "gzip body is truncated")
    if inflater.unused_data.strip(b"\0"):
        raise BodyRefused(400, "invalid_request", "gzip body has data after its end (one gzip member only)")
    return out


def read_body(stream, content_length: int | None, content_encoding: str | None, limit: int) -> bytes:
    """The request's JSON bytes, decompressed when Content-Encoding is gzip; BodyRefused past `limit`."""
    if content_length and content_length > limit:
        raise _too_large(f"the body ({content_length} bytes)", limit)
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large("the body", limit)
    encoding = (content_encoding or "").strip().lower()
    if encoding in GZIP_ENCODINGS:
        return gunzip(data, limit)
    if encoding not in ("", "identity"):
        raise BodyRefused(415, "unsupported_encoding",
                          f"Content-Encoding {encoding[:40]!r} is not supported; send gzip or none")
    return data
