"""Backpack API keys: a key file (`api key: <base64 public>`, `api secret: <base64 seed>`) or BPX_API_KEY /
BPX_API_SECRET (the Backpack SDKs' names) or XTB_BACKPACK_API_KEY / XTB_BACKPACK_API_SECRET.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from xtb.keys import KeyField, Secret, read_key_fields

FIELDS = {
    "api_key": KeyField("api key", ("api key", "bpx api key", "public key"), ("BPX_API_KEY", "XTB_BACKPACK_API_KEY")),
    "api_secret": KeyField("api secret", ("api secret", "bpx api secret", "secret", "private key"),
                           ("BPX_API_SECRET", "XTB_BACKPACK_API_SECRET")),
}


@dataclass(frozen=True)
class BackpackKeys:
    api_key: str
    api_secret: Secret


def load_backpack_keys(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> BackpackKeys:
    values, _ = read_key_fields("Backpack", FIELDS, path, env, "BPX_API_KEY/BPX_API_SECRET")
    api_key, api_secret = values["api_key"], values["api_secret"]
    assert api_key and api_secret  # required fields
    return BackpackKeys(api_key=api_key, api_secret=Secret(api_secret))
