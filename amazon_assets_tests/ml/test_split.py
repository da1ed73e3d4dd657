"""The temporal split: ordered parts, no shared day, an embargo of H days between parts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from amazon_assets.ml.split import SplitConfig, temporal_split


@pytest.mark.parametrize("days,embargo", [(365, 14), (120, 7), (60, 0), (40, 14)])
def test_parts_do_not_overlap_and_respect_the_embargo(days: int, embargo: int):
    first = date(2024, 1, 1)
    last = first + timedelta(days=days - 1)
    split = temporal_split(first, last, SplitConfig(embargo_days=embargo))
    (t0, t1), (v0, v1), (s0, s1) = split.train, split.validation, split.test
    assert first == t0 <= t1 < v0 <= v1 < s0 <= s1 == last
    # A label on day D looks at D + 1 .. D + H: the last training label ends before validation.
    assert (v0 - t1).days == embargo + 1
    assert (s0 - v1).days == embargo + 1
    parts = [
        {t0 + timedelta(days=i) for i in range((t1 - t0).days + 1)}
        for t0, t1 in (split.train, split.validation, split.test)
    ]
    assert not (parts[0] & parts[1] or parts[1] & parts[2] or parts[0] & parts[2])
    assert sum(map(len, parts)) == days - 2 * embargo


def test_round_trips_through_a_manifest():
    split = temporal_split(date(2024, 1, 1), date(2024, 6, 30))
    assert type(split).from_dict(split.as_dict()) == split


def test_too_few_days_is_a_clear_error():
    with pytest.raises(ValueError, match="too few"):
        temporal_split(date(2024, 1, 1), date(2024, 1, 20), SplitConfig(embargo_days=14))
