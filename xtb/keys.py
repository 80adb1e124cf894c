"""API keys from key files or the environment, handled so that they never leak: what every venue's key
loader (`xtb/venues/<name>/keys.py`, its VenueSpec's `load_keys`) is built from.

A key file holds one `name: value` per line (`=` also accepted, blank lines and `#` comments ignored,
names case-insensitive); each venue names its fields, e.g.:

    Backpack_key.txt              Lighter_key.txt
      api key: <base64 public>      api key index: 3
      api secret: <base64 seed>     private key: <hex>          (the API key's private key)
                                    public key: <hex>           (optional)
                                    account index: 12345        (optional; else from config/env)
                                    eth private key: 0x...      (optional; only for key registration)

A venue's loader also reads the environment instead of a file (names in its module).

A key file readable or writable by group or others is refused. Every secret is wrapped in `Secret`
(whose repr and str are masked) and registered with the log redactor.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from xtb.logs import register_secret


class KeyFileError(ValueError):
    """A key file or key variable is missing, malformed or unsafe. Messages never contain key material."""


class Secret:
    """A secret string: masked in repr/str/format, revealed only on purpose."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values are not picklable")


def check_private_file(path: Path) -> None:
    """Refuse key files that group or others can read or write (as ssh does)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except OSError as e:
        raise KeyFileError(f"cannot read key file {path}: {e.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):o}); "
            f"run: chmod 600 {path}"
        )


def read_key_file(path: str | os.PathLike[str]) -> dict[str, str]:
    p = Path(path).expanduser()
    check_private_file(p)
    fields: dict[str, str] = {}
    for n, raw in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cut = min((i for i in (line.find(":"), line.find("=")) if i > 0), default=-1)
        if cut < 0:
            raise KeyFileError(f"{p}:{n}: expected 'name: value' (line content not shown)")
        name = " ".join(line[:cut].strip().lower().replace("_", " ").split())
        fields[name] = line[cut + 1 :].strip().strip("'\"")
    return fields


def pick_field(fields: Mapping[str, str], *names: str) -> str | None:
    for n in names:
        v = fields.get(n)
        if v:
            return v
    return None


def parse_int(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise KeyFileError(f"{what} must be an integer") from None


@dataclass(frozen=True)
class KeyField:
    """One value of a venue's keys: where a key file names it, and the environment variables that hold it."""

    label: str  # how errors name it ("api key")
    file_names: tuple[str, ...]  # names in a key file, first found wins
    env_names: tuple[str, ...] = ()  # environment variables, first set wins
    required: bool = True


def read_key_fields(
    venue: str,
    fields: Mapping[str, KeyField],
    path: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None,
    env_hint: str,
) -> tuple[dict[str, str | None], str]:
    """A venue's key values by field name: from the key file at `path` (refused when group/other can read
    it), else from the environment (`env`, default os.environ). Returns the values and where they came from
    (for error messages); a required field that is missing is a KeyFileError naming it, never its value."""
    if path is not None:
        found = read_key_file(path)
        values = {name: pick_field(found, *f.file_names) for name, f in fields.items()}
        where = str(path)
    else:
        environ = os.environ if env is None else env
        values = {name: next((environ[v] for v in f.env_names if environ.get(v)), None) for name, f in fields.items()}
        where = f"environment ({env_hint})"
    for name, f in fields.items():
        if f.required and not values[name]:
            raise KeyFileError(f"{venue} {f.label} missing in {where}")
    return values, where
