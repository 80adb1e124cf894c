"""Aster credentials. V3 (the default): the main wallet address (`user`) and the API wallet's private key
(`private key`), from a key file or ASTER_USER / ASTER_PRIVATE_KEY. V1 (legacy): an HMAC key pair (`api key`,
`api secret`, or ASTER_API_KEY / ASTER_API_SECRET). Key files are refused when group/other readable; the
private key and both HMAC halves are secrets (never logged), the user address is public."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from xtb.keys import KeyField, KeyFileError, Secret, read_key_fields

# V3 needs user + private key, V1 api key + api secret: each field is optional, the pair is checked after
FIELDS = {
    "user": KeyField("user", ("user", "aster user", "main wallet"), ("ASTER_USER",), required=False),
    "private_key": KeyField("private key", ("private key", "signer private key", "aster private key"),
                            ("ASTER_PRIVATE_KEY",), required=False),
    "api_key": KeyField("api key", ("api key",), ("ASTER_API_KEY",), required=False),
    "api_secret": KeyField("api secret", ("api secret", "secret key"), ("ASTER_API_SECRET",), required=False),
}


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
    values, where = read_key_fields("Aster", FIELDS, path, env,
                                    "ASTER_USER/ASTER_PRIVATE_KEY or ASTER_API_KEY/ASTER_API_SECRET")  # fmt: skip
    user, key, api_key, secret = (values[n] for n in ("user", "private_key", "api_key", "api_secret"))
    keys = AsterKeys(user or None, Secret(key) if key else None, Secret(api_key) if api_key else None,
                     Secret(secret) if secret else None)  # fmt: skip
    if not (keys.user and keys.private_key) and not (keys.api_key and keys.api_secret):
        raise KeyFileError(f"Aster keys missing in {where}: need user + private key (V3) or api key + api secret (V1)")
    return keys
