"""Logging: console plus a rotating file, levels from the config (and so from XTB_LOG_* variables).

Every handler carries a redaction filter: secrets registered with `register_secret` (API secrets,
private keys, auth tokens, as the key loaders read them) are replaced by `***` in every record, so a
secret that slips into a message or an exception text still never reaches a log.
"""

from __future__ import annotations

import logging
import logging.handlers
import threading
from pathlib import Path

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_MIN_SECRET_LEN = 8  # shorter strings would redact ordinary words

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def register_secret(value: str) -> None:
    """Never log `value` (nor its tail-trimmed forms) again."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    for s in _secrets:
        if s in text:
            text = text.replace(s, "***")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            msg = record.getMessage()
            clean = redact(msg)
            if record.exc_info and record.exc_info[1] is not None:
                exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_text = redact(exc_text)
            if clean != msg:
                record.msg, record.args = clean, None
        return True


def setup_logging(
    *,
    level: str = "INFO",
    file_level: str = "DEBUG",
    root_level: str = "WARNING",
    log_dir: str | Path | None = "logs",
    filename: str = "xtb.log",
    max_bytes: int = 20 * 1024 * 1024,
    backups: int = 5,
) -> logging.Logger:
    """Configure the `xtb` logger tree; returns it. Idempotent (replaces handlers it installed before)."""
    log = logging.getLogger("xtb")
    for h in list(log.handlers):
        if getattr(h, "_xtb", False):
            log.removeHandler(h)
            h.close()
    log.setLevel(min(logging.getLevelName(level.upper()), logging.getLevelName(file_level.upper())))
    log.propagate = False
    logging.getLogger().setLevel(root_level.upper())
    redactor = RedactingFilter()

    console = logging.StreamHandler()
    console.setLevel(level.upper())
    console.setFormatter(logging.Formatter(FORMAT))
    console.addFilter(redactor)
    console._xtb = True  # type: ignore[attr-defined]
    log.addHandler(console)

    if log_dir is not None:
        path = Path(log_dir)
        path.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(path / filename, maxBytes=max_bytes, backupCount=backups)
        fh.setLevel(file_level.upper())
        fh.setFormatter(logging.Formatter(FORMAT))
        fh.addFilter(redactor)
        fh._xtb = True  # type: ignore[attr-defined]
        log.addHandler(fh)
    return log
