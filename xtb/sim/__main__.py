"""Standalone simulator: `python -m xtb.sim --venues backpack,lighter [--seed N] [--faults PROFILE|FILE.yaml]
[--duration S] [--backpack-api-key B64 ...] [--lighter-key ACCOUNT:INDEX:PUBHEX ...]
[--binance-key API_KEY:SECRET ...] [--binance-key-file FILE ...] [--grvt-key-file FILE ...]`.

Prints each venue's REST and WS URL (127.0.0.1, ephemeral ports) and runs until Ctrl-C or the duration.
Accounts are opened for the API public keys given on the command line (public keys only; no secret is
ever printed). Binance signs with HMAC, a shared secret, so the simulator needs both halves: on the command
line (`--binance-key API_KEY:SECRET`, for throwaway simulator keys: other local users can read a command
line) or from a file: the bot's own Binance key file (`api key:` / `api secret:`) or one line
`API_KEY:SECRET`. A GRVT API key is a session credential (logging in needs nothing else), so it comes from a
file: `API_KEY:SIGNER_ADDRESS[:SUB_ACCOUNT_ID]` (the signer is the address of the key that signs orders).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from xtb.sim.cluster import ClusterConfig, SimCluster
from xtb.sim.dialects import default_dialects, known_dialects
from xtb.sim.faults import PROFILES, FaultPlan


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m xtb.sim", description="Run the venue simulator on 127.0.0.1.")
    p.add_argument("--venues", default=",".join(default_dialects()),
                   help=f"comma-separated subset of {','.join(known_dialects())}")
    p.add_argument("--seed", type=int, default=0, help="market-data and fault seed")
    p.add_argument(
        "--faults", default="none", help=f"fault profile ({', '.join(PROFILES)}) or a YAML plan file"
    )
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--updates-per-s", type=float, default=50.0, help="book updates per second per market")
    p.add_argument("--collateral", type=int, default=100_000, help="USDC given to each registered account")
    p.add_argument(
        "--backpack-api-key",
        action="append",
        default=[],
        metavar="B64",
        help="register a Backpack ED25519 public key (base64); repeatable",
    )
    p.add_argument(
        "--lighter-key",
        action="append",
        default=[],
        metavar="ACCOUNT:INDEX:PUBHEX",
        help="register a Lighter API public key for an account; repeatable",
    )
    p.add_argument(
        "--binance-key",
        action="append",
        default=[],
        metavar="API_KEY:SECRET",
        help="register a Binance HMAC key pair (simulator keys only: a command line is readable); repeatable",
    )
    p.add_argument(
        "--binance-key-file",
        action="append",
        default=[],
        metavar="FILE",
        help="register a Binance HMAC key pair from FILE (a Binance key file, or one line API_KEY:SECRET); "
        "repeatable",
    )
    p.add_argument(
        "--aster-agent",
        action="append",
        default=[],
        metavar="AGENT:USER",
        help="approve an Aster API wallet address AGENT to trade for the main wallet USER (V3; addresses only, "
        "no key); repeatable",
    )
    p.add_argument(
        "--grvt-key-file",
        action="append",
        default=[],
        metavar="FILE",
        help="register a GRVT API key read from FILE (one line API_KEY:SIGNER_ADDRESS[:SUB_ACCOUNT_ID]); repeatable",
    )
    return p.parse_args(argv)


def binance_key_pair(spec: str) -> tuple[str, str]:
    api_key, sep, secret = spec.strip().partition(":")
    if not sep or not api_key or not secret or any(c.isspace() for c in spec.strip()):
        raise ValueError("expected API_KEY:SECRET")
    return api_key, secret


def binance_key(path: str) -> tuple[str, str]:
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise SystemExit(f"--binance-key-file {path}: cannot read it ({exc.strerror})") from None
    if "\n" not in text and ": " not in text:
        try:
            return binance_key_pair(text)
        except ValueError:
            raise SystemExit(f"--binance-key-file {path}: expected one line API_KEY:SECRET or a Binance key "
                             "file (api key: / api secret:)") from None
    from xtb.keys import KeyFileError, read_key_file  # the bot's own key file (the simulator is below the venues)

    try:
        fields = read_key_file(path)
    except KeyFileError as exc:
        raise SystemExit(f"--binance-key-file {path}: {exc}") from None
    key = fields.get("api key") or fields.get("binance api key")
    secret = fields.get("api secret") or fields.get("secret key") or fields.get("binance api secret")
    if not key or not secret:
        raise SystemExit(f"--binance-key-file {path}: needs both 'api key:' and 'api secret:' lines")
    return key, secret


def grvt_key(path: str) -> tuple[str, str, int | None]:
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise SystemExit(f"--grvt-key-file {path}: cannot read it ({exc.strerror})") from None
    parts = text.split(":")
    if "\n" in text or len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise SystemExit(f"--grvt-key-file {path}: expected one line API_KEY:SIGNER_ADDRESS[:SUB_ACCOUNT_ID]")
    try:
        sub = int(parts[2]) if len(parts) == 3 else None
    except ValueError:
        raise SystemExit(f"--grvt-key-file {path}: SUB_ACCOUNT_ID must be an integer") from None
    return parts[0], parts[1], sub


def fault_plan(spec: str, seed: int) -> FaultPlan:
    if spec in PROFILES:
        return FaultPlan.profile(spec, seed=seed)
    path = Path(spec)
    if not path.is_file():
        raise SystemExit(f"--faults: {spec!r} is neither a profile ({', '.join(PROFILES)}) nor a YAML file")
    return FaultPlan.from_yaml(path)


async def run(args: argparse.Namespace) -> None:
    venues = tuple(v.strip() for v in args.venues.split(",") if v.strip())
    config = ClusterConfig(
        venues=venues,
        seed=args.seed,
        fault_plan=fault_plan(args.faults, args.seed),
        updates_per_s=args.updates_per_s,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with SimCluster(config) as sim:
        for key in args.backpack_api_key:
            _, _, account = sim.open_account("backpack", args.collateral, api_key_b64=key)
            print(f"backpack account {account} for api key {key}")
        for spec in args.lighter_key:
            try:
                account_s, index_s, pub = spec.split(":", 2)
                account = sim.open_account("lighter", pub, int(index_s), args.collateral, int(account_s))
            except ValueError as exc:
                raise SystemExit(f"--lighter-key {spec!r}: {exc}") from None
            print(f"lighter account {account} api key {index_s}")
        for spec in args.binance_key:
            try:
                api_key, secret = binance_key_pair(spec)
            except ValueError as exc:
                raise SystemExit(f"--binance-key {spec.partition(':')[0][:4]}...: {exc}") from None
            _, _, account = sim.add_binance_account(args.collateral, api_key, secret)
            print(f"binance_usdm account {account} for api key {api_key[:4]}...")
        for path in args.binance_key_file:
            api_key, secret = binance_key(path)
            _, _, account = sim.open_account("binance_usdm", args.collateral, api_key, secret)
            print(f"binance_usdm account {account} for api key {api_key[:4]}... (from {path})")
        for spec in args.aster_agent:
            agent, _, user = spec.partition(":")
            try:
                user, _, account = sim.open_account("aster", args.collateral, agent_address=agent, user=user)
            except ValueError as exc:
                raise SystemExit(f"--aster-agent {spec!r}: {exc}") from None
            print(f"aster account {account} for user {user}, agent {agent}")
        for path in args.grvt_key_file:
            api_key, signer, sub = grvt_key(path)
            try:
                opened = sim.add_grvt_account(args.collateral, signer=signer, api_key=api_key, sub_account_id=sub)
            except (ValueError, RuntimeError) as exc:
                raise SystemExit(f"--grvt-key-file {path}: {exc}") from None
            print(f"grvt sub-account {opened.sub_account_id} (account {opened.account_id}) for signer {signer} "
                  f"(key from {path}); sign orders for chain id {sim.protocol('grvt').chain_id}")
        for name, urls in sim.urls().items():
            print(f"{name}: rest {urls['rest']}  ws {urls['ws']}")
            if name == "grvt":
                print(f"grvt: edge {urls['edge']}  trades {urls['trades']}  market-data {urls['market_data']}  "
                      f"trading ws {urls['trading_ws']}")
        sys.stdout.flush()
        try:
            await asyncio.wait_for(stop.wait(), args.duration)
        except TimeoutError:
            pass


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        asyncio.run(run(args))
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    main()
