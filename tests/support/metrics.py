"""Reading the Prometheus exposition a server answers on /metrics."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def sample(metrics_text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus exposition (0 if absent)."""
    for family in text_string_to_metric_families(metrics_text):
        for item in family.samples:
            if item.name == name and item.labels == labels:
                return float(item.value)
    return 0.0
