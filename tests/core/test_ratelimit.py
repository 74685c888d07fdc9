from core.ratelimit import Spacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _takes(spacer: Spacer, clock: FakeClock, lateness: list[float]) -> list[float]:
    """Take a slot as soon as allowed, plus some lateness each time; return take times."""
    times = []
    for late in lateness:
        clock.now = max(clock.now, spacer.next_at) + late
        assert spacer.take()
        times.append(clock.now)
    return times


def test_sends_are_evenly_spaced_and_never_early() -> None:
    clock = FakeClock()
    spacer = Spacer(25.0, clock)
    times = _takes(spacer, clock, [0.0] * 10)
    gaps = [round(b - a, 9) for a, b in zip(times, times[1:], strict=False)]
    assert gaps == [0.04] * 9
    clock.now = times[-1] + 0.039
    assert not spacer.take() and round(spacer.wait_time(), 9) == 0.001


def test_small_lateness_keeps_the_grid_and_large_lateness_starts_anew() -> None:
    clock = FakeClock()
    spacer = Spacer(25.0, clock, slack=0.002)
    times = _takes(spacer, clock, [0.0, 0.0015, 0.0, 0.01, 0.0])
    gaps = [round(b - a, 9) for a, b in zip(times, times[1:], strict=False)]
    # 1.5 ms late: the next slot is still on the grid, so that gap is 1.5 ms short, and
    # no two takes are ever closer than interval - slack. 10 ms late: a new grid.
    assert gaps == [0.0415, 0.0385, 0.05, 0.04]
    assert min(gaps) >= 0.04 - 0.002
    # Only the lateness that moved the grid was lost to the schedule; the first take, after
    # an idle start, and lateness within the slack were not.
    assert round(spacer.lost_seconds, 9) == 0.01
    # Over many slots the schedule does not drift with lateness inside the slack.
    clock2 = FakeClock()
    steady = Spacer(25.0, clock2, slack=0.002)
    times = _takes(steady, clock2, [0.001] * 101)
    assert round(times[-1] - times[1], 9) == 99 * 0.04


def test_told_too_fast_it_slows_a_little_then_returns_to_the_configured_pace() -> None:
    from core.ratelimit import AdaptiveSpacer

    clock = FakeClock()
    spacer = AdaptiveSpacer(25.0, clock, step=0.01, max_slowdown=0.05, calm=30.0)
    for _ in range(3):
        spacer.too_fast()
    assert round(spacer.interval, 9) == round(0.04 * 1.01**3, 9)
    for _ in range(20):
        spacer.too_fast()
    assert round(spacer.interval, 9) == round(0.04 * 1.05, 9)  # never slower than that
    clock.now += 10
    spacer.relax()
    assert round(spacer.interval, 9) == round(0.04 * 1.05, 9)  # not calm long enough
    clock.now += 25
    rates = []
    for _ in range(40):
        spacer.relax()
        rates.append(spacer.per_second)
        clock.now += 10
    assert rates == sorted(rates) and rates[0] > 25.0 / 1.05
    assert round(spacer.interval, 9) == 0.04  # back to the configured rate, not beyond
