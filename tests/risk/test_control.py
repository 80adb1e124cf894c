"""The control endpoint against a fake engine: token, 127.0.0.1 only, files, bad input."""

import json
import os
import socket
import stat

import aiohttp
import pytest

from xtb.control import ControlClient, ControlError, ControlServer, NoBotRunning
from xtb.model.types import MarketInfo
from xtb.risk import RiskGuard, TradingState

SOL = MarketInfo("backpack", "SOL_USDC_PERP", "SOL", "USDC", 2, 2, 1, 1, 2, 0)


class FakeEngine:
    def __init__(self):
        self.risk = RiskGuard({}, market=lambda v, s: SOL)

    def status(self):
        return {"state": "running", **self.risk.status()}


async def test_token_file_is_private_and_requests_need_the_token(tmp_path):
    eng = FakeEngine()
    srv = await ControlServer.start(eng, state_dir=tmp_path, env={})
    try:
        endpoint = json.loads((tmp_path / "control.json").read_text())
        token_path = tmp_path / "control.token"
        assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "control.json").stat().st_mode) == 0o600
        token = token_path.read_text()
        assert len(token) >= 40 and token not in (tmp_path / "control.json").read_text()
        assert endpoint["port"] == srv.port and endpoint["pid"] == os.getpid() and endpoint["host"] == "127.0.0.1"
        assert token not in repr(srv)
        url = f"http://127.0.0.1:{srv.port}"
        async with aiohttp.ClientSession() as s:
            for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {token}"},
                            {"Authorization": "Bearer "}):
                async with s.post(url + "/risk/state", json={"state": "halted"}, headers=headers) as r:
                    assert r.status == 401, headers
            async with s.post(url + "/kill", headers={"Authorization": "Bearer x" + token}) as r:
                assert r.status == 401
        assert eng.risk.state is TradingState.ACTIVE and srv.refused == 5  # nothing changed
        client = ControlClient.discover(tmp_path, env={})
        st = await client.set_state("reducing", "test", for_s=30)
        assert st["risk_state"] == "reducing" and st["risk_reason"] == "operator: test" and st["risk_until"]
        assert (await client.status())["risk_by_operator"] is True
        for body, needle in (({"state": "paused"}, "state: must be one of"), ({"state": "halted", "for_s": -1},
                             "for_s"), ({"state": "halted", "reason": 5}, "reason")):
            with pytest.raises(ControlError, match=needle):
                await client._call("POST", "/risk/state", body)
        assert eng.risk.state is TradingState.REDUCING
    finally:
        await srv.stop()
    assert not (tmp_path / "control.json").exists() and not (tmp_path / "control.token").exists()
    with pytest.raises(NoBotRunning):
        ControlClient.discover(tmp_path, env={})


async def test_binds_loopback_only_and_takes_the_token_from_env_without_writing_it(tmp_path):
    srv = await ControlServer.start(FakeEngine(), state_dir=tmp_path, env={"XTB_CONTROL_TOKEN": "s3cret-tok"})
    try:
        assert not (tmp_path / "control.token").exists()
        assert json.loads((tmp_path / "control.json").read_text())["token_file"] is None
        # the socket is bound to 127.0.0.1: another local address of this host refuses the connection
        other = _non_loopback_address()
        if other is not None:
            with pytest.raises(OSError):
                socket.create_connection((other, srv.port), timeout=1).close()
        with pytest.raises(ControlError, match="no control token"):
            ControlClient.discover(tmp_path, env={})
        with pytest.raises(ControlError, match="401"):
            await ControlClient.discover(tmp_path, env={"XTB_CONTROL_TOKEN": "wrong"}).status()
        assert (await ControlClient.discover(tmp_path, token="s3cret-tok", env={}).status())["state"] == "running"
    finally:
        await srv.stop()


async def test_a_dead_bots_endpoint_file_is_not_a_running_bot(tmp_path):
    (tmp_path / "control.json").write_text(json.dumps({"port": 1, "pid": 2**22 + 12345}))
    with pytest.raises(NoBotRunning, match="gone"):
        ControlClient.discover(tmp_path, env={"XTB_CONTROL_TOKEN": "t"})


def _non_loopback_address():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))  # no packet is sent: only picks the outgoing interface
        addr = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if addr.startswith("127.") else addr
