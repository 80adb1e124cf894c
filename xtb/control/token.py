"""The control endpoint's bearer token and the files that tell the CLI where the bot listens.

Token, first that applies: `control.token` in the config, the environment variable named by
`control.token_env` (XTB_CONTROL_TOKEN), else a fresh random one generated per run and written to
`<state dir>/control.token` with mode 0600. The endpoint file `<state dir>/control.json` (also 0600)
holds the port and pid, never the token. The token is never logged, printed or put in a repr.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENDPOINT_FILE = "control.json"
TOKEN_FILE = "control.token"


class Token:
    """A bearer token that does not show itself in reprs, logs or tracebacks."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        if not value or any(c.isspace() for c in value):
            raise ValueError(f"control token from {source} must be non-empty without whitespace")
        self._value = value
        self.source = source  # "config", "env:<NAME>", "generated" or "file"

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Token(source={self.source!r}, value=***)"

    __str__ = __repr__


def resolve_token(configured: str | None, token_env: str, env: Mapping[str, str]) -> Token | None:
    """The operator-supplied token (config, then environment), or None when a fresh one is to be made."""
    if configured:
        return Token(configured, "config")
    value = env.get(token_env)
    if value:
        return Token(value, f"env:{token_env}")
    return None


def generate_token() -> Token:
    return Token(secrets.token_urlsafe(32), "generated")


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (0600), replaced atomically."""
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask or a leftover file's mode
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_endpoint(state_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((state_dir / ENDPOINT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_token_file(path: Path) -> Token | None:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return Token(value, "file") if value else None


def pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
