"""API keys from key files or the environment, handled so that they never leak.

Key file formats are the original system's (`Backpack_key.txt`, `Lighter_key.txt`): one `name: value`
per line (`=` also accepted, blank lines and `#` comments ignored, names case-insensitive):

    Backpack_key.txt              Lighter_key.txt
      api key: <base64 public>      api key index: 3
      api secret: <base64 seed>     private key: <hex>          (the API key's private key)
                                    public key: <hex>           (optional)
                                    account index: 12345        (optional; else from config/env)
                                    eth private key: 0x...      (optional; only for key registration)

Environment instead of a file: BPX_API_KEY / BPX_API_SECRET (the Backpack SDKs' names) or
XTB_BACKPACK_API_KEY / XTB_BACKPACK_API_SECRET; XTB_LIGHTER_API_KEY_INDEX, XTB_LIGHTER_PRIVATE_KEY,
XTB_LIGHTER_ACCOUNT_INDEX, XTB_LIGHTER_ETH_PRIVATE_KEY.

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


@dataclass(frozen=True)
class BackpackKeys:
    api_key: str
    api_secret: Secret


@dataclass(frozen=True)
class LighterKeys:
    api_key_index: int
    private_key: Secret
    public_key: str | None = None
    account_index: int | None = None
    eth_private_key: Secret | None = None


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


def _pick(fields: Mapping[str, str], *names: str) -> str | None:
    for n in names:
        v = fields.get(n)
        if v:
            return v
    return None


def _int(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise KeyFileError(f"{what} must be an integer") from None


def load_backpack_keys(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> BackpackKeys:
    env = os.environ if env is None else env
    if path is not None:
        f = read_key_file(path)
        key = _pick(f, "api key", "bpx api key", "public key")
        secret = _pick(f, "api secret", "bpx api secret", "secret", "private key")
        where = str(path)
    else:
        key = env.get("BPX_API_KEY") or env.get("XTB_BACKPACK_API_KEY")
        secret = env.get("BPX_API_SECRET") or env.get("XTB_BACKPACK_API_SECRET")
        where = "environment (BPX_API_KEY/BPX_API_SECRET)"
    if not key:
        raise KeyFileError(f"Backpack api key missing in {where}")
    if not secret:
        raise KeyFileError(f"Backpack api secret missing in {where}")
    return BackpackKeys(api_key=key, api_secret=Secret(secret))


def load_lighter_keys(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> LighterKeys:
    env = os.environ if env is None else env
    if path is not None:
        f = read_key_file(path)
        index = _pick(f, "api key index")
        private = _pick(f, "private key", "api private key")
        public = _pick(f, "public key", "api public key")
        account = _pick(f, "account index")
        eth = _pick(f, "eth private key")
        where = str(path)
    else:
        index = env.get("XTB_LIGHTER_API_KEY_INDEX")
        private = env.get("XTB_LIGHTER_PRIVATE_KEY")
        public = env.get("XTB_LIGHTER_PUBLIC_KEY")
        account = env.get("XTB_LIGHTER_ACCOUNT_INDEX")
        eth = env.get("XTB_LIGHTER_ETH_PRIVATE_KEY")
        where = "environment (XTB_LIGHTER_*)"
    idx = _int(index, f"Lighter api key index in {where}")
    if idx is None:
        raise KeyFileError(f"Lighter api key index missing in {where}")
    if not 0 <= idx <= 254:
        raise KeyFileError(f"Lighter api key index must be 0..254 (3..254 for user keys), got {idx}")
    if not private:
        raise KeyFileError(f"Lighter private key missing in {where}")
    return LighterKeys(
        api_key_index=idx,
        private_key=Secret(private),
        public_key=public,
        account_index=_int(account, f"Lighter account index in {where}"),
        eth_private_key=Secret(eth) if eth else None,
    )
