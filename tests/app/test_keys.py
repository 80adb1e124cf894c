import os
import pickle

import pytest

from xtb.keys import KeyFileError, Secret
from xtb.venues.backpack.keys import load_backpack_keys
from xtb.venues.lighter.keys import load_lighter_keys

BP_SECRET = "c2VjcmV0LXNlZWQtZm9yLXRlc3RzLW9ubHktMzJieXRlcw=="
LT_PRIVATE = "ab" * 40


def keyfile(tmp_path, name, text, mode=0o600):
    p = tmp_path / name
    p.write_text(text)
    os.chmod(p, mode)
    return p


def test_backpack_key_file(tmp_path):
    p = keyfile(tmp_path, "Backpack_key.txt", f"# mine\napi key: PUBKEY123=\napi secret: {BP_SECRET}\n")
    keys = load_backpack_keys(p)
    assert keys.api_key == "PUBKEY123="
    assert keys.api_secret.reveal() == BP_SECRET
    assert BP_SECRET not in repr(keys) and BP_SECRET not in f"{keys.api_secret}"


def test_lighter_key_file_seed_format(tmp_path):
    text = f"api key index: 3\nprivate key: {LT_PRIVATE}\npublic key: cd\naccount index: 77\n"
    keys = load_lighter_keys(keyfile(tmp_path, "Lighter_key.txt", text))
    assert (keys.api_key_index, keys.account_index, keys.public_key) == (3, 77, "cd")
    assert keys.private_key.reveal() == LT_PRIVATE
    assert LT_PRIVATE not in repr(keys)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_readable_by_others_is_refused(tmp_path, mode):
    p = keyfile(tmp_path, "Backpack_key.txt", f"api key: K\napi secret: {BP_SECRET}\n", mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_backpack_keys(p)


def test_environment_fallback():
    keys = load_backpack_keys(env={"BPX_API_KEY": "K", "BPX_API_SECRET": BP_SECRET})
    assert keys.api_key == "K"
    lk = load_lighter_keys(env={"XTB_LIGHTER_API_KEY_INDEX": "4", "XTB_LIGHTER_PRIVATE_KEY": LT_PRIVATE})
    assert lk.api_key_index == 4 and lk.account_index is None


def test_errors_never_echo_key_material(tmp_path):
    p = keyfile(tmp_path, "Lighter_key.txt", f"api key index: x{LT_PRIVATE}\n")
    with pytest.raises(KeyFileError) as ei:
        load_lighter_keys(p)
    assert LT_PRIVATE not in str(ei.value)
    p2 = keyfile(tmp_path, "bad.txt", f"{BP_SECRET}\n")
    with pytest.raises(KeyFileError) as ei2:
        load_backpack_keys(p2)
    assert BP_SECRET not in str(ei2.value)
    with pytest.raises(KeyFileError, match=r"0\.\.254"):
        load_lighter_keys(env={"XTB_LIGHTER_API_KEY_INDEX": "300", "XTB_LIGHTER_PRIVATE_KEY": LT_PRIVATE})
    with pytest.raises(KeyFileError, match="secret missing"):
        load_backpack_keys(env={"BPX_API_KEY": "K"})
    with pytest.raises(KeyFileError, match="does not exist"):
        load_backpack_keys(tmp_path / "nope.txt")


def test_secret_is_masked_everywhere_and_not_picklable():
    s = Secret(BP_SECRET)
    assert "***" in repr(s) and "***" == f"{s}" and BP_SECRET not in str([s])
    with pytest.raises(TypeError):
        pickle.dumps(s)
