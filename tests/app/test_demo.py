from xtb.demo import load_capture, run


def test_demo_core_book_matches_the_pure_python_replay():
    lines: list[str] = []
    res = run(out=lines.append)
    assert res.frames > 100 and not res.stale
    bid_px, ask_px = res.baseline_best
    # the core (fixed point, 2 decimals) and the float dict book agree on the touch
    assert res.best_bid is not None and res.best_ask is not None
    assert res.best_bid[0] == round(bid_px * 100) and res.best_ask[0] == round(ask_px * 100)
    assert res.best_bid[0] < res.best_ask[0]
    assert any("decode + apply per frame" in line for line in lines)


def test_capture_is_a_snapshot_then_frames():
    symbol, snapshot, frames = load_capture()
    assert symbol == "SOL_USDC_PERP"
    assert int(snapshot["lastUpdateId"]) > 0
    assert all(f.startswith(b'{"stream":"depth.SOL_USDC_PERP"') for f in frames)
