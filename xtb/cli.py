"""The `xtb` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="xtb",
    help="xtb: trade crypto perpetual futures across venues. Paper mode (the built-in simulator) is the default.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the versions of xtb and its compiled core."""
    import xtb

    try:
        from xtb import _core

        core = _core.__version__
    except ImportError as e:  # a source checkout that was never built
        core = f"not built ({e}); run: python build.py"
    typer.echo(f"xtb {xtb.__version__}, core {core}")


@app.command()
def strategies() -> None:
    """List the registered strategies with their parameters, types and defaults."""
    from xtb.engine.registry import all_strategies

    specs = all_strategies()
    if not specs:
        typer.echo("no strategies registered")
        return
    for spec in specs:
        typer.echo(f"{spec.name}: {spec.summary}")
        for fname, f in spec.params.model_fields.items():
            ann = getattr(f.annotation, "__name__", str(f.annotation))
            default = "required" if f.is_required() else f"default {f.get_default(call_default_factory=True)!r}"
            desc = f" - {f.description}" if f.description else ""
            typer.echo(f"    {fname}: {ann} ({default}){desc}")


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="YAML config (sections: general, venues, strategy, risk, telemetry)")],
    live: Annotated[bool, typer.Option("--live", help="trade for real with your keys (default: paper mode)")] = False,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a config key, e.g. --set strategy.params.size=0.2")
    ] = None,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds (default: Ctrl-C)")] = None,
    status_every: Annotated[float, typer.Option(help="print a status line every N seconds (0: never)")] = 5.0,
    flatten_on_exit: Annotated[bool, typer.Option(help="close positions reduce-only on shutdown")] = False,
) -> None:
    """Run a strategy. Without --live the venues are the built-in simulator: no keys, no money.

    Exit status: 0 stopped flat (or nothing held), 1 stopped NOT FLAT (positions or orders left, said on the
    last line), 2 bad command line, config, venue or keys (one line naming the key or file)."""
    import asyncio
    import json
    import math
    import signal

    from xtb.config import ConfigError, load_config
    from xtb.engine.engine import Engine
    from xtb.logs import setup_logging
    from xtb.preflight import preflight

    if duration is not None and not (math.isfinite(duration) and duration > 0):
        typer.echo(f"--duration: must be a positive number of seconds (got {duration})", err=True)
        raise typer.Exit(2)
    if not math.isfinite(status_every) or status_every < 0:
        typer.echo(f"--status-every: must be >= 0 seconds (got {status_every})", err=True)
        raise typer.Exit(2)
    try:
        cfg = load_config(config, sets=set_ or [])
        preflight(cfg)
    except ConfigError as e:
        typer.echo(f"config error: {e}", err=True)
        raise typer.Exit(2) from None
    g = cfg.general
    try:
        setup_logging(level=g.log_level, file_level=g.file_log_level, root_level=g.root_log_level, log_dir=g.log_dir)
    except OSError as e:
        typer.echo(f"config error: general.log_dir: cannot write logs in {g.log_dir} ({e.strerror or e})", err=True)
        raise typer.Exit(2) from None
    if g.uvloop:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass

    async def main() -> int:
        try:
            engine = Engine(cfg, live=live)
        except ValueError as e:  # ConfigError of the risk section and the like
            typer.echo(f"config error: {e}", err=True)
            return 2
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, engine.request_stop)
        try:
            await engine.start()
        except (ValueError, KeyError) as e:  # config, strategy, symbols, keys: nothing was left running
            typer.echo(f"cannot start: {_one_line(e)}", err=True)
            return 2
        except OSError as e:  # a port, directory or file the config names
            typer.echo(f"cannot start: {_one_line(e)}", err=True)
            return 2
        started = loop.time()
        try:
            while duration is None or loop.time() - started < duration:
                step = status_every if status_every > 0 else 1.0
                if duration is not None:
                    step = min(step, max(0.0, duration - (loop.time() - started)))
                await engine.run(step)
                if engine._stop.is_set():
                    break
                if status_every > 0:
                    typer.echo(json.dumps(engine.status(), default=str))
        finally:
            report = await engine.stop(flatten=flatten_on_exit)
        typer.echo(json.dumps(engine.status(), default=str))
        if report is not None and not report.flat:
            markets = {v: c.markets() for v, c in engine.connectors.items()}
            typer.echo(report.summary(markets), err=True)
            return 1
        return 0

    raise typer.Exit(asyncio.run(main()))


