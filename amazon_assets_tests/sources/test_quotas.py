from amazon_assets.sources.quotas import Clock, ReportDeadline


def test_a_report_wait_on_a_fast_clock_lasts_its_real_floor() -> None:
    fast = Clock(speed=3600.0)
    # 10 simulated seconds are long gone after another 20, but 300 real seconds are not.
    assert not ReportDeadline(fast, 10.0, min_real_seconds=300.0).passed_after(20.0)
    assert ReportDeadline(fast, 10.0, min_real_seconds=0.0).passed_after(20.0)
    # On Amazon's own clock the four simulated hours are the longer bound.
    assert not ReportDeadline(Clock(), 4 * 3600.0, min_real_seconds=300.0).passed_after(600.0)
    assert ReportDeadline(Clock(), 60.0, min_real_seconds=0.0).passed_after(600.0)
