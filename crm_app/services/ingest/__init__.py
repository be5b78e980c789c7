"""Ingest: Segment-spec message validation, the writer that stores each valid message once, file imports."""
