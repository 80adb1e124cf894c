"""Parameter sweeps: journal replays over a grid of strategy params, on a process pool or a Ray cluster.

    xtb sweep CONFIG --grid GRID.yaml JOURNAL... [--workers N | --ray ADDRESS] [--out DIR]

GRID.yaml maps strategy params to the values to try (`gamma: [0.05, 0.1, 0.2]`; a single value is fixed);
every combination is replayed over every journal (`xtb.journal.replay`, the live composition root on the
journal's clock). Runs go to a local process pool by default, or to a Ray cluster with `--ray ADDRESS`
(`--ray local` starts one in-process); both run the same job function, so they give the same results.
Output in DIR: `sweep.sqlite` (table `runs`: one row per run with its params, PnL, fills, orders, denials,
events and the rank by PnL), `sweep.png` (PnL per run) and the ranking printed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import yaml

from xtb.config import XtbConfig

Row = dict[str, Any]


def load_grid(path: str | Path) -> dict[str, list[Any]]:
    """The grid file: a mapping of param name -> list of values (a scalar is one value). One-line errors."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(f"grid {path}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ValueError(f"grid {path}: not YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"grid {path}: expected a mapping of param name -> list of values")
    grid: dict[str, list[Any]] = {}
    for key, values in raw.items():
        vals = list(values) if isinstance(values, list) else [values]
        if not vals:
            raise ValueError(f"grid {path}: {key}: an empty list (give at least one value)")
        grid[str(key)] = vals
    return grid


def expand(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination, in a stable order (keys sorted, values as given)."""
    keys = sorted(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def jobs_for(config: XtbConfig, grid: Mapping[str, Sequence[Any]], journals: Sequence[str | Path], *,
             window_ns: int = 1_000_000, latency_ms: float = 0.0, queue: str = "none",
             fills: Any = None) -> list[dict[str, Any]]:
    """`fills`: a FillIntensity for every run; journal i draws with seed `fills.seed + i` (independent paths),
    every param combination on one journal with the same draws (common random numbers)."""
    base = config.model_dump(mode="json")
    jobs: list[dict[str, Any]] = []
    for params in expand(grid):
        for i, journal in enumerate(journals):
            model = None if fills is None else {"a": fills.a, "k": fills.k, "seed": fills.seed + i,
                                                "size": None if fills.size is None else str(fills.size)}
            jobs.append({"run": len(jobs), "journal": str(journal), "params": params, "config": base,
                         "window_ns": window_ns, "latency_ms": latency_ms, "queue": queue, "fills": model})
    return jobs


def run_job(job: Mapping[str, Any]) -> Row:
    """One replay (top level and plain data in, plain data out: it runs in a pool worker or a Ray task)."""
    from decimal import Decimal

    from xtb.journal.fills import FillIntensity
    from xtb.journal.replay import replay

    row: Row = {"run": job["run"], "journal": job["journal"], "params": dict(job["params"]), "error": None}
    try:
        raw = dict(job["config"])
        raw["strategy"] = {**raw["strategy"], "params": {**raw["strategy"].get("params", {}), **job["params"]}}
        cfg = XtbConfig.model_validate(raw)
        f = job.get("fills")
        fills = None if f is None else FillIntensity(f["a"], f["k"], f["seed"],
                                                     None if f["size"] is None else Decimal(f["size"]))
        res = asyncio.run(replay(job["journal"], cfg, window_ns=job["window_ns"], latency_ms=job["latency_ms"],
                                 queue=job.get("queue", "none"), fills=fills))
    except Exception as e:  # a bad combination or journal is this run's failure, not the sweep's
        row["error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
        return row
    row.update(pnl=round(res.pnl, 10), fills=res.fills, orders=len(res.orders), denied=sum(res.denied.values()),
               events=res.events_read, positions=res.positions)
    return row


def run_sweep(jobs: Sequence[Mapping[str, Any]], *, workers: int | None = None, ray_address: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> list[Row]:
    """Run every job on a process pool (default) or on Ray; rows in job order."""
    rows: list[Row] = []
    if ray_address is not None:
        rows = _run_on_ray(jobs, ray_address, progress)
    else:
        import multiprocessing

        # spawn: a worker starts clean (no inherited event loop, threads or sockets of the caller)
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(run_job, dict(j)) for j in jobs]
            for fut in as_completed(futures):
                rows.append(fut.result())
                if progress is not None:
                    progress(len(rows), len(jobs))
    return sorted(rows, key=lambda r: int(r["run"]))


def _run_on_ray(jobs: Sequence[Mapping[str, Any]], address: str,
                progress: Callable[[int, int], None] | None) -> list[Row]:
    try:
        import ray
    except ImportError:
        raise ValueError("--ray: Ray is not installed (pip install 'ray[default]')") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(run_job)
        pending = [remote.remote(dict(j)) for j in jobs]
        rows: list[Row] = []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            rows.extend(ray.get(done))
            if progress is not None:
                progress(len(rows), len(jobs))
        return rows
    finally:
        if started:
            ray.shutdown()


def rank(rows: Iterable[Row], by: str = "pnl") -> list[Row]:
    """Rows that ran, best first (errors last); each gets its `rank`."""
    ok = sorted((r for r in rows if r.get("error") is None), key=lambda r: (-float(r.get(by) or 0.0), r["run"]))
    failed = [r for r in rows if r.get("error") is not None]
    for i, r in enumerate(ok, 1):
        r["rank"] = i
    for r in failed:
        r["rank"] = None
    return ok + failed


def write_results(rows: Sequence[Row], out_dir: str | Path) -> dict[str, Path]:
    """`sweep.sqlite` (table `runs`, one column per param as `p_<name>`) and `sweep.png` (PnL per run)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "sweep.sqlite"
    db.unlink(missing_ok=True)
    names = sorted({k for r in rows for k in r["params"]})
    con = sqlite3.connect(db)
    try:
        cols = ", ".join(f'"p_{n}"' for n in names)
        con.execute(f"CREATE TABLE runs (run INTEGER PRIMARY KEY, rank INTEGER, journal TEXT, params TEXT, "
                    f"{cols + ', ' if cols else ''}pnl REAL, fills INTEGER, orders INTEGER, denied INTEGER, "
                    f"events INTEGER, positions TEXT, error TEXT)")
        for r in rows:
            values = [r["run"], r.get("rank"), r["journal"], json.dumps(r["params"], sort_keys=True, default=str),
                      *(_sql(r["params"].get(n)) for n in names), r.get("pnl"), r.get("fills"), r.get("orders"),
                      r.get("denied"), r.get("events"), json.dumps(r.get("positions") or {}), r.get("error")]
            con.execute(f"INSERT INTO runs VALUES ({', '.join('?' * len(values))})", values)
        con.commit()
    finally:
        con.close()
    paths = {"sqlite": db}
    chart = _chart(rows, out / "sweep.png")
    if chart is not None:
        paths["chart"] = chart
    return paths


def _sql(value: Any) -> Any:
    return value if isinstance(value, (int, float, str)) or value is None else json.dumps(value, default=str)


def _chart(rows: Sequence[Row], path: Path) -> Path | None:
    ok = [r for r in sorted(rows, key=lambda r: r["run"]) if r.get("error") is None]
    if not ok:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(ok)), 4.0))
    ax.bar([str(r["run"]) for r in ok], [float(r["pnl"]) for r in ok])
    ax.set_xlabel("run (sweep.sqlite: runs.run)")
    ax.set_ylabel("PnL (quote)")
    ax.set_title("sweep: PnL per run")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