@app.command()
def demo() -> None:
    """Replay a recorded Backpack depth stream through the compiled core and compare with pure Python."""
    from xtb.demo import run

    res = run()
    if res.stale:
        raise typer.Exit(1)


@app.command()
def sim(
    venues: Annotated[str, typer.Option(help="comma-separated venues to simulate")] = "backpack,lighter",
    seed: Annotated[int, typer.Option(help="market-data and fault seed (same seed, same market)")] = 0,
    faults: Annotated[str, typer.Option(help="fault profile (none, flaky, chaos) or a YAML fault plan")] = "none",
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds (default: Ctrl-C)")] = None,
    updates_per_s: Annotated[float, typer.Option(help="book updates per second per market")] = 50.0,
    collateral: Annotated[int, typer.Option(help="USDC given to each registered account")] = 100_000,
    backpack_api_key: Annotated[
        list[str] | None, typer.Option(help="register a Backpack public key (base64); repeatable")
    ] = None,
    lighter_key: Annotated[
        list[str] | None, typer.Option(help="register ACCOUNT:INDEX:PUBHEX for Lighter; repeatable")
    ] = None,
    binance_key: Annotated[
        list[str] | None, typer.Option(help="register API_KEY:SECRET for Binance (simulator keys only); repeatable")
    ] = None,
    binance_key_file: Annotated[
        list[Path] | None,
        typer.Option(help="register a Binance HMAC pair from a key file (or one line API_KEY:SECRET); repeatable"),
    ] = None,
    grvt_key_file: Annotated[
        list[Path] | None,
        typer.Option(help="register a GRVT API key from a file (API_KEY:SIGNER_ADDRESS[:SUB_ACCOUNT_ID]); repeatable"),
    ] = None,
) -> None:
    """Run the venue simulator standalone on 127.0.0.1 and print its REST/WebSocket URLs."""
    from xtb.sim.__main__ import main as sim_main

    argv = ["--venues", venues, "--seed", str(seed), "--faults", faults, "--updates-per-s", str(updates_per_s),
            "--collateral", str(collateral)]
    if duration is not None:
        argv += ["--duration", str(duration)]
    for k in backpack_api_key or []:
        argv += ["--backpack-api-key", k]
    for k in lighter_key or []:
        argv += ["--lighter-key", k]
    for k in binance_key or []:
        argv += ["--binance-key", k]
    for f in binance_key_file or []:
        argv += ["--binance-key-file", str(f)]
    for f in grvt_key_file or []:
        argv += ["--grvt-key-file", str(f)]
    sim_main(argv)


