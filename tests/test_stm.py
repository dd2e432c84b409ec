"""STDTrack's spatiotemporal token maintainer: which tokens it keeps under each update rule
(hypothesis property tests), row independence, and the holdings read back from the records."""
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trackkit.families.stdtrack import stm_holdings, stm_init, stm_occlusion_exposure, stm_rank, stm_update

DIM = 3


def _feed(qualities, capacity, rule):
    """Feed one sequence's tokens (token t = [t, t, t]) into a one-row STM; returns the STM after
    every frame and the evicted frame per frame."""
    stm = stm_init(1, capacity, DIM)
    states, evicted = [], []
    for t, q in enumerate(qualities, start=1):
        token = torch.full((1, DIM), float(t))
        stm, ev = stm_update(stm, token, torch.tensor([q]), torch.tensor([t]), rule)
        states.append(stm)
        evicted.append(int(ev[0]))
    return states, evicted


def _held(stm) -> set[int]:
    n = int(stm["stm_count"][0])
    times = stm["stm_time"][0].tolist()
    valid = [t for k, t in enumerate(times) if k < n]
    # the stored token is the one of that frame
    for k in range(n):
        assert torch.equal(stm["stm_tokens"][0, k], torch.full((DIM,), float(times[k])))
    return set(valid)


# distinct after the STM's float32 storage: thousandths
distinct_qualities = st.lists(st.integers(1, 1000), min_size=1, max_size=30, unique=True).map(
    lambda ks: [k / 1000 for k in ks])


@settings(max_examples=60, deadline=None)
@given(qualities=distinct_qualities, capacity=st.integers(1, 12))
def test_quality_rule_keeps_the_newest_and_the_best_earlier_tokens(qualities, capacity):
    """The paper's rule (the new token always enters, the lowest-Q stored one is pruned): after
    frame t the STM holds frame t and the N-1 highest-Q frames among 1..t-1."""
    states, _ = _feed(qualities, capacity, "quality")
    for t, stm in enumerate(states, start=1):
        earlier = sorted(range(1, t), key=lambda f: -qualities[f - 1])[:capacity - 1]
        assert _held(stm) == {t, *earlier}
        assert int(stm["stm_count"][0]) == min(t, capacity)


@settings(max_examples=60, deadline=None)
@given(qualities=distinct_qualities, capacity=st.integers(2, 12))
def test_quality_rule_holds_the_n_highest_q_when_the_newest_is_among_them(qualities, capacity):
    """Whenever the newest token is not the worst, the STM is exactly the N highest-Q tokens so far."""
    states, _ = _feed(qualities, capacity, "quality")
    for t, stm in enumerate(states, start=1):
        best = set(sorted(range(1, t + 1), key=lambda f: -qualities[f - 1])[:capacity])
        if t in best:
            assert _held(stm) == best


@settings(max_examples=60, deadline=None)
@given(qualities=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30), capacity=st.integers(1, 12))
def test_fifo_keeps_the_n_newest(qualities, capacity):
    states, evicted = _feed(qualities, capacity, "fifo")
    for t, stm in enumerate(states, start=1):
        assert _held(stm) == set(range(max(1, t - capacity + 1), t + 1))
        assert evicted[t - 1] == (t - capacity if t > capacity else -1)


@settings(max_examples=40, deadline=None)
@given(qualities=distinct_qualities, capacity=st.integers(1, 8), rule=st.sampled_from(["quality", "fifo"]))
def test_holdings_from_the_evicted_record_equal_the_stm(qualities, capacity, rule):
    states, evicted = _feed(qualities, capacity, rule)
    record = np.array([np.nan] + [np.nan if e < 0 else e for e in evicted])
    held = stm_holdings(record)
    assert held[0] == frozenset()
    for t, stm in enumerate(states, start=1):
        assert held[t] == _held(stm)


def test_rank_orders_by_recency_and_marks_empty_slots():
    states, _ = _feed([0.5, 0.9, 0.1, 0.7], 3, "quality")
    stm = states[-1]  # holds frames 2, 4 and (pruned 3) 1 -> {1, 2, 4}
    times = stm["stm_time"][0].tolist()
    rank = dict(zip(times, stm_rank(stm)[0].tolist()))
    assert rank == {4: 1, 2: 2, 1: 3}
    partial = _feed([0.5], 3, "fifo")[0][0]
    assert stm_rank(partial)[0].tolist() == [1, 0, 0]


def test_rows_do_not_interact():
    """A batch of two sequences updates each row exactly as that row alone."""
    g = torch.Generator().manual_seed(0)
    both = stm_init(2, 3, DIM)
    alone = [stm_init(1, 3, DIM) for _ in range(2)]
    for t in range(1, 9):
        tok, q = torch.randn(2, DIM, generator=g), torch.rand(2, generator=g)
        now = torch.tensor([t, t])
        both, ev = stm_update(both, tok, q, now, "quality")
        for r in range(2):
            alone[r], ev_r = stm_update(alone[r], tok[r:r + 1], q[r:r + 1], now[r:r + 1], "quality")
            assert int(ev_r[0]) == int(ev[r])
            for k in both:
                assert torch.equal(both[k][r:r + 1], alone[r][k])


def test_occlusion_exposure_counts_stored_occluded_frames():
    # capacity 2, FIFO over 5 tracked frames: holdings after frames 1..5 = {1}, {1,2}, {2,3}, {3,4}, {4,5}
    evicted = np.array([np.nan, np.nan, np.nan, 1, 2, 3])
    occluded = np.array([False, False, True, False, False, False])  # frame 2 occluded
    out = stm_occlusion_exposure(evicted, occluded)
    # frames t=2..5 read holdings after t-1: {1}, {1,2}, {2,3}, {3,4}
    assert out["frames"] == 4
    assert out["frames_exposed"] == 0.5
    assert out["tokens_occluded"] == 2 / 7
