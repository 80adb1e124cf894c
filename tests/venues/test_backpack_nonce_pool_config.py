"""venues.backpack.options.nonce_pool: default on, validated with the key named, reaches the core signer."""

from __future__ import annotations

import base64

import pytest
from nacl.signing import SigningKey

from xtb.venues.backpack.connector import BackpackConfig, BackpackConnector

SECRET = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
API_KEY = base64.b64encode(bytes(SigningKey(base64.b64decode(SECRET)).verify_key)).decode()


def test_default_is_on_and_zero_turns_it_off() -> None:
    assert BackpackConfig().nonce_pool == 256
    assert BackpackConfig.from_options({}).nonce_pool == 256
    assert BackpackConfig.from_options({"nonce_pool": 0}).nonce_pool == 0
    assert BackpackConfig.from_options({"nonce_pool": 65_536}).nonce_pool == 65_536


@pytest.mark.parametrize("bad", [-1, 65_537, "256", 2.5, True, None])
def test_bad_values_name_the_key(bad: object) -> None:
    with pytest.raises(ValueError, match=r"venues\.backpack\.options\.nonce_pool"):
        BackpackConfig.from_options({"nonce_pool": bad})


@pytest.mark.parametrize("pool", [0, 16])
def test_connector_builds_its_signer_with_the_pool(pool: int) -> None:
    conn = BackpackConnector(BackpackConfig(nonce_pool=pool), API_KEY, SECRET)
    assert conn._signer.nonce_pool_stats["capacity"] == pool


def test_connector_refuses_a_bad_pool_directly() -> None:
    with pytest.raises(ValueError, match="nonce_pool"):
        BackpackConnector(BackpackConfig(nonce_pool=-5), API_KEY, SECRET)
