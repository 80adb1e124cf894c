"""`python -m xtb.chaos`: run chaos scenarios and judge them against the simulator's ledger.

    python -m xtb.chaos one cross_arb_sol disconnect_stop --seed 3     # one scenario, its verdict
    python -m xtb.chaos campaign --seeds 13 --out docs/reliability.md   # every strategy x fault x seed
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(name="xtb-chaos", help=__doc__, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)


@app.command()
def one(
    strategy: Annotated[str, typer.Argument(help="scenario strategy (see `list`)")],
    fault: Annotated[str, typer.Argument(help="fault plan (see `list`)")],
    seed: Annotated[int, typer.Option(help="market and fault seed")] = 1,
    duration: Annotated[float, typer.Option(help="seconds of trading before the stop")] = 5.0,
) -> None:
    """Run one scenario in this process and print its verdict (exit 1 on a violation)."""
    import asyncio
    import logging

    from xtb.chaos.runner import run_one
    from xtb.chaos.scenarios import FAULTS, STRATEGIES, Scenario

    if strategy not in STRATEGIES or fault not in FAULTS:
        typer.echo(f"unknown scenario {strategy}/{fault}; strategies: {', '.join(STRATEGIES)}; "
                   f"faults: {', '.join(FAULTS)}", err=True)
        raise typer.Exit(2)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    res = asyncio.run(run_one(Scenario(strategy, fault, seed, duration)))
    typer.echo(json.dumps(res.__dict__, default=str, indent=1))
    raise typer.Exit(0 if res.ok else 1)


@app.command("list")
def list_() -> None:
    """The strategies and fault plans scenarios are made of."""
    from xtb.chaos.scenarios import FAULTS, STRATEGIES

    typer.echo("strategies: " + ", ".join(STRATEGIES))
    typer.echo("faults: " + ", ".join(FAULTS))


@app.command()
def campaign(
    seeds: Annotated[int, typer.Option(min=1, help="seeds per strategy x fault")] = 13,
    first_seed: Annotated[int, typer.Option(help="the first seed")] = 1,
    strategies: Annotated[str, typer.Option(help="comma-separated subset (default: all)")] = "",
    faults: Annotated[str, typer.Option(help="comma-separated subset (default: all)")] = "",
    duration: Annotated[float, typer.Option(min=1.0, help="seconds of trading per run")] = 5.0,
    jobs: Annotated[int, typer.Option(min=1, help="worker processes")] = 2,
    concurrency: Annotated[int, typer.Option(min=1, help="runs at once per worker")] = 2,
    out: Annotated[Path | None, typer.Option(help="write the figures here (e.g. docs/reliability.md)")] = None,
    results_json: Annotated[Path | None, typer.Option("--json", help="every run's verdict as JSON")] = None,
) -> None:
    """Every strategy x fault x seed; prints each failing run, then the figures. Exit 1 on any violation, or if
    a run did not start (it tested nothing)."""
    from xtb.chaos import report
    from xtb.chaos.runner import run_many
    from xtb.chaos.scenarios import FAULTS, STRATEGIES, catalogue

    chosen_s = [s for s in strategies.split(",") if s] or list(STRATEGIES)
    chosen_f = [f for f in faults.split(",") if f] or list(FAULTS)
    bad = [s for s in chosen_s if s not in STRATEGIES] + [f for f in chosen_f if f not in FAULTS]
    if bad:
        typer.echo(f"unknown strategies/faults: {', '.join(bad)}", err=True)
        raise typer.Exit(2)
    scenarios = catalogue(list(range(first_seed, first_seed + seeds)), chosen_s, chosen_f, duration)
    started = time.monotonic()
    results = []
    for i, res in enumerate(run_many(scenarios, jobs=jobs, concurrency=concurrency), 1):
        results.append(res)
        if res.violations:
            typer.echo(f"[{i}/{len(scenarios)}] {res.name}: " + "; ".join(f"{a}: {b}" for a, b in res.violations))
        elif res.start_failed is not None:
            typer.echo(f"[{i}/{len(scenarios)}] {res.name}: did not start: {res.start_failed}")
        elif i % 20 == 0:
            typer.echo(f"[{i}/{len(scenarios)}] {time.monotonic() - started:.0f} s")
    wall = time.monotonic() - started
    failing = [r for r in results if r.violations]
    idle = [r for r in results if r.start_failed is not None]
    typer.echo(f"{len(results)} runs, {len(failing)} with violations, {len(idle)} did not start, {wall / 60:.1f} min")
    if out is not None:
        report.write(out, results, seeds=seeds, wall_s=wall, jobs=jobs, concurrency=concurrency)
        typer.echo(f"figures written to {out}")
    if results_json is not None:
        results_json.write_text(json.dumps([r.__dict__ for r in results], default=str, indent=1))
    raise typer.Exit(1 if failing or idle else 0)


@app.command("report")
def report_(
    results_json: Annotated[list[Path], typer.Option("--json", help="verdicts of `campaign --json`; repeat: a "
                                                     "later file's run replaces an earlier one of the same name")],
    out: Annotated[Path, typer.Option(help="the page to write (e.g. docs/reliability.md)")],
    seeds: Annotated[int, typer.Option(min=1, help="seeds per strategy x fault of the campaign")] = 13,
    wall_min: Annotated[float, typer.Option(help="the campaign's wall time, minutes")] = 0.0,
    jobs: Annotated[int, typer.Option(min=1)] = 2,
    concurrency: Annotated[int, typer.Option(min=1)] = 5,
    note: Annotated[str, typer.Option(help="why the re-runs were made (printed with them)")] = "",
) -> None:
    """The figures page from saved verdicts: a campaign's, with the runs re-run after a fix replacing theirs
    (the page lists which). Exit 1 if a run in the result has a violation or did not start."""
    from xtb.chaos import report
    from xtb.chaos.runner import Result

    merged: dict[str, Result] = {}
    replaced: list[str] = []
    for i, path in enumerate(results_json):
        for row in json.loads(path.read_text(encoding="utf-8")):
            res = Result(**row)
            if i and res.name in merged:
                replaced.append(res.name)
            merged[res.name] = res
    results = list(merged.values())
    report.write(out, results, seeds=seeds, wall_s=wall_min * 60, jobs=jobs, concurrency=concurrency,
                 replaced=replaced, note=note)
    failing = [r for r in results if r.violations]
    idle = [r for r in results if r.start_failed is not None]
    typer.echo(f"{len(results)} runs ({len(replaced)} re-run), {len(failing)} with violations, {len(idle)} did not "
               f"start; written to {out}")
    raise typer.Exit(1 if failing or idle else 0)


if __name__ == "__main__":
    app()
