"""Temporal train / validation / test split with an embargo between the parts.

A label on day D looks H days ahead, so a training row on day D "knows" the metric up to D + H.
Leaving `embargo_days` >= H days out between train and validation and between validation and test
means no label window of an earlier part reaches into the days of a later one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl


@dataclass(frozen=True)
class SplitConfig:
    """Shares of the labelled days for validation and test, and the gap between parts."""

    validation_share: float = 0.15
    test_share: float = 0.2
    embargo_days: int = 14

    def __post_init__(self) -> None:
        if not (self.validation_share > 0 and self.test_share > 0):
            raise ValueError("validation_share and test_share must be positive.")
        if self.validation_share + self.test_share >= 1:
            raise ValueError("validation_share + test_share must leave days to train on.")
        if self.embargo_days < 0:
            raise ValueError(f"embargo_days must be >= 0, got {self.embargo_days}.")


@dataclass(frozen=True)
class DateSplit:
    """Inclusive date ranges of the three parts; embargoed days belong to none."""

    train: tuple[date, date]
    validation: tuple[date, date]
    test: tuple[date, date]

    def part(self, name: str) -> pl.Expr:
        """A filter on report_date selecting one part: "train", "validation" or "test"."""
        first, last = getattr(self, name)
        return pl.col("report_date").is_between(first, last)

    def as_dict(self) -> dict[str, list[str]]:
        """The ranges as ISO strings, for manifests and metadata."""
        return {
            name: [first.isoformat(), last.isoformat()]
            for name, (first, last) in (
                ("train", self.train),
                ("validation", self.validation),
                ("test", self.test),
            )
        }

    @classmethod
    def from_dict(cls, ranges: dict[str, list[str]]) -> DateSplit:
        """Inverse of as_dict."""
        parsed = {
            k: (date.fromisoformat(v[0]), date.fromisoformat(v[1])) for k, v in ranges.items()
        }
        return cls(train=parsed["train"], validation=parsed["validation"], test=parsed["test"])


def temporal_split(first: date, last: date, config: SplitConfig | None = None) -> DateSplit:
    """Split the labelled days [first, last]: train, embargo, validation, embargo, test."""
    config = config or SplitConfig()
    gap = config.embargo_days
    usable = (last - first).days + 1 - 2 * gap
    test_days = max(1, round(usable * config.test_share))
    validation_days = max(1, round(usable * config.validation_share))
    train_days = usable - test_days - validation_days
    if train_days < 1:
        raise ValueError(
            f"{(last - first).days + 1} labelled days ({first}..{last}) are too few for a split with "
            f"a {gap}-day embargo; label more days or lower the embargo."
        )
    train_end = first + timedelta(days=train_days - 1)
    validation_start = train_end + timedelta(days=gap + 1)
    validation_end = validation_start + timedelta(days=validation_days - 1)
    test_start = validation_end + timedelta(days=gap + 1)
    return DateSplit(
        train=(first, train_end),
        validation=(validation_start, validation_end),
        test=(test_start, last),
    )
