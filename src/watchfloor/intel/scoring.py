"""How much an indicator is worth now: the feed's confidence, decayed with age, weighed by verdicts.

    effective = clamp(confidence x decay(age) x verdict_factor(indicator) x verdict_factor(feed), 0, 100)

* decay(age), with age counted from the indicator's last sighting by its feed (else first seen):
  `none` 1; `linear` max(0, 1 - age / lifetime); `exponential` 0.5 ** (age / half_life).
* verdict_factor(tp, fp) = 2 x (tp + 1) / (tp + fp + 2): the Laplace-smoothed share of true positives
  among the incidents its alerts ended in, doubled so that no verdicts at all leaves the confidence
  unchanged (factor 1); one true positive gives 1.33, one false positive 0.67, three false 0.4, and it
  stays within (0, 2). The same formula is applied once for the indicator and once for its whole feed,
  so a feed whose indicators keep producing false positives is trusted less everywhere.

Indicators whose effective confidence falls below `min_confidence` are not live (not matched).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

from watchfloor.intel.errors import IntelError

__all__ = ["ScoringPolicy", "decay_factor", "effective_confidence", "verdict_factor"]

DecayKind = Literal["none", "linear", "exponential"]


@dataclass(frozen=True, slots=True)
class ScoringPolicy:
    """Decay and the live threshold, from `[intel]` in watchfloor.toml (`decay`, `lifetime_days`...)."""

    decay: DecayKind = "exponential"
    lifetime_days: float = 180.0
    half_life_days: float = 60.0
    min_confidence: int = 10
    window_days: int = 30

    def __post_init__(self) -> None:
        if self.decay not in ("none", "linear", "exponential"):
            raise IntelError(f"intel decay must be none, linear or exponential, got {self.decay!r}")
        if self.lifetime_days <= 0 or self.half_life_days <= 0 or self.window_days <= 0:
            raise IntelError("intel lifetime_days, half_life_days and window_days must be positive")


def decay_factor(policy: ScoringPolicy, age_days: float) -> float:
    """How much of its confidence an indicator keeps after `age_days` (1 when new)."""
    age = max(0.0, age_days)
    if policy.decay == "none":
        return 1.0
    if policy.decay == "linear":
        return max(0.0, 1.0 - age / policy.lifetime_days)
    return math.pow(0.5, age / policy.half_life_days)


def verdict_factor(true_positives: int, false_positives: int) -> float:
    """2 x (tp + 1) / (tp + fp + 2): 1 without verdicts, above 1 for mostly true, below for mostly false."""
    return 2.0 * (true_positives + 1) / (true_positives + false_positives + 2)


def effective_confidence(
    policy: ScoringPolicy,
    confidence: int,
    seen: dt.datetime | None,
    now: dt.datetime,
    indicator_verdicts: tuple[int, int] = (0, 0),
    feed_verdicts: tuple[int, int] = (0, 0),
) -> int:
    """The confidence an indicator carries at `now` (see the module's formula)."""
    age = 0.0 if seen is None else (now - seen).total_seconds() / 86_400
    value = (
        confidence
        * decay_factor(policy, age)
        * verdict_factor(*indicator_verdicts)
        * verdict_factor(*feed_verdicts)
    )
    return max(0, min(100, round(value)))
