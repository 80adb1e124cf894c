"""Aster credentials. V3 (the default): the main wallet address (`user`) and the API wallet's private key
(`private key`), from a key file or ASTER_USER / ASTER_PRIVATE_KEY. V1 (legacy): an HMAC key pair (`api key`,
`api secret`, or ASTER_API_KEY / ASTER_API_SECRET). Key files are refused when group/other readable; the
private key and both HMAC halves are secrets (never logged), the user address is public."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from xtb.keys import KeyFileError, Secret, read_key_file


@dataclass(frozen=True)
class AsterKeys:
    user: str | None = None
    private_key: Secret | None = None  # the API wallet (agent) key: signs V3 requests
    api_key: Secret | None = None
    api_secret: Secret | None = None

    def require(self, auth: str, where: str = "the Aster keys") -> AsterKeys:
        """These keys, or KeyFileError naming what the auth scheme still needs."""
        if auth == "v1":
            missing = [n for n, v in (("api key", self.api_key), ("api secret", self.api_secret)) if not v]
        else:
            missing = [n for n, v in (("user", self.user), ("private key", self.private_key)) if not v]
        if missing:
            raise KeyFileError(f"Aster {auth} auth: {' and '.join(missing)} missing in {where}")
        return self


def load_aster_keys(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> AsterKeys:
    env = os.environ if env is None else env
    if path is not None:
        f = read_key_file(path)
        user = f.get("user") or f.get("aster user") or f.get("main wallet")
        key = f.get("private key") or f.get("signer private key") or f.get("aster private key")
        api_key, secret = f.get("api key"), f.get("api secret") or f.get("secret key")
        where = str(path)
    else:
        user, key = env.get("ASTER_USER"), env.get("ASTER_PRIVATE_KEY")
        api_key, secret = env.get("ASTER_API_KEY"), env.get("ASTER_API_SECRET")
        where = "environment (ASTER_USER/ASTER_PRIVATE_KEY or ASTER_API_KEY/ASTER_API_SECRET)"
    keys = AsterKeys(user or None, Secret(key) if key else None, Secret(api_key) if api_key else None,
                     Secret(secret) if secret else None)  # fmt: skip
    if not (keys.user and keys.private_key) and not (keys.api_key and keys.api_secret):
        raise KeyFileError(f"Aster keys missing in {where}: need user + private key (V3) or api key + api secret (V1)")
    return keys
