"""gunicorn's error and access logs follow LOG_LEVEL: at WARNING, no line per request."""
from __future__ import annotations

import io
import logging
import logging.config

import pytest

from crm_app.logs import gunicorn_logging


@pytest.mark.parametrize("level, access_lines", [("INFO", 1), ("info", 1), ("DEBUG", 1), ("WARNING", 0),
                                                 ("ERROR", 0), ("loud", 1)])
def test_the_access_log_follows_log_level(level, access_lines, monkeypatch):
    config = gunicorn_logging(level)
    stream = io.StringIO()
    monkeypatch.setitem(config["handlers"]["stderr"], "stream", stream)
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level,
                    logging.getLogger(name).propagate) for name in ("gunicorn.access", "gunicorn.error", "")}
    try:
        logging.config.dictConfig(config)
        logging.getLogger("gunicorn.access").info('127.0.0.1 - - "POST /v1/batch HTTP/1.1" 200')
        logging.getLogger("gunicorn.error").warning("worker timeout")
    finally:
        for name, (handlers, lvl, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:], logger.propagate = handlers, propagate
            logger.setLevel(lvl)
    lines = stream.getvalue().splitlines()
    assert sum('"POST /v1/batch' in line for line in lines) == access_lines
    assert sum("worker timeout" in line for line in lines) == (level.upper() != "ERROR")
