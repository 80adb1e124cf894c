"""NonceManager against an in-process fake venue that enforces Lighter's nonce rules.

The fake venue decides each tx in the order ``dispatch`` is called (as if that were the wire order):
nonce != expected -> ``invalid nonce`` (not consumed); scripted reject -> API reject (not consumed);
otherwise accepted (consumed). Replies come back after a random number of loop iterations.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb.signing import NonceFetchError, NonceInvalidated, NonceManager, TxRejected


@dataclass
class FakeVenue:
    expected: int = 1000
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    reject_tags: set[Any] = field(default_factory=set)  # rejected once each (API reject)
    max_reply_delay: int = 5
    wire: list[int] = field(default_factory=list)  # nonces in dispatch order
    accepted: list[tuple[int, Any]] = field(default_factory=list)
    invalid_nonce_replies: int = 0
    stale_dispatches: int = 0
    fetches: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    async def fetch(self, account_index: int, api_key_index: int) -> int:
        assert (account_index, api_key_index) == (7, 3)
        self.fetches += 1
        await asyncio.sleep(0)
        return self.expected

    def dispatch(self, signed: tuple[int, Any]) -> asyncio.Future[int]:
        nonce, tag = signed
        self.wire.append(nonce)
        outcome: int | TxRejected
        if nonce != self.expected:
            self.stale_dispatches += nonce < self.expected
            self.invalid_nonce_replies += 1
            outcome = TxRejected("invalid nonce", code=400, nonce_error=True)
        elif tag in self.reject_tags:
            self.reject_tags.discard(tag)
            outcome = TxRejected("not enough margin to create the order", code=21739)
        else:
            self.expected += 1
            self.accepted.append((nonce, tag))
            outcome = nonce
        reply: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        asyncio.get_running_loop().create_task(self._deliver(reply, outcome))
        return reply

    async def _deliver(self, reply: asyncio.Future[int], outcome: int | TxRejected) -> None:
        for _ in range(self.rng.randrange(self.max_reply_delay + 1)):
            await asyncio.sleep(0)
        self.in_flight -= 1
        if isinstance(outcome, TxRejected):
            reply.set_exception(outcome)
        else:
            reply.set_result(outcome)


def _signer(rng: random.Random, tag: Any, max_delay: int = 3) -> Any:
    async def sign(nonce: int) -> tuple[int, Any]:
        for _ in range(rng.randrange(max_delay + 1)):
            await asyncio.sleep(0)
        return (nonce, tag)

    return sign


async def test_many_concurrent_submitters_reach_the_venue_in_nonce_order() -> None:
    venue = FakeVenue()
    mgr = NonceManager(7, 3, venue.fetch)
    rng = random.Random(1)
    results = await asyncio.gather(*(mgr.submit(_signer(rng, i, 6), venue.dispatch) for i in range(300)))
    assert venue.wire == list(range(1000, 1300))
    assert venue.invalid_nonce_replies == 0
    assert venue.fetches == 1 and mgr.resyncs == 1
    assert sorted(r.nonce for r in results) == list(range(1000, 1300))
    assert mgr.next_nonce == venue.expected == 1300
    assert venue.max_in_flight > 1  # pipelined: the turn passes at dispatch, not at the reply


async def test_pass_turn_on_reply_keeps_one_tx_in_flight() -> None:
    venue = FakeVenue()
    mgr = NonceManager(7, 3, venue.fetch, pass_turn_on="reply")
    rng = random.Random(2)
    await asyncio.gather(*(mgr.submit(_signer(rng, i), venue.dispatch) for i in range(50)))
    assert venue.wire == list(range(1000, 1050))
    assert venue.max_in_flight == 1


async def test_reject_of_the_highest_nonce_rolls_back_and_reuses_it() -> None:
    venue = FakeVenue(reject_tags={"a"})
    mgr = NonceManager(7, 3, venue.fetch)
    with pytest.raises(TxRejected):
        await mgr.submit(_signer(random.Random(), "a"), venue.dispatch)
    assert mgr.next_nonce == 1000  # not consumed, handed out again
    ok = await mgr.submit(_signer(random.Random(), "b"), venue.dispatch)
    assert ok.nonce == 1000 and venue.accepted == [(1000, "b")]
    assert venue.fetches == 1


async def test_sign_failure_rolls_back() -> None:
    venue = FakeVenue()
    mgr = NonceManager(7, 3, venue.fetch)

    async def broken(nonce: int) -> tuple[int, Any]:
        raise RuntimeError("library said no")

    with pytest.raises(RuntimeError):
        await mgr.submit(broken, venue.dispatch)
    assert mgr.next_nonce == 1000 and venue.wire == []
    assert (await mgr.submit(_signer(random.Random(), "x"), venue.dispatch)).nonce == 1000


async def test_reject_with_later_nonces_handed_out_resyncs_instead_of_reusing_the_hole() -> None:
    venue = FakeVenue(reject_tags={0}, max_reply_delay=0)
    mgr = NonceManager(7, 3, venue.fetch)
    gate = asyncio.Event()
    first_go = asyncio.Event()

    def slow_signer(tag: int) -> Any:
        async def sign(nonce: int) -> tuple[int, Any]:
            await (gate.wait() if tag > 0 else first_go.wait())  # later txs still signing at the reject
            return (nonce, tag)
        return sign

    tasks = [asyncio.create_task(mgr.submit(slow_signer(i), venue.dispatch)) for i in range(4)]
    while mgr.next_nonce != 1004:
        await asyncio.sleep(0)
    first_go.set()
    with pytest.raises(TxRejected):
        await tasks[0]
    gate.set()
    outcomes = await asyncio.gather(*tasks[1:], return_exceptions=True)
    assert all(isinstance(o, NonceInvalidated) for o in outcomes)
    assert venue.wire == [1000]  # the doomed txs never left the process
    assert mgr.next_nonce is None and mgr.epoch == 1
    assert (await mgr.submit(_signer(random.Random(), "retry"), venue.dispatch)).nonce == 1000
    assert venue.fetches == 2


async def test_nonce_error_resyncs_from_the_venue() -> None:
    venue = FakeVenue()
    mgr = NonceManager(7, 3, venue.fetch)
    await mgr.submit(_signer(random.Random(), "a"), venue.dispatch)
    venue.expected = 5000  # e.g. another process used the key
    with pytest.raises(TxRejected) as info:
        await mgr.submit(_signer(random.Random(), "b"), venue.dispatch)
    assert info.value.nonce_error
    assert mgr.next_nonce is None
    assert (await mgr.submit(_signer(random.Random(), "c"), venue.dispatch)).nonce == 5000
    assert venue.fetches == 2 and mgr.resyncs == 2


async def test_unknown_outcome_resyncs() -> None:
    venue = FakeVenue()
    mgr = NonceManager(7, 3, venue.fetch)

    def lost(signed: tuple[int, Any]) -> asyncio.Future[int]:
        reply = venue.dispatch(signed)
        failed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        failed.set_exception(TimeoutError("no reply"))
        reply.add_done_callback(lambda f: f.exception())
        return failed

    with pytest.raises(TimeoutError):
        await mgr.submit(_signer(random.Random(), "a"), lost)
    assert mgr.next_nonce is None  # the tx may have consumed 1000: ask the venue
    assert (await mgr.submit(_signer(random.Random(), "b"), venue.dispatch)).nonce == 1001


async def test_invalidate_fails_undispatched_waiters_and_rereads() -> None:
    venue = FakeVenue()
    mgr = NonceManager(7, 3, venue.fetch)
    gate = asyncio.Event()

    def gated(tag: int) -> Any:
        async def sign(nonce: int) -> tuple[int, Any]:
            if tag == 0:
                await gate.wait()
            return (nonce, tag)
        return sign

    tasks = [asyncio.create_task(mgr.submit(gated(i), venue.dispatch)) for i in range(3)]
    for _ in range(10):
        await asyncio.sleep(0)
    mgr.invalidate()  # e.g. reconnect
    gate.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, NonceInvalidated) for o in outcomes)
    assert venue.wire == []
    assert (await mgr.submit(_signer(random.Random(), "z"), venue.dispatch)).nonce == 1000
    assert venue.fetches == 2


async def test_batch_takes_consecutive_nonces() -> None:
    venue = FakeVenue()
    mgr = NonceManager(7, 3, venue.fetch)
    sent: list[list[int]] = []

    async def sign_batch(first: int) -> list[int]:
        return [first, first + 1, first + 2]

    def dispatch(batch: list[int]) -> asyncio.Future[int]:
        sent.append(batch)
        venue.expected += len(batch)
        reply: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        reply.set_result(200)
        return reply

    a = await mgr.submit_batch(3, sign_batch, dispatch)
    b = await mgr.submit(_signer(random.Random(), "after"), venue.dispatch)
    assert sent == [[1000, 1001, 1002]] and a.nonce == 1000 and b.nonce == 1003


async def test_bad_fetch_value_is_reported() -> None:
    async def fetch(a: int, k: int) -> int:
        return -3

    mgr = NonceManager(7, 3, fetch)
    with pytest.raises(NonceFetchError, match="-3"):
        await mgr.submit(_signer(random.Random(), "a"), FakeVenue().dispatch)
    assert mgr.next_nonce is None


def test_bad_pass_turn_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="pass_turn_on"):
        NonceManager(7, 3, FakeVenue().fetch, pass_turn_on="never")  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    submitters=st.integers(1, 40),
    reject_tags=st.sets(st.integers(0, 39), max_size=10),
    sign_fail_tags=st.sets(st.integers(0, 39), max_size=5),
    reconnect_at=st.lists(st.integers(0, 200), max_size=3),
    pass_turn_on=st.sampled_from(["dispatch", "reply"]),
)
def test_property_every_order_accepted_once_in_nonce_order(
    seed: int, submitters: int, reject_tags: set[int], sign_fail_tags: set[int], reconnect_at: list[int],
    pass_turn_on: str,
) -> None:
    failures_planned = bool(sign_fail_tags & set(range(submitters)))
    sign_fail_tags = set(sign_fail_tags)

    def flaky_signer(rng: random.Random, tag: int) -> Any:
        inner = _signer(rng, tag)

        async def sign(nonce: int) -> tuple[int, Any]:
            signed = await inner(nonce)
            if tag in sign_fail_tags:
                sign_fail_tags.discard(tag)
                raise RuntimeError("library refused to sign")
            return signed

        return sign

    async def scenario() -> None:
        rng = random.Random(seed)
        venue = FakeVenue(expected=rng.randrange(10_000), rng=random.Random(seed + 1),
                          reject_tags=set(reject_tags))
        start = venue.expected
        mgr = NonceManager(7, 3, venue.fetch, pass_turn_on=pass_turn_on)  # type: ignore[arg-type]
        epochs_on_wire: list[tuple[int, int]] = []
        real_dispatch = venue.dispatch

        def dispatch(signed: tuple[int, Any]) -> asyncio.Future[int]:
            epochs_on_wire.append((mgr.epoch, signed[0]))
            return real_dispatch(signed)

        async def reconnects() -> None:
            for step in sorted(reconnect_at):
                while len(venue.wire) < step and len(venue.accepted) < submitters:
                    await asyncio.sleep(0)
                mgr.invalidate()

        async def submit(tag: int) -> int:
            for _ in range(500):
                try:
                    return (await mgr.submit(flaky_signer(rng, tag), dispatch)).nonce
                except (TxRejected, NonceInvalidated, RuntimeError):
                    await asyncio.sleep(0)
            raise AssertionError(f"order {tag} never accepted")

        chaos = asyncio.create_task(reconnects())
        nonces = await asyncio.gather(*(submit(i) for i in range(submitters)))
        await chaos
        # Each order accepted exactly once, and the venue consumed a gap-free run of nonces.
        assert sorted(tag for _, tag in venue.accepted) == list(range(submitters))
        assert [n for n, _ in venue.accepted] == list(range(start, start + submitters))
        assert sorted(nonces) == list(range(start, start + submitters))
        # A consumed nonce is never sent again.
        assert venue.stale_dispatches == 0
        # Within one epoch a nonce goes out only after its predecessor did (the first one excepted); the
        # same nonce goes out again only after a reject rolled it back.
        seen: dict[int, set[int]] = {}
        for epoch, nonce in epochs_on_wire:
            sent = seen.setdefault(epoch, set())
            assert not sent or nonce - 1 in sent or nonce in sent, (epoch, nonce, sorted(sent))
            sent.add(nonce)
        if not reject_tags and not reconnect_at and not failures_planned:
            assert venue.invalid_nonce_replies == 0 and venue.fetches == 1
        if mgr.next_nonce is not None:
            assert mgr.next_nonce == venue.expected

    asyncio.run(asyncio.wait_for(scenario(), timeout=30))


async def test_rollback_of_the_highest_nonce_does_not_let_a_newcomer_overtake() -> None:
    # 1000 is signed slowly; 1001 fails to sign (highest -> rolled back). A newcomer then gets 1001 and
    # must still wait for 1000 to go out first.
    venue = FakeVenue(max_reply_delay=0)
    mgr = NonceManager(7, 3, venue.fetch)
    slow_go = asyncio.Event()

    async def slow(nonce: int) -> tuple[int, Any]:
        await slow_go.wait()
        return (nonce, "slow")

    async def broken(nonce: int) -> tuple[int, Any]:
        raise RuntimeError("library refused")

    first = asyncio.create_task(mgr.submit(slow, venue.dispatch))
    while mgr.next_nonce != 1001:
        await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await mgr.submit(broken, venue.dispatch)
    newcomer = asyncio.create_task(mgr.submit(_signer(random.Random(), "new"), venue.dispatch))
    for _ in range(20):
        await asyncio.sleep(0)
    assert venue.wire == []  # the newcomer (1001) waits for 1000
    slow_go.set()
    assert (await first).nonce == 1000 and (await newcomer).nonce == 1001
    assert venue.wire == [1000, 1001] and venue.invalid_nonce_replies == 0
