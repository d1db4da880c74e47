"""The figures `check_deployment` judges a rollout by (pure: text in, numbers out).

Method: two scrapes of the instance's /metrics, `window` apart. Counters only grow, so the
difference of each series between the scrapes is what happened in the window (a series
that went down was reset by a restarted worker: its new value is the window's count, as
Prometheus' rate() takes it). From the differences:

* error rate = 5xx responses / all responses;
* p99 = the 99th percentile of the request-duration histogram, interpolated linearly
  inside the bucket it falls in (as PromQL's histogram_quantile does); in the +Inf bucket
  it is the highest finite bound, i.e. "at least that";
* 5xx count = the 5xx responses.
"""

import math
import re
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

RESPONSES = "rndcards_http_responses_total"
LATENCY_BUCKET = "rndcards_http_request_duration_seconds_bucket"
DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}


class MetricsError(Exception):
    """The text is not the app's Prometheus metrics."""


def parse_duration(text: str) -> float:
    """ "5m", "2s", "500ms", "90" (seconds) → seconds."""
    match = DURATION.fullmatch(text or "")
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * UNITS[match.group(2)]


Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Series:
    """Samples of the request metrics, keyed by (sample name, sorted labels)."""
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as exc:  # the parser raises ValueError, IndexError… on broken text
        raise MetricsError(f"nieczytelny format metryk ({exc})") from None
    if not any(family.name + "_total" == RESPONSES or family.name == RESPONSES for family in families):
        raise MetricsError(f"brak metryki {RESPONSES} — to nie jest adres /metrics tej aplikacji")
    series: Series = {}
    for family in families:
        for sample in family.samples:
            if sample.name in {RESPONSES, LATENCY_BUCKET}:
                if math.isnan(sample.value) or sample.value < 0:
                    raise MetricsError(f"niepoprawna wartość {sample.name}: {sample.value}")
                series[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return series


def window_delta(before: Series, after: Series) -> Series:
    delta = {}
    for key, value in after.items():
        previous = before.get(key, 0.0)
        delta[key] = value - previous if value >= previous else value
    return delta


@dataclass
class Figures:
    requests: float
    errors_5xx: float
    error_rate_percent: float
    p99_ms: float | None  # None: no request in the window
    p99_at_least: bool  # the 99th percentile is in the +Inf bucket


def figures(delta: Series) -> Figures:
    requests = errors = 0.0
    buckets: dict[float, float] = defaultdict(float)
    for (name, labels), value in delta.items():
        labels = dict(labels)
        if name == RESPONSES:
            requests += value
            if labels.get("status", "").startswith("5"):
                errors += value
        elif name == LATENCY_BUCKET:
            buckets[float(labels["le"])] += value
    p99, at_least = quantile(0.99, buckets)
    return Figures(
        requests=requests,
        errors_5xx=errors,
        error_rate_percent=100 * errors / requests if requests else 0.0,
        p99_ms=None if p99 is None else p99 * 1000,
        p99_at_least=at_least,
    )


def quantile(q: float, buckets: dict[float, float]) -> tuple[float | None, bool]:
    """histogram_quantile over cumulative buckets {upper bound: count}."""
    bounds = sorted(buckets)
    if not bounds or not math.isinf(bounds[-1]) or buckets[bounds[-1]] <= 0:
        return None, False
    total = buckets[bounds[-1]]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                finite = [b for b in bounds if not math.isinf(b)]
                return (finite[-1] if finite else 0.0), True
            if count == lower_count:
                return bound, False
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count), False
        lower_bound, lower_count = bound, count
    return None, False
