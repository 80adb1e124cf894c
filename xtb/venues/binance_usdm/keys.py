"""Binance USD-M API keys: a key file (`api key: ...` / `api secret: ...`, refused when group/other
readable) or BINANCE_API_KEY / BINANCE_API_SECRET in the environment. Both halves are secrets here: the
HMAC secret signs, and the API key alone reads the account (USER_STREAM endpoints need nothing else)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from xtb.keys import KeyFileError, Secret, read_key_file


@dataclass(frozen=True)
class BinanceKeys:
    api_key: Secret
    api_secret: Secret


def load_binance_keys(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> BinanceKeys:
    env = os.environ if env is None else env
    if path is not None:
        f = read_key_file(path)
        key = f.get("api key") or f.get("binance api key")
        secret = f.get("api secret") or f.get("secret key") or f.get("binance api secret")
        where = str(path)
    else:
        key = env.get("BINANCE_API_KEY") or env.get("XTB_BINANCE_API_KEY")
        secret = env.get("BINANCE_API_SECRET") or env.get("XTB_BINANCE_API_SECRET")
        where = "environment (BINANCE_API_KEY/BINANCE_API_SECRET)"
    if not key:
        raise KeyFileError(f"Binance api key missing in {where}")
    if not secret:
        raise KeyFileError(f"Binance api secret missing in {where}")
    return BinanceKeys(Secret(key), Secret(secret))
