"""Structured logs: one JSON object per line (python-json-logger), so a log drain can filter on job, outcome and
seconds. Call sites put their fields in `extra=`; the message stays plain text."""
from __future__ import annotations

import logging
import logging.config
import time

from pythonjsonlogger.json import JsonFormatter

# LogRecord attribute -> key in the JSON line.
RENAMED = {"asctime": "ts", "levelname": "level", "name": "logger", "message": "msg"}
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def json_formatter() -> JsonFormatter:
    """The formatter every handler uses: UTC ISO-8601 `ts`, `level`, `logger`, `msg`, then the record's extras."""
    formatter = JsonFormatter(FORMAT, rename_fields=RENAMED, datefmt="%Y-%m-%dT%H:%M:%SZ", json_default=str)
    formatter.converter = time.gmtime
    return formatter


def configure_logging(level: str) -> None:
    """Send every log line to stderr as JSON (Procfile hosts collect stderr), warnings included."""
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # its per-run lines repeat ours
    logging.getLogger("alembic").setLevel(logging.WARNING)  # context lines at every start; migrate() logs its own
    for name in ("gunicorn.error", "gunicorn.access", "werkzeug"):  # their own handlers would print plain text
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


# gunicorn's logconfig_dict: its error and access logs as JSON on stderr too, at LOG_LEVEL.
def gunicorn_logging(level: str = "INFO") -> dict:
    """gunicorn's logconfig_dict at this level; an unknown level leaves INFO here (settings refuse it in one line)."""
    level = level.strip().upper() if isinstance(level, str) else "INFO"
    level = level if isinstance(logging.getLevelName(level), int) else "INFO"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": json_formatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {"gunicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
                    "gunicorn.access": {"handlers": ["stderr"], "level": level, "propagate": False}},
        "root": {"handlers": ["stderr"], "level": level},
    }
