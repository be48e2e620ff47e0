"""memtrack.store and memtrack.summary."""

from __future__ import annotations

import threading

import pytest
from memtrack.store import RecordStore
from memtrack.summary import format_bytes, format_summary


def test_seq_from_one_copies_and_bound():
    store = RecordStore(max_records=3)
    first = store.add({"label": "a", "top_lines": []})
    assert first["seq"] == 1
    first["label"] = "changed"
    first["top_lines"].append(1)
    assert store.snapshot()[0] == {"label": "a", "top_lines": [], "seq": 1}
    for label in "bcde":
        store.add({"label": label})
    assert [r["seq"] for r in store.snapshot()] == [3, 4, 5]
    assert len(store) == 3
    store.clear()
    assert store.snapshot() == []
    assert store.add({})["seq"] == 6
    with pytest.raises(ValueError):
        RecordStore(max_records=0)


def test_concurrent_adds_get_unique_seq():
    store = RecordStore()

    def work():
        for _ in range(200):
            store.add({"x": 1})

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [r["seq"] for r in store.snapshot()]
    assert sorted(seqs) == list(range(1, 801))


def test_summary_line_format():
    record = {
        "execution_count": 5,
        "label": "label",
        "traced_delta": 50_000_000,
        "traced_peak": 80_000_000,
        "rss_before": 100_000_000,
        "rss_after": 150_000_000,
        "rss_peak": 200_000_000,
        "duration_s": 0.25,
        "error": None,
    }
    assert format_summary(record) == (
        "memtrack [5] 'label': +50.0 MB traced (peak 80.0 MB), "
        "RSS 100.0 MB -> 150.0 MB (peak 200.0 MB), 0.25 s"
    )
    light = dict(record, label=None, traced_delta=None, traced_peak=None, error="KeyError")
    assert format_summary(light, "process") == (
        "memtrack [5]: RSS 100.0 MB -> 150.0 MB (peak since start 200.0 MB), 0.25 s, "
        "raised KeyError"
    )


@pytest.mark.parametrize(
    ("n", "signed", "text"),
    [
        (0, False, "0 B"),
        (999, False, "999 B"),
        (1500, False, "1.5 kB"),
        (-2_500_000, True, "-2.5 MB"),
        (2_500_000, True, "+2.5 MB"),
        (3_000_000_000, False, "3.0 GB"),
        (None, False, "?"),
    ],
)
def test_format_bytes(n, signed, text):
    assert format_bytes(n, signed) == text


def _widest(schema: dict, definitions: dict, rows: int) -> object:
    """The value of ``schema`` whose JSON is longest, strings empty (their content is what
    summary._fits_unencoded counts); arrays of objects get ``rows`` rows, other arrays 3 items."""
    if "$ref" in schema:
        schema = definitions[schema["$ref"].rsplit("/", 1)[1]]
    kinds = schema.get("type", "string")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "object" in kinds:
        props = schema.get("properties", {})
        return {k: _widest(v, definitions, rows) for k, v in props.items()}
    if "array" in kinds:
        item = schema.get("items", {})
        n = rows if item.get("type") == "object" else 3
        return [_widest(item, definitions, rows) for _ in range(n)]
    if "integer" in kinds:
        return -(10**19)
    if "number" in kinds:
        return -2.2250738585072014e-308
    if "boolean" in kinds:
        return False
    return None if "null" in kinds else ""  # "null" is longer than ""


def test_small_records_fit_without_encoding():
    """fit_record skips the JSON for records of <= 3 rows with short plain strings: everything
    but their strings must take at most SMALL_RECORD_FIXED bytes, on the schema's largest."""
    import json

    from conftest import MESSAGE_SCHEMA
    from memtrack.summary import RECORD_MAX_BYTES, SMALL_RECORD_FIXED, fit_record

    definitions = MESSAGE_SCHEMA["definitions"]
    properties = definitions["record"]["properties"]
    for table in ("top_lines", "types", "variables"):
        record = {k: _widest(v, definitions, 0) for k, v in properties.items()}
        record[table] = _widest(properties[table], definitions, 3)
        record["leaks"] = []
        assert len(json.dumps(record, separators=(",", ":"))) <= SMALL_RECORD_FIXED, table
    # Non-ASCII text is measured, not assumed: 3 rows of 120-character names once passed.
    name = "\u540d" * 120
    record = {k: _widest(v, definitions, 0) for k, v in properties.items()}
    record.update(label="\u6807" * 120, leaks=[], types=[], top_lines=[])
    record["variables"] = [{"name": name, "type": "dict", "size": 1, "delta": 1}] * 3
    fitted = fit_record(record)
    assert len(json.dumps(fitted, separators=(",", ":"))) <= RECORD_MAX_BYTES
    assert len(fitted["variables"]) < 3
