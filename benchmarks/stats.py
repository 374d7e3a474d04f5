# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Summaries of repeated measurements: median with min-max, and ratios of medians."""

from __future__ import annotations

import statistics

__all__ = ["fmt_range", "fmt_seconds", "ratio", "summary"]


def summary(values: list[float]) -> dict:
    """``{"median", "min", "max", "n", "values"}`` of a non-empty list."""
    if not values:
        raise ValueError("no measurements")
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "values": list(values),
    }


def ratio(slow: dict, fast: dict) -> float:
    """How many times faster ``fast`` is than ``slow``, by medians."""
    return slow["median"] / fast["median"]


def fmt_seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def fmt_range(stat: dict) -> str:
    """``1.23 s (1.10-1.40 s, n=5)``."""
    if stat["min"] < 1 and stat["max"] < 1:
        low, high, unit = stat["min"] * 1000, stat["max"] * 1000, "ms"
        return f"{fmt_seconds(stat['median'])} ({low:.0f}-{high:.0f} {unit}, n={stat['n']})"
    return f"{fmt_seconds(stat['median'])} ({stat['min']:.2f}-{stat['max']:.2f} s, n={stat['n']})"