@app.command()
def flatten(
    config: Annotated[Path, typer.Argument(help="YAML config naming the venues (and, live, their key files)")],
    venue: Annotated[
        list[str] | None, typer.Option("--venue", help="only this venue (repeatable; default: every enabled one)")
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="act on your real accounts (default: paper mode)")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a config key")] = None,
    slippage_bps: Annotated[int, typer.Option(help="closing orders' worst price through the touch")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Cancel every order and close every position reduce-only, then verify flat; no bot needs to run.

    Exit status: 0 flat everywhere, 1 something left, unverified or unreachable, 2 bad config, venue or keys,
    3 the account is locked by a running bot (stop it first, or let it flatten on exit)."""
    import asyncio
    import dataclasses
    import json

    from xtb.config import ConfigError, load_config
    from xtb.engine.engine import Engine
    from xtb.lock import AccountLockedError
    from xtb.logs import setup_logging

    try:
        cfg = load_config(config, sets=set_ or [])
    except ConfigError as e:
        typer.echo(f"config error: {e}", err=True)
        raise typer.Exit(2) from None
    g = cfg.general
    setup_logging(level=g.log_level, file_level=g.file_log_level, root_level=g.root_log_level, log_dir=g.log_dir)

    if not live:
        typer.echo("paper mode: a fresh simulator with fresh accounts (use --live for your real accounts)", err=True)

    async def main() -> int:
        engine = Engine(cfg, live=live)
        try:
            await engine.start_venues(venue or None)
        except AccountLockedError as e:
            typer.echo(f"cannot flatten: {e}", err=True)
            return 3
        except ValueError as e:  # config, venue names, key files
            typer.echo(f"cannot flatten: {e}", err=True)
            return 2
        except Exception as e:  # the venue could not be reached: nothing was done or verified
            typer.echo(f"cannot flatten: venues did not start ({type(e).__name__}: {e})", err=True)
            return 1
        try:
            reports = await engine.flatten_report(slippage_bps=slippage_bps)
        finally:
            await engine.stop(cancel_orders=False)
        if as_json:
            typer.echo(json.dumps({v: {**dataclasses.asdict(r), "flat": r.flat} for v, r in reports.items()}))
        for name, r in reports.items():
            if as_json:
                break
            state = "FLAT" if r.flat else ("UNVERIFIED" if not r.verified else "NOT FLAT")
            typer.echo(f"{name}: {state}  positions before {r.before or '{}'}, closing orders {r.orders_sent}, "
                       f"left {r.left or '{}'}, open orders left {r.open_orders_left}")
            for err in r.errors:
                typer.echo(f"    error: {err}")
        return 0 if all(r.flat for r in reports.values()) else 1

    raise typer.Exit(asyncio.run(main()))


def lock_records(lock_dir: str | Path) -> list[dict[str, object]]:
    """One record per account lock file in `lock_dir`: venue-account, holder pid/host, heartbeat age,
    and whether the holder is alive (checked only for holders on this host)."""
    import os
    import socket
    import time

    from xtb.lock import read_holder

    out: list[dict[str, object]] = []
    root = Path(lock_dir).expanduser()
    if not root.is_dir():
        return out
    host = socket.gethostname()
    for path in sorted(root.glob("*.lock")):
        rec: dict[str, object] = {"lock": path.stem, "path": str(path)}
        holder = read_holder(path)
        if not holder:
            rec["state"] = "free"  # released cleanly (the holder truncates the file)
            out.append(rec)
            continue
        pid, holder_host = holder.get("pid"), holder.get("host")
        rec.update(pid=pid, host=holder_host)
        try:
            rec["heartbeat_age_s"] = round(time.time() - float(str(holder.get("heartbeat"))), 1)
        except ValueError:
            rec["heartbeat_age_s"] = None
        if holder_host != host or not isinstance(pid, int):
            rec["state"] = "unknown (other host)"
        else:
            try:
                os.kill(pid, 0)
                rec["state"] = "running"
            except ProcessLookupError:
                rec["state"] = "dead (stale record; the lock itself died with it)"
            except PermissionError:
                rec["state"] = "running"  # exists, owned by another user
        out.append(rec)
    return out


@app.command()
def status(
    config: Annotated[Path | None, typer.Argument(help="YAML config (its general.lock_dir and run_dir)")] = None,
    lock_dir: Annotated[str | None, typer.Option(help="lock directory (overrides the config's)")] = None,
    run_dir: Annotated[str | None, typer.Option(help="the bot's run directory (overrides the config's)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the records as JSON")] = False,
) -> None:
    """Show which live bots are running: the single-instance account locks, their holders and heartbeats.

    Paper runs take no lock (their accounts live in their own simulator), so only live bots appear there.
    Given a config (or --run-dir), the bot running from that run directory (paper or live) is asked for its
    status through its control endpoint first; with --json the output is then {"bot": ..., "locks": [...]}."""
    import json

    from xtb.config import ConfigError, load_config

    bot: dict[str, object] | None = None
    if config is not None or run_dir is not None:
        from xtb.control import ControlError, NoBotRunning

        try:
            client = _control_client(config, run_dir)
            bot = _run_async(client.status())
        except ConfigError as e:
            typer.echo(f"config error: {e}", err=True)
            raise typer.Exit(2) from None
        except NoBotRunning:
            bot = None
        except ControlError as e:
            typer.echo(f"bot: {e}", err=True)
    if bot is not None and not as_json:
        typer.echo(_bot_line(bot))
    if lock_dir is None:
        if config is not None:
            try:
                lock_dir = load_config(config).general.lock_dir
            except ConfigError as e:
                typer.echo(f"config error: {e}", err=True)
                raise typer.Exit(2) from None
        else:
            from xtb.config import GeneralConfig

            lock_dir = str(GeneralConfig.model_fields["lock_dir"].default)
    records = lock_records(lock_dir)
    if as_json:
        typer.echo(json.dumps(records if bot is None else {"bot": bot, "locks": records}, default=str))
        return
    if not records:
        typer.echo(f"no account locks in {lock_dir}: nothing is running")
        return
    for r in records:
        if r["state"] == "free":
            typer.echo(f"{r['lock']}: free")
            continue
        age = r.get("heartbeat_age_s")
        typer.echo(f"{r['lock']}: {r['state']}  pid {r.get('pid')} on {r.get('host')}, "
                   f"heartbeat {'?' if age is None else f'{age:.0f} s'} ago")


# ---- operator commands: the running bot's control endpoint (xtb.control) ----------------------------------


def _run_async(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


def _control_client(config: Path | None, run_dir: str | None) -> Any:
    """The control client of the bot running from the config's (or the given) run directory.
    Raises ConfigError, NoBotRunning (nothing announced, or its process is gone), ControlError."""
    from xtb.config import ControlConfig, GeneralConfig, load_config
    from xtb.control import ControlClient

    control = ControlConfig()
    if config is not None:
        cfg = load_config(config)
        control = cfg.control
        run_dir = run_dir or cfg.general.run_dir
    run_dir = run_dir or str(GeneralConfig.model_fields["run_dir"].default)
    token = None if control.token is None else control.token.get_secret_value()
    return ControlClient.discover(Path(run_dir) / "state", token=token, token_env=control.token_env)


def _bot_line(st: dict[str, Any]) -> str:
    pnl = st.get("risk_pnl")
    return (f"bot: {st.get('state')} ({st.get('mode')}) strategy {st.get('strategy')} on "
            f"{', '.join(map(str, st.get('venues') or []))}, trading {st.get('risk_state', '?')}"
            + (f" ({st['risk_reason']})" if st.get("risk_reason") else "")
            + f", positions {st.get('positions') or '{}'}, open orders {st.get('open_orders')}"
            + ("" if pnl is None else f", pnl {pnl:.2f}"))


def _operator_errors(fn: Any) -> Any:
    """Map the control client's errors to exit codes: 2 config, 3 no bot running, 1 the call failed."""
    from xtb.config import ConfigError
    from xtb.control import ControlError, NoBotRunning

    try:
        return fn()
    except ConfigError as e:
        typer.echo(f"config error: {e}", err=True)
        raise typer.Exit(2) from None
    except NoBotRunning as e:
        typer.echo(f"{e}; with the bot down use `xtb flatten`", err=True)
        raise typer.Exit(3) from None
    except ControlError as e:
        typer.echo(f"failed: {e}", err=True)
        raise typer.Exit(1) from None


@app.command()
def panel(
    config: Annotated[Path | None, typer.Argument(help="the running bot's YAML config (its run_dir, control)")] = None,
    run_dir: Annotated[str | None, typer.Option(help="the bot's run directory (overrides the config's)")] = None,
) -> None:
    """Print a sign-in link to the running bot's web panel (127.0.0.1 only). The token travels in the
    link's #fragment, which the browser never sends to a server; treat the link like the token itself.

    Exit status: 0 printed, 1 the bot did not answer, 2 bad config, 3 no bot running."""
    client = _operator_errors(lambda: _control_client(config, run_dir))
    _operator_errors(lambda: _run_async(client.status()))
    typer.echo(client.panel_link())


@app.command()
def kill(
    config: Annotated[Path | None, typer.Argument(help="the running bot's YAML config (its run_dir, control)")] = None,
    run_dir: Annotated[str | None, typer.Option(help="the bot's run directory (overrides the config's)")] = None,
    reason: Annotated[str, typer.Option(help="recorded as the halt's reason")] = "operator kill",
    flatten: Annotated[bool, typer.Option(help="close every position reduce-only after the cancels")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Kill switch of the running bot: halt trading (latched), cancel every order, close every position
    reduce-only, verify each venue is flat, print the report. Trading stays halted until
    `xtb risk state active`.

    Exit status: 0 flat everywhere (or cancelled, with --no-flatten), 1 something left or the call failed,
    2 bad config, 3 no bot running (use `xtb flatten`)."""
    import json

    client = _operator_errors(lambda: _control_client(config, run_dir))
    rep = _operator_errors(lambda: _run_async(client.kill(reason, flatten=flatten)))
    if as_json:
        typer.echo(json.dumps(rep))
    else:
        typer.echo(f"trading {rep['state']}; orders cancelled" + ("" if flatten else "; positions left as they are"))
        for name, r in rep["venues"].items():
            state = "FLAT" if r["flat"] else ("UNVERIFIED" if not r["verified"] else "NOT FLAT")
            typer.echo(f"{name}: {state}  positions before {r['before'] or '{}'}, closing orders {r['orders_sent']}, "
                       f"left {r['left'] or '{}'}, open orders left {r['open_orders_left']}")
            for err in r["errors"]:
                typer.echo(f"    error: {err}")
    raise typer.Exit(0 if not flatten or rep["flat"] else 1)


risk_app = typer.Typer(help="The running bot's risk guard.", no_args_is_help=True)
app.add_typer(risk_app, name="risk")


@risk_app.command("state")
def risk_state(
    state: Annotated[str, typer.Argument(help="active, reducing (only reduce-only orders pass) or halted")],
    config: Annotated[Path | None, typer.Argument(help="the running bot's YAML config")] = None,
    run_dir: Annotated[str | None, typer.Option(help="the bot's run directory (overrides the config's)")] = None,
    reason: Annotated[str, typer.Option(help="recorded with the state")] = "operator",
    for_s: Annotated[float | None, typer.Option("--for", help="lift back to active after N seconds")] = None,
) -> None:
    """Set the running bot's trading state (the operator's switch; it also lifts a latched halt)."""
    from xtb.risk.state import TradingState

    if state not in {s.value for s in TradingState}:
        typer.echo(f"state must be one of {', '.join(s.value for s in TradingState)} (got {state!r})", err=True)
        raise typer.Exit(2)
    if for_s is not None and for_s <= 0:
        typer.echo(f"--for must be > 0 seconds (got {for_s})", err=True)
        raise typer.Exit(2)
    client = _operator_errors(lambda: _control_client(config, run_dir))
    st = _operator_errors(lambda: _run_async(client.set_state(state, reason, for_s=for_s)))
    until = st.get("risk_until")
    typer.echo(f"trading {st['risk_state']} ({st['risk_reason']})" + ("" if until is None else f" until {until}"))


@app.command()
def replay(
    journal: Annotated[Path, typer.Argument(help="an events.journal written by a run (telemetry.journal)")],
    strategy: Annotated[str | None, typer.Option(help="strategy name (default: the config's)")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config (strategy params, tick interval)")] = None,
    out: Annotated[Path | None, typer.Option(help="output run directory (default: <journal dir>/replay)")] = None,
    window_ms: Annotated[float, typer.Option(help="book conflation window in ms (the live per-burst drain)")] = 1.0,
    latency_ms: Annotated[float, typer.Option(help="order latency in ms (journal time): each submit and cancel "
                                                   "meets the book that much later")] = 0.0,
    funding_ppm: Annotated[float | None, typer.Option(help="funding per hour on open positions, ppm of notional "
                                                           "at the recorded mid (> 0: longs pay), for markets "
                                                           "without recorded mark/funding events")] = None,
    latency_from: Annotated[Path | None, typer.Option(help="a run's events.journal: draw each order's latency "
                                                           "from that run's own submit-to-answer times")] = None,
    queue: Annotated[str, typer.Option(help="queue position of resting orders: none (only a touch through "
                                            "our price fills), risk_averse or probabilistic (prints at our "
                                            "price fill once the queue ahead is used)")] = "none",
    fills: Annotated[str, typer.Option(help="what fills resting orders: tape (the recorded touch, with --queue) "
                                            "or intensity (probability A*exp(-k*delta)*dt per book update)")]
    = "tape",
    fill_a: Annotated[float | None, typer.Option(help="intensity fills: A, fills per second at zero distance "
                                                      "from the mid")] = None,
    fill_k: Annotated[float | None, typer.Option(help="intensity fills: k, decay per unit of price (quote per "
                                                      "base unit)")] = None,
    fill_seed: Annotated[int, typer.Option(help="intensity fills: seed of the draws")] = 0,
    fill_size: Annotated[str | None, typer.Option(help="intensity fills: most base units filled per side and "
                                                       "update (default: every order in reach, in full)")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Replay a journal's market data through a strategy against the simulator's matching engine."""
    import asyncio

    from rich.progress import Progress

    from xtb._core import JournalFormatError
    from xtb.config import ConfigError, XtbConfig, load_config
    from xtb.journal.replay import replay as run_replay
    from xtb.preflight import check_strategy

    try:
        if config is not None:
            cfg = load_config(config)
        elif strategy is not None:
            cfg = XtbConfig(strategy={"name": strategy})  # type: ignore[arg-type]
        else:
            typer.echo("give --strategy or --config", err=True)
            raise typer.Exit(2)
        if strategy is not None:
            cfg = cfg.model_copy(update={"strategy": cfg.strategy.model_copy(update={"name": strategy})})
        check_strategy(cfg)
    except ConfigError as e:
        typer.echo(f"config error: {e}", err=True)
        raise typer.Exit(2) from None
    if not journal.is_file():
        typer.echo(f"journal {journal}: no such file", err=True)
        raise typer.Exit(2)
    if not latency_ms >= 0:
        typer.echo(f"--latency-ms: must be >= 0 (got {latency_ms})", err=True)
        raise typer.Exit(2)
    from xtb.journal.replay import QUEUE_MODELS, latency_samples

    latency: float | list[float] = latency_ms
    if latency_from is not None:
        try:
            latency = latency_samples(latency_from)
        except (OSError, ValueError, JournalFormatError) as e:
            typer.echo(f"--latency-from {latency_from}: {_one_line(e)}", err=True)
            raise typer.Exit(2) from None
        if not latency:
            typer.echo(f"--latency-from {latency_from}: no order round trips in that journal", err=True)
            raise typer.Exit(2)
    if queue not in QUEUE_MODELS:
        typer.echo(f"--queue: expected one of {', '.join(QUEUE_MODELS)} (got {queue!r})", err=True)
        raise typer.Exit(2)
    intensity = _fill_model(fills, fill_a, fill_k, fill_seed, fill_size, queue)
    out_dir = out if out is not None else journal.parent / "replay"
    # records=True: the same records.sqlite / stats.log a live run writes, in out_dir
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("replay", total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            res = asyncio.run(run_replay(journal, cfg, strategy=strategy, out_dir=out_dir,
                                         window_ns=int(window_ms * 1e6), progress=report, records=True,
                                         latency_ms=latency, queue=queue, funding_ppm=funding_ppm,
                                         fills=intensity))
        except (OSError, ValueError, KeyError, JournalFormatError) as e:  # not a journal, unknown markets
            typer.echo(f"journal {journal}: cannot replay ({_one_line(e)})", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"replayed {res.events_read} events ({res.book_events} book) in {res.seconds:.2f} s "
               f"({res.events_per_s:,.0f}/s): {len(res.orders)} orders, {res.fills} fills, positions {res.positions}"
               + (f", denied {res.denied}" if res.denied else ""))
    if res.truncated:
        typer.echo("note: the journal ends in a torn frame (the writer died); replayed up to the last whole frame")
    typer.echo(f"output: {out_dir}")


def _fill_model(fills: str, a: float | None, k: float | None, seed: int, size: str | None, queue: str) -> Any:
    """`xtb replay`'s fill options -> a FillIntensity (None: the recorded tape); bad ones exit 2, naming the option."""
    from decimal import Decimal, InvalidOperation

    from xtb.journal.fills import FILL_MODELS, FillIntensity

    def fail(msg: str) -> None:
        typer.echo(msg, err=True)
        raise typer.Exit(2)

    if fills not in FILL_MODELS:
        fail(f"--fills: expected one of {', '.join(FILL_MODELS)} (got {fills!r})")
    if fills == "tape":
        for name, v in (("--fill-a", a), ("--fill-k", k), ("--fill-size", size)):
            if v is not None:
                fail(f"{name}: only with --fills intensity")
        return None
    if queue != "none":
        fail(f"--queue: the queue models apply to tape fills (got {queue!r} with --fills intensity)")
    if a is None or k is None:
        fail(f"{'--fill-a' if a is None else '--fill-k'}: required with --fills intensity")
    try:
        cap = None if size is None else Decimal(size)
    except InvalidOperation:
        fail(f"--fill-size: not a decimal number (got {size!r})")
    try:
        return FillIntensity(a, k, seed, cap)  # type: ignore[arg-type]
    except ValueError as e:
        fail("--" + str(e).replace("_", "-", 1))


@app.command()
def sweep(
    config: Annotated[Path, typer.Argument(help="YAML config (the strategy and its fixed params)")],
    journals: Annotated[list[Path], typer.Argument(help="events.journal files to replay")],
    grid: Annotated[Path, typer.Option(help="YAML: param name -> list of values to try")],
    out: Annotated[Path, typer.Option(help="where sweep.sqlite and sweep.png go")] = Path("sweep"),
    workers: Annotated[int | None, typer.Option(help="process pool size (default: one per CPU)")] = None,
    ray: Annotated[str | None, typer.Option("--ray", help="run on a Ray cluster at ADDRESS ('local': start one)")]
    = None,
    window_ms: Annotated[float, typer.Option(help="book conflation window in ms")] = 1.0,
    latency_ms: Annotated[float, typer.Option(help="order latency in ms (journal time)")] = 0.0,
    fills: Annotated[str, typer.Option(help="what fills resting orders: tape or intensity (as xtb replay)")]
    = "tape",
    fill_a: Annotated[float | None, typer.Option(help="intensity fills: A, per second")] = None,
    fill_k: Annotated[float | None, typer.Option(help="intensity fills: k, per unit of price")] = None,
    fill_seed: Annotated[int, typer.Option(help="intensity fills: seed of the first journal's draws (+1 each "
                                                "next journal)")] = 0,
    fill_size: Annotated[str | None, typer.Option(help="intensity fills: most base units per side and update")]
    = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Replay journals over a grid of strategy params (process pool, or Ray with --ray); rank by PnL."""
    import json

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from xtb.config import ConfigError, load_config
    from xtb.journal.sweep import jobs_for, load_grid, rank, run_sweep, write_results
    from xtb.preflight import check_strategy

    try:
        cfg = load_config(config)
        check_strategy(cfg)
        values = load_grid(grid)
    except (ConfigError, ValueError) as e:
        typer.echo(f"config error: {_one_line(e)}", err=True)
        raise typer.Exit(2) from None
    missing = [str(j) for j in journals if not j.is_file()]
    if missing:
        typer.echo(f"journal {missing[0]}: no such file", err=True)
        raise typer.Exit(2)
    if workers is not None and workers < 1:
        typer.echo(f"--workers: must be >= 1 (got {workers})", err=True)
        raise typer.Exit(2)
    intensity = _fill_model(fills, fill_a, fill_k, fill_seed, fill_size, "none")
    jobs = jobs_for(cfg, values, journals, window_ns=int(window_ms * 1e6), latency_ms=latency_ms, fills=intensity)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("sweep", total=len(jobs))
        try:
            rows = run_sweep(jobs, workers=workers, ray_address=ray,
                             progress=lambda done, total: bar.update(task, completed=done))
        except ValueError as e:
            typer.echo(_one_line(e), err=True)
            raise typer.Exit(2) from None
    ranked = rank(rows)
    paths = write_results(ranked, out)
    table = Table(title=f"sweep: {len(rows)} runs, ranked by PnL")
    for col in ("rank", "run", "params", "pnl", "fills", "orders", "denied", "error"):
        table.add_column(col)
    for r in ranked[:20]:
        table.add_row(str(r.get("rank") or "-"), str(r["run"]), json.dumps(r["params"], default=str),
                      "" if r.get("pnl") is None else f"{r['pnl']:.4f}", str(r.get("fills", "")),
                      str(r.get("orders", "")), str(r.get("denied", "")), r.get("error") or "")
    Console().print(table)
    typer.echo(f"results: {paths['sqlite']}" + (f", chart: {paths['chart']}" if "chart" in paths else ""))
    if all(r.get("error") for r in rows):
        raise typer.Exit(1)


journal_app = typer.Typer(help="Event journals: synthetic market data for replay.", no_args_is_help=True)
app.add_typer(journal_app, name="journal")


@journal_app.command("synth")
def journal_synth(
    out: Annotated[Path, typer.Argument(help="the journal to write (its markets file goes next to it)")],
    s0: Annotated[float, typer.Option(help="starting mid, quote per base unit")] = 100.0,
    sigma: Annotated[float, typer.Option(help="volatility of the mid, price per sqrt(second)")] = 2.0,
    dt_s: Annotated[float, typer.Option(help="seconds between book updates (one step of the walk)")] = 0.005,
    horizon_s: Annotated[float, typer.Option(help="length of the journal in seconds (a whole number of steps)")]
    = 1.0,
    tick: Annotated[str, typer.Option(help="price tick (sets the price decimals)")] = "0.0001",
    walk: Annotated[str, typer.Option(help="binomial (+/- sigma*sqrt(dt), Avellaneda-Stoikov) or gaussian")]
    = "binomial",
    seed: Annotated[int, typer.Option(help="seed of the walk")] = 0,
    venue: Annotated[str, typer.Option(help="venue the book is recorded under")] = "backpack",
    symbol: Annotated[str, typer.Option(help="the market's symbol")] = "SYN_USDC_PERP",
    size_decimals: Annotated[int, typer.Option(help="size decimals of the market")] = 2,
    touch_size: Annotated[str, typer.Option(help="size at the best bid and ask, base units")] = "100",
    spread_ticks: Annotated[int, typer.Option(help="best ask - best bid, in ticks")] = 1,
) -> None:
    """Write a journal of a random-walk mid (top of book every dt) that `xtb replay` reads like a recorded run."""
    from decimal import Decimal, InvalidOperation

    from xtb.journal.synth import MidWalk, SynthError, write_synthetic_journal

    def dec(name: str, text: str) -> Decimal:
        try:
            return Decimal(text)
        except InvalidOperation:
            typer.echo(f"--{name}: not a decimal number (got {text!r})", err=True)
            raise typer.Exit(2) from None

    try:
        mid = MidWalk(s0=s0, sigma=sigma, dt_s=dt_s, horizon_s=horizon_s, tick=dec("tick", tick), walk=walk,  # type: ignore[arg-type]
                      seed=seed)
        res = write_synthetic_journal(out, mid, venue=venue, symbol=symbol, size_decimals=size_decimals,
                                      touch_size=dec("touch-size", touch_size), spread_ticks=spread_ticks)
    except SynthError as e:
        where = f"journal {out}" if e.param == "path" else f"--{e.param.replace('_', '-')}"
        typer.echo(f"{where}: {e.detail}", err=True)
        raise typer.Exit(2) from None
    except (OSError, ValueError) as e:  # an unwritable path, a venue the core does not know
        typer.echo(f"journal {out}: cannot write ({_one_line(e)})", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {res.events} book updates ({mid.steps} steps of {mid.dt_s} s, {mid.walk}, seed {seed}) to "
               f"{res.path}; markets: {res.markets_path}; last mid {res.last_mid:g}")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="a run directory (events.journal and/or records.sqlite)")],
    out: Annotated[Path | None, typer.Option(help="where to write (default: RUN_DIR/report)")] = None,
) -> None:
    """Write a markdown report with PNG charts (price and quotes, inventory, PnL, spread/z, latency)."""
    from xtb.journal.report import write_report

    try:
        written = write_report(run_dir, out)
    except FileNotFoundError as e:
        raise typer.BadParameter(str(e), param_hint="RUN_DIR") from None
    for name, path in written.items():
        typer.echo(f"{name}: {path}")


def _one_line(e: BaseException) -> str:
    """An exception as one operator line (KeyError's repr quotes dropped, newlines folded)."""
    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return " ".join(str(text).split()) or type(e).__name__


def main() -> None:
    app()


if __name__ == "__main__":
    main()
