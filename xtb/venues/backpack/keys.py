"""Backpack API keys: a key file (`api key: <base64 public>`, `api secret: <base64 seed>`) or BPX_API_KEY /
BPX_API_SECRET (the Backpack SDKs' names) or XTB_BACKPACK_API_KEY / XTB_BACKPACK_API_SECRET.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from xtb.keys import KeyFileError, Secret, pick_field, read_key_file


@dataclass(frozen=True)
class BackpackKeys:
    api_key: str
    api_secret: Secret


def load_backpack_keys(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> BackpackKeys:
    env = os.environ if env is None else env
    if path is not None:
        f = read_key_file(path)
        key = pick_field(f, "api key", "bpx api key", "public key")
        secret = pick_field(f, "api secret", "bpx api secret", "secret", "private key")
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
