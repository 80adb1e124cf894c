"""Lighter API keys: a key file (`api key index: 3`, `private key: <hex>` of the API key, optional
`public key`, `account index`, `eth private key` for key registration) or XTB_LIGHTER_API_KEY_INDEX,
XTB_LIGHTER_PRIVATE_KEY, XTB_LIGHTER_PUBLIC_KEY, XTB_LIGHTER_ACCOUNT_INDEX, XTB_LIGHTER_ETH_PRIVATE_KEY.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from xtb.keys import KeyField, KeyFileError, Secret, parse_int, read_key_fields

FIELDS = {
    "index": KeyField("api key index", ("api key index",), ("XTB_LIGHTER_API_KEY_INDEX",)),
    "private": KeyField("private key", ("private key", "api private key"), ("XTB_LIGHTER_PRIVATE_KEY",)),
    "public": KeyField("public key", ("public key", "api public key"), ("XTB_LIGHTER_PUBLIC_KEY",), False),
    "account": KeyField("account index", ("account index",), ("XTB_LIGHTER_ACCOUNT_INDEX",), False),
    "eth": KeyField("eth private key", ("eth private key",), ("XTB_LIGHTER_ETH_PRIVATE_KEY",), False),
}


@dataclass(frozen=True)
class LighterKeys:
    api_key_index: int
    private_key: Secret
    public_key: str | None = None
    account_index: int | None = None
    eth_private_key: Secret | None = None


def load_lighter_keys(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> LighterKeys:
    values, where = read_key_fields("Lighter", FIELDS, path, env, "XTB_LIGHTER_*")
    idx = parse_int(values["index"], f"Lighter api key index in {where}")
    assert idx is not None and values["private"]  # required fields
    if not 0 <= idx <= 254:
        raise KeyFileError(f"Lighter api key index must be 0..254 (3..254 for user keys), got {idx}")
    eth = values["eth"]
    return LighterKeys(
        api_key_index=idx,
        private_key=Secret(values["private"]),
        public_key=values["public"],
        account_index=parse_int(values["account"], f"Lighter account index in {where}"),
        eth_private_key=Secret(eth) if eth else None,
    )
