"""Binance USD-M API keys: a key file (`api key: ...` / `api secret: ...`, refused when group/other
readable) or BINANCE_API_KEY / BINANCE_API_SECRET in the environment. Both halves are secrets here: the
HMAC secret signs, and the API key alone reads the account (USER_STREAM endpoints need nothing else)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from xtb.keys import KeyField, Secret, read_key_fields

FIELDS = {
    "api_key": KeyField("api key", ("api key", "binance api key"), ("BINANCE_API_KEY", "XTB_BINANCE_API_KEY")),
    "api_secret": KeyField("api secret", ("api secret", "secret key", "binance api secret"),
                           ("BINANCE_API_SECRET", "XTB_BINANCE_API_SECRET")),
}


@dataclass(frozen=True)
class BinanceKeys:
    api_key: Secret
    api_secret: Secret


def load_binance_keys(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> BinanceKeys:
    values, _ = read_key_fields("Binance", FIELDS, path, env, "BINANCE_API_KEY/BINANCE_API_SECRET")
    api_key, api_secret = values["api_key"], values["api_secret"]
    assert api_key and api_secret  # required fields
    return BinanceKeys(Secret(api_key), Secret(api_secret))
