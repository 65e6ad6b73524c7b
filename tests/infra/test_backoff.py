"""The restart policy on plain data: at once a few times, then doubling waits (bounded), then give up."""

from infra.backoff import Backoff

POLICY = Backoff(window_s=300.0, free_restarts=3, first_wait_s=5.0, max_wait_s=12.0, max_restarts=6)


def test_the_first_restarts_are_due_at_once():
    assert POLICY.wait_s([], 0.0) == 0
    assert POLICY.wait_s([0.0, 1.0], 2.0) == 0


def test_then_each_waits_twice_as_long_after_the_last_up_to_the_bound():
    assert POLICY.wait_s([0.0, 1.0, 2.0], 3.0) == 4.0  # 5 s after the third
    assert POLICY.wait_s([0.0, 1.0, 2.0], 7.0) == 0
    assert POLICY.wait_s([0.0, 1.0, 2.0, 7.0], 7.0) == 10.0
    assert POLICY.wait_s([0.0, 1.0, 2.0, 7.0, 17.0], 17.0) == 12.0  # 20 s, bounded


def test_too_many_within_the_window_exhaust_it_and_old_ones_are_forgotten():
    times = [0.0, 1.0, 2.0, 7.0, 17.0, 29.0]
    assert POLICY.exhausted(times, 30.0)
    assert not POLICY.exhausted(times[:-1], 30.0)
    assert POLICY.recent(times, 302.5) == [7.0, 17.0, 29.0] and not POLICY.exhausted(times, 302.5)
