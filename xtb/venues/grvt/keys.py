"""GRVT API keys: a key file or the environment (GRVT_API_KEY / GRVT_PRIVATE_KEY / GRVT_TRADING_ACCOUNT_ID,
the official SDK's names, or the XTB_GRVT_* forms), refused when group/other readable.

    api key: <the API key from the GRVT UI>            (logs in: the session cookie)
    private key: 0x<hex>                               (the API key's secp256k1 key: signs every order)
    sub account id: 8289849667772468                   (optional; else venues.grvt.options.sub_account_id)

Both the API key and the private key are secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from xtb.keys import KeyFileError, Secret, read_key_file


@dataclass(frozen=True)
class GrvtKeys:
    api_key: Secret
    private_key: Secret
    sub_account_id: int | None = None


def _sub_account(value: str | None, where: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        sub = int(str(value))
    except ValueError:
        raise KeyFileError(f"GRVT sub account id in {where} must be an integer") from None
    if not 0 <= sub < 2**64:
        raise KeyFileError(f"GRVT sub account id in {where} must be a uint64")
    return sub


def load_grvt_keys(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> GrvtKeys:
    env = os.environ if env is None else env
    if path is not None:
        f = read_key_file(path)
        key = f.get("api key") or f.get("grvt api key")
        private = f.get("private key") or f.get("api secret") or f.get("grvt private key")
        sub = f.get("sub account id") or f.get("trading account id")
        where = str(path)
    else:
        key = env.get("GRVT_API_KEY") or env.get("XTB_GRVT_API_KEY")
        private = env.get("GRVT_PRIVATE_KEY") or env.get("XTB_GRVT_PRIVATE_KEY")
        sub = env.get("GRVT_TRADING_ACCOUNT_ID") or env.get("XTB_GRVT_SUB_ACCOUNT_ID")
        where = "environment (GRVT_API_KEY/GRVT_PRIVATE_KEY)"
    if not key:
        raise KeyFileError(f"GRVT api key missing in {where}")
    if not private:
        raise KeyFileError(f"GRVT private key missing in {where}")
    hexpart = private.removeprefix("0x")
    if len(hexpart) != 64 or any(c not in "0123456789abcdefABCDEF" for c in hexpart):
        raise KeyFileError(f"GRVT private key in {where} must be 0x + 64 hex characters (value not shown)")
    return GrvtKeys(Secret(key), Secret(private), _sub_account(sub, where))
