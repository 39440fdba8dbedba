"""Read a Prometheus text exposition the way Prometheus does (prometheus_client's parser)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def samples(text: str) -> list[Sample]:
    """Every sample of the exposition ``text``."""
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def family_names(text: str) -> list[str]:
    """The metric family names in order of appearance (duplicates kept, to detect them)."""
    return [family.name for family in text_string_to_metric_families(text)]


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample ``name{labels}`` (labels must match exactly), or None."""
    found = [s.value for s in samples(text) if s.name == name and s.labels == labels]
    assert len(found) <= 1, f"{name}{labels} appears {len(found)} times"
    return found[0] if found else None


def series(text: str, name: str) -> list[Sample]:
    """All samples named ``name``."""
    return [s for s in samples(text) if s.name == name]
