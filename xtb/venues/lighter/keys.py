"""Lighter API keys: a key file (`api key index: 3`, `private key: <hex>` of the API key, optional
`public key`, `account index`, `eth private key` for key registration) or XTB_LIGHTER_API_KEY_INDEX,
XTB_LIGHTER_PRIVATE_KEY, XTB_LIGHTER_PUBLIC_KEY, XTB_LIGHTER_ACCOUNT_INDEX, XTB_LIGHTER_ETH_PRIVATE_KEY.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from xtb.keys import KeyFileError, Secret, parse_int, pick_field, read_key_file


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
    env = os.environ if env is None else env
    if path is not None:
        f = read_key_file(path)
        index = pick_field(f, "api key index")
        private = pick_field(f, "private key", "api private key")
        public = pick_field(f, "public key", "api public key")
        account = pick_field(f, "account index")
        eth = pick_field(f, "eth private key")
        where = str(path)
    else:
        index = env.get("XTB_LIGHTER_API_KEY_INDEX")
        private = env.get("XTB_LIGHTER_PRIVATE_KEY")
        public = env.get("XTB_LIGHTER_PUBLIC_KEY")
        account = env.get("XTB_LIGHTER_ACCOUNT_INDEX")
        eth = env.get("XTB_LIGHTER_ETH_PRIVATE_KEY")
        where = "environment (XTB_LIGHTER_*)"
    idx = parse_int(index, f"Lighter api key index in {where}")
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
        account_index=parse_int(account, f"Lighter account index in {where}"),
        eth_private_key=Secret(eth) if eth else None,
    )
