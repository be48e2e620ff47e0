"""memtrack.store and memtrack.summary."""

from __future__ import annotations

import copy
import json
import sys
import threading

import pytest
from memtrack.record import RECORD_MAX_BYTES
from memtrack.reports.summary import format_summary
from memtrack.store import RecordStore
from memtrack.units import format_bytes


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


def _fixture_records() -> list[dict]:
    from conftest import SCHEMA_DIR

    names = ("record-deep-full", "record-leaks", "record-light", "record")
    records = []
    for name in names:
        record = json.loads((SCHEMA_DIR / "fixtures" / "valid" / f"{name}.json").read_text())
        records.append(record["record"])
    return records


def test_older_records_are_kept_packed_and_come_back_equal():
    from memtrack import store as store_mod
    from memtrack.shell import bridge

    # A batch's last record is completed just before it is sent: it must still be a dict.
    assert store_mod.HOT_RECORDS > bridge.BATCH_MAX
    hot = store_mod.HOT_RECORDS
    store = RecordStore(max_records=3 * hot)
    records = []
    for i in range(4 * hot):
        record = copy.deepcopy(_fixture_records()[i % 4])
        record.pop("seq", None)
        record["label"] = f'cell {i} \u540d \U0001f600 "q" \\'
        record["duration_s"] = i / 7  # floats come back exactly
        records.append(store.add(record))
    assert len(store) == 3 * hot
    assert store.snapshot() == records[hot:]  # the oldest went; the others come back equal
    assert store.tail(2) == records[-2:]
    assert all(type(r) is bytes for r in store._cold)
    assert hot <= len(store._records) < 2 * hot
    # What they take: each packed record is its JSON (at most 2 KB), not ~4-14 KB of dicts.
    packed = [sys.getsizeof(r) for r in store._cold]
    assert max(packed) <= RECORD_MAX_BYTES + 64
    as_dicts = [store_mod._nbytes(r) for r in records[hot : hot + len(packed)]]
    assert sum(packed) * 3 < sum(as_dicts)
    store.clear()
    assert len(store) == 0 and store.snapshot() == []


def test_a_record_json_cannot_hold_stays_a_dict():
    from memtrack import store as store_mod

    store = RecordStore()
    odd = store.add({"label": "set", "value": {1, 2}})
    for _ in range(2 * store_mod.HOT_RECORDS):
        store.add({"label": "x"})
    assert store.snapshot()[0] == odd and type(store._cold[0]) is dict


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
    from memtrack.record import RECORD_MAX_BYTES, SMALL_RECORD_FIXED, fit_record

    definitions = MESSAGE_SCHEMA["definitions"]
    properties = definitions["record"]["properties"]
    # A record with a cluster or GPU entries is always measured (they may take 1.5 kB).
    properties = {k: v for k, v in properties.items() if k not in ("cluster", "gpu")}
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
