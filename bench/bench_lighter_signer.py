"""Lighter signing cost: the SDK's SignerClient (baseline_*) against xtb's LighterSigner (xtb_*).

xtb signs natively in the core (``backend="native"``, the default: Poseidon2 + Schnorr over ECgFp5 in
Rust); the SDK calls the Go library shipped in its wheel. Same generated key, explicit nonces; nothing
touches the network. Groups:

- ``lighter_sign_interleaved``: one CreateOrder, native vs the Go library on a worker thread (what a
  careful asyncio bot does with the SDK), and a batch of ten, run in alternating blocks inside one test
  so the machine's drifting speed moves both alike; the xtb case's extra_info has
  ``interleaved_{baseline,xtb}_p50_us``/``interleaved_ratio`` and the same ``batch10_*`` figures.

- ``lighter_sign_order``: one CreateOrder as each is normally used: the SDK signs on the calling (main)
  thread, xtb hops to its signer thread (``create_order_sync``).
- ``lighter_sign_order_offthread``: the SDK's ctypes call pushed to a plain worker thread by hand vs xtb's
  sync API: the price of xtb's header-driven binding and checks over a bare ctypes call.
- ``lighter_sign_batch10``: ten orders for one sendTxBatch.
- ``lighter_create_order_async_x20``: 20 awaited signatures in a row from a coroutine: the SDK on a
  one-thread executor (``run_in_executor``) vs xtb's ``create_order`` (signed inline in the core).
- ``lighter_loop_stall_100``: 100 orders signed one after another from a coroutine while a ticker
  (``await asyncio.sleep(0)`` in a loop) measures the longest loop iteration. The baseline signs on the
  loop thread (what the SDK's async API does); xtb awaits ``create_order``, which signs natively in
  the core (tens of microseconds, ``xtb_sign_100_async``); each order is then handed on with one
  ``await asyncio.sleep(0)`` in both legs (the send). The Go paths (``backend="go"``: the Rust thread
  with an fd wake-up, and the Python signer thread) run too for comparison. After the xtb rounds the same ticker
  runs on an idle loop for as many rounds of the same length: the machine's noise floor
  (``extra_info["idle_loop_stall_floor_ms"]``). Worst/p99 are printed per round (``-s``).
  The worst stall is stored in ``extra_info["max_loop_stall_ms"]`` (``--benchmark-json``) and printed;
  only the off-loop behaviour is asserted, because timings on a shared machine can flake.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from gate import Ratio, busy_wait_us

from xtb.signing import LighterSigner, OrderRequest, generate_api_key

ACCOUNT = 54321
API_KEY = 4
CHAIN_ID = 304
EXPIRY_MS = 1_900_000_000_000
ORDER = OrderRequest.limit(0, 77, 1000, 300_000, False, expiry_ms=EXPIRY_MS)
SDK_ARGS = (0, 77, 1000, 300_000, False, 0, 1, False, 0, EXPIRY_MS)


@pytest.fixture(scope="module")
def key() -> tuple[str, str]:
    return generate_api_key()


@pytest.fixture(scope="module")
def signer(key: tuple[str, str]) -> Iterator[LighterSigner]:
    with LighterSigner(key[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT) as s:
        yield s


@pytest.fixture(scope="module")
def go_signer(key: tuple[str, str]) -> Iterator[LighterSigner]:
    with LighterSigner(key[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT,
                       backend="go") as s:
        yield s


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def sdk(key: tuple[str, str], loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    from lighter.signer_client import SignerClient

    async def build() -> Any:  # its aiohttp connector wants a running loop; nothing is sent
        return SignerClient("http://127.0.0.1:9", ACCOUNT, {API_KEY: key[0]}, chain_id=CHAIN_ID)

    client = loop.run_until_complete(build())
    yield client
    loop.run_until_complete(client.close())


def _sdk_sign(sdk: Any, nonce: int) -> str:
    tx_type, tx_info, _, err = sdk.sign_create_order(*SDK_ARGS, nonce=nonce, api_key_index=API_KEY)
    assert err is None and tx_type == 14
    return str(tx_info)


class _Nonces:
    def __init__(self) -> None:
        self.value = 0

    def __call__(self) -> int:
        self.value += 1
        return self.value


@pytest.mark.benchmark(group="lighter_sign_order")
def test_baseline_sdk_sign_order_calling_thread(benchmark: Any, sdk: Any) -> None:
    nonce = _Nonces()
    assert benchmark(lambda: _sdk_sign(sdk, nonce())).startswith("{")


@pytest.mark.benchmark(group="lighter_sign_order")
def test_xtb_sign_order_sync(benchmark: Any, signer: LighterSigner) -> None:
    nonce = _Nonces()
    assert benchmark(lambda: signer.create_order_sync(ORDER, nonce=nonce())).tx_type == 14


@pytest.mark.benchmark(group="lighter_sign_order_offthread")
def test_baseline_sdk_sign_order_on_worker_thread(benchmark: Any, sdk: Any) -> None:
    nonce = _Nonces()
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert benchmark(lambda: pool.submit(_sdk_sign, sdk, nonce()).result()).startswith("{")


@pytest.mark.benchmark(group="lighter_sign_order_offthread")
def test_xtb_sign_order_sync_offthread(benchmark: Any, signer: LighterSigner) -> None:
    nonce = _Nonces()
    assert benchmark(lambda: signer.create_order_sync(ORDER, nonce=nonce())).tx_type == 14


@pytest.mark.benchmark(group="lighter_sign_batch10")
def test_baseline_sdk_sign_batch10(benchmark: Any, sdk: Any) -> None:
    nonce = _Nonces()

    def sign10() -> list[str]:
        first = nonce() * 10
        return [_sdk_sign(sdk, n) for n in range(first, first + 10)]

    out = benchmark(sign10)
    assert len(out) == 10


@pytest.mark.benchmark(group="lighter_sign_batch10")
def test_xtb_sign_batch10(benchmark: Any, signer: LighterSigner) -> None:
    nonce = _Nonces()
    out = benchmark(lambda: signer.sign_batch_sync([ORDER] * 10, first_nonce=nonce() * 10))
    assert len(out) == 10


# --- interleaved: native vs the Go library on a worker thread ---------------------------------------------

INTERLEAVED_BLOCKS, INTERLEAVED_BLOCK = 10, 100


def _pct_us(samples: list[float], q: float) -> float:
    samples = sorted(samples)
    return round(samples[min(len(samples) - 1, int(len(samples) * q))] * 1e6, 2)


def _interleaved(benchmark: Any, gate: Any, group: str, legs: dict[str, Any], prefix: str, per_call: int) -> None:
    """Run each leg's callable in alternating blocks (the first 10 calls of a block not counted), store both
    p50s (per order: a call signs ``per_call`` orders) and their ratio in extra_info, and gate the ratio."""
    times: dict[str, list[float]] = {name: [] for name in legs}
    clock = time.perf_counter
    for _ in range(INTERLEAVED_BLOCKS):
        for name, fn in legs.items():
            for i in range(INTERLEAVED_BLOCK):
                t0 = clock()
                fn()
                if name == "xtb" and gate.inject_delay_us:
                    busy_wait_us(gate.inject_delay_us)
                dt = clock() - t0
                if i >= 10:
                    times[name].append(dt / per_call)
    base, ours = _pct_us(times["baseline"], 0.5), _pct_us(times["xtb"], 0.5)
    benchmark.extra_info.update({f"{prefix}baseline_p50_us": base, f"{prefix}xtb_p50_us": ours,
                                 f"{prefix}ratio": round(base / ours, 2)})
    print(f"\n{prefix}: Go on a worker thread {base} us/order, native {ours} us/order, ratio {base / ours:.1f}")
    gate.judge(benchmark, group, Ratio(base, ours, _pct_us(times["baseline"], 0.99), _pct_us(times["xtb"], 0.99),
                                       len(times["xtb"])))


@pytest.mark.benchmark(group="lighter_sign_interleaved")
def test_baseline_sign_order_go_worker_thread(benchmark: Any, sdk: Any) -> None:
    nonce = _Nonces()
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert benchmark(lambda: pool.submit(_sdk_sign, sdk, nonce()).result()).startswith("{")


@pytest.mark.benchmark(group="lighter_sign_interleaved")
def test_xtb_sign_order_native_interleaved(benchmark: Any, signer: LighterSigner, sdk: Any,
                                           ratio_gate: Any) -> None:
    assert signer.backend == "native"
    nonce = _Nonces()
    assert benchmark(lambda: signer.create_order_sync(ORDER, nonce=nonce())).tx_type == 14
    if getattr(benchmark, "disabled", False) or not ratio_gate.enabled:
        return  # smoke runs (--benchmark-disable): the timed case above already ran the path once
    with ThreadPoolExecutor(max_workers=1) as pool:
        _interleaved(benchmark, ratio_gate, "lighter_sign_interleaved", {
            "baseline": lambda: pool.submit(_sdk_sign, sdk, nonce()).result(),
            "xtb": lambda: signer.create_order_sync(ORDER, nonce=nonce()),
        }, "interleaved_", 1)

        def go10() -> list[str]:
            first = nonce() * 10
            return [_sdk_sign(sdk, n) for n in range(first, first + 10)]

        _interleaved(benchmark, ratio_gate, "lighter_sign_batch10_interleaved", {
            "baseline": lambda: pool.submit(go10).result(),
            "xtb": lambda: signer.sign_batch_sync([ORDER] * 10, first_nonce=nonce() * 10),
        }, "batch10_interleaved_", 10)


# --- async round trip ------------------------------------------------------------------------------------

ASYNC_BATCH = 20


@pytest.mark.benchmark(group="lighter_create_order_async_x20")
def test_baseline_sdk_sign_20_awaited_on_executor(benchmark: Any, sdk: Any,
                                                  loop: asyncio.AbstractEventLoop) -> None:
    """What an SDK user does to keep the loop free: ``run_in_executor`` on a one-thread pool."""
    nonce = _Nonces()
    with ThreadPoolExecutor(max_workers=1) as pool:
        async def sign20() -> None:
            for _ in range(ASYNC_BATCH):
                await loop.run_in_executor(pool, _sdk_sign, sdk, nonce())

        benchmark(lambda: loop.run_until_complete(sign20()))


@pytest.mark.benchmark(group="lighter_create_order_async_x20")
def test_xtb_create_order_20_awaited(benchmark: Any, signer: LighterSigner,
                                     loop: asyncio.AbstractEventLoop) -> None:
    """``await create_order`` 20 times in a row, signed natively in the core."""
    assert signer.backend == "native"
    nonce = _Nonces()

    async def sign20() -> None:
        for _ in range(ASYNC_BATCH):
            n = nonce()
            assert (await signer.create_order(ORDER, nonce=n)).nonce == n

    benchmark(lambda: loop.run_until_complete(sign20()))


# --- loop stall -----------------------------------------------------------------------------------------

STALL_ROUNDS = 5


Round = tuple[float, float, float, int]
"""worst tick gap (ms), p99 tick gap (ms), round duration (s), number of gaps over 1 ms"""


async def _with_ticker(work: Any) -> Round:
    """Run ``work()`` while a ticker yields to the loop; return the round's figures (see ``Round``)."""
    done = False
    gaps: list[float] = []

    async def ticker() -> None:
        while not done:
            before = time.perf_counter()
            await asyncio.sleep(0)
            gaps.append(time.perf_counter() - before)

    started = time.perf_counter()
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        await work()
    finally:
        done = True
        await tick
    gaps.sort()
    over_1ms = sum(1 for g in gaps if g > 1e-3)
    return gaps[-1] * 1e3, gaps[len(gaps) * 99 // 100] * 1e3, time.perf_counter() - started, over_1ms


def _report(label: str, rounds: list[Round]) -> tuple[float, float]:
    worst = max(r[0] for r in rounds)
    p99 = max(r[1] for r in rounds)
    per_round = ", ".join(f"{w:.3f}/{p:.3f}/{n}" for w, p, _, n in rounds)
    print(f"\n{label}: {len(rounds)} rounds of {rounds[0][2] * 1e3:.0f} ms; worst ms/p99 ms/gaps>1ms per "
          f"round: {per_round}; overall worst {worst:.3f} ms, p99 {p99:.3f} ms")
    return worst, p99


def _stall_bench(benchmark: Any, loop: asyncio.AbstractEventLoop, work: Any, label: str,
                 *, idle_floor: bool = False) -> None:
    rounds: list[Round] = []
    # As the engine does once it has started: collect, then freeze the startup heap so that a full
    # collection never walks it again (a gen-2 pass over the imported SDKs costs several ms).
    gc.collect()
    gc.freeze()
    try:
        benchmark.pedantic(lambda: rounds.append(loop.run_until_complete(_with_ticker(work))),
                           rounds=STALL_ROUNDS, iterations=1, warmup_rounds=1)
        rounds = rounds[-STALL_ROUNDS:]  # without the warm-up round
        worst, p99 = _report(label, rounds)
        benchmark.extra_info["max_loop_stall_ms"] = round(worst, 3)
        benchmark.extra_info["p99_loop_stall_ms"] = round(p99, 3)
        if idle_floor:
            # The same ticker on an idle loop, same number of rounds of the same length: this machine's
            # noise floor, to read the stall figure against.
            length = sorted(r[2] for r in rounds)[len(rounds) // 2]

            async def idle() -> None:
                await asyncio.sleep(length)

            idle_rounds = [loop.run_until_complete(_with_ticker(idle)) for _ in range(STALL_ROUNDS)]
            floor, floor_p99 = _report("idle loop (noise floor)", idle_rounds)
            benchmark.extra_info["idle_loop_stall_floor_ms"] = round(floor, 3)
            benchmark.extra_info["idle_loop_p99_floor_ms"] = round(floor_p99, 3)
    finally:
        gc.unfreeze()


@pytest.mark.benchmark(group="lighter_loop_stall_100")
def test_baseline_sdk_sign_100_on_loop(benchmark: Any, sdk: Any, loop: asyncio.AbstractEventLoop) -> None:
    async def work() -> None:
        for n in range(100):  # the SDK's async create_order signs inline on the loop thread
            _sdk_sign(sdk, n)
            await asyncio.sleep(0)

    _stall_bench(benchmark, loop, work, "baseline SDK")


@pytest.mark.benchmark(group="lighter_loop_stall_100")
def test_xtb_sign_100_async(benchmark: Any, signer: LighterSigner, loop: asyncio.AbstractEventLoop) -> None:
    """``await create_order`` as the engine calls it: signed natively in the core (tens of microseconds on
    the loop's thread), then handed on with one loop iteration, as the baseline does."""
    assert signer.backend == "native"

    async def work() -> None:
        for n in range(100):  # one order after another, as a strategy emits them
            assert (await signer.create_order(ORDER, nonce=n)).nonce == n
            await asyncio.sleep(0)

    _stall_bench(benchmark, loop, work, "xtb async (native signer)", idle_floor=True)


@pytest.mark.benchmark(group="lighter_loop_stall_100")
def test_xtb_sign_100_async_go_native_thread(benchmark: Any, go_signer: LighterSigner,
                                             loop: asyncio.AbstractEventLoop,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The Go fallback (``backend="go"``): the Go library on the core's GIL-free thread."""
    signer = go_signer
    assert signer.native_path, "the native path is off (see the warning logged at signer creation)"

    def thread_path(**kwargs: Any) -> Any:
        raise AssertionError("create_order took the Python-thread path")

    monkeypatch.setattr(signer, "_sign_create_order", thread_path)

    async def work() -> None:
        for n in range(100):  # one order after another, as a strategy emits them
            assert (await signer.create_order(ORDER, nonce=n)).nonce == n

    _stall_bench(benchmark, loop, work, "xtb async (Go library, native thread)")


@pytest.mark.benchmark(group="lighter_loop_stall_100")
def test_xtb_sign_100_async_python_thread(benchmark: Any, key: tuple[str, str],
                                          loop: asyncio.AbstractEventLoop) -> None:
    """The Go library on a Python signer thread (``backend="go", native=False``), for comparison."""
    with LighterSigner(key[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT,
                       backend="go", native=False) as signer:
        native = signer._sign_create_order
        threads: set[int] = set()

        def spy(**kwargs: Any) -> Any:
            threads.add(threading.get_ident())
            return native(**kwargs)

        signer._sign_create_order = spy  # type: ignore[assignment]

        async def work() -> None:
            for n in range(100):
                assert (await signer.create_order(ORDER, nonce=n)).nonce == n
            assert threads == {signer.thread_ident}

        _stall_bench(benchmark, loop, work, "xtb async (Python thread, native=False)")
