"""The counts behind the metrics: one :class:`Series` per label combination.

Plain integers and bucket lists, so that recording a request costs a few additions
and a ``bisect`` per histogram; the Prometheus families are built from them at
scrape time (:mod:`bastion.observability.exposition`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

# The GenAI conventions' recommended buckets.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)  # fmt: skip
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)  # fmt: skip
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)  # fmt: skip
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)  # fmt: skip
# Where a histogram's sum is (its last item): a positive index, which CPython indexes a
# list with faster than -1.
DURATION_SUM = len(DURATION_BUCKETS) + 1
TTFT_SUM = len(TTFT_BUCKETS) + 1
TOKEN_SUM = len(TOKEN_BUCKETS) + 1
OVERHEAD_SUM = len(OVERHEAD_BUCKETS) + 1
# A token count's bucket, by count, up to TOKEN_INDEXED: one index instead of a
# ``bisect_left`` call (~0.8 K instructions) for the usual counts.
TOKEN_INDEXED = 16384
TOKEN_INDEX = bytes(bisect_left(TOKEN_BUCKETS, n) for n in range(TOKEN_INDEXED + 1))


def new_hist(bounds: Sequence[float]) -> list[float]:
    """Bucket counts (one per bound, then +Inf), then the sum."""
    return [0] * (len(bounds) + 2)


class Series:
    """The counts of one label combination: (op, model, provider, *attribution, status, error)."""

    __slots__ = (
        "cached",
        "duration",
        "input",
        "key",
        "output",
        "overhead",
        "requests",
        "spend",
        "tok_in",
        "tok_out",
        "ttft",
    )

    def __init__(self, key: tuple[str, ...]) -> None:
        self.key = key
        self.requests = 0
        self.input = self.output = self.cached = 0
        self.spend = 0  # nano-dollars
        self.duration = new_hist(DURATION_BUCKETS)
        self.overhead = new_hist(OVERHEAD_BUCKETS)
        self.ttft = new_hist(TTFT_BUCKETS)
        self.tok_in = new_hist(TOKEN_BUCKETS)
        self.tok_out = new_hist(TOKEN_BUCKETS)

    def dump(self) -> list[Any]:
        return [list(self.key), *(getattr(self, name) for name in FIELDS)]

    def add(self, values: Sequence[Any]) -> None:
        for name, value in zip(FIELDS, values, strict=True):
            mine = getattr(self, name)
            if isinstance(mine, list):
                for i, v in enumerate(value):
                    mine[i] += v
            else:
                setattr(self, name, mine + value)


FIELDS = (
    "requests",
    "input",
    "output",
    "cached",
    "spend",
    "duration",
    "overhead",
    "ttft",
    "tok_in",
    "tok_out",
)
