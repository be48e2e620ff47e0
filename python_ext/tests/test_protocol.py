"""The wire format: schema fixtures, memtrack.protocol's parser and builders agree."""

from __future__ import annotations

import json

import pytest
from conftest import SCHEMA_DIR, message_validator
from memtrack import protocol
from memtrack import record as record_mod
from memtrack.measure.cell import CellMeasurement

VALID = sorted((SCHEMA_DIR / "fixtures" / "valid").glob("*.json"))
INVALID = sorted((SCHEMA_DIR / "fixtures" / "invalid").glob("*.json"))


def _load(path):
    return json.loads(path.read_text("utf-8"))


def test_fixtures_exist():
    assert len(VALID) >= 7
    assert len(INVALID) >= 8


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_fixture_validates_and_parses(path):
    msg = _load(path)
    message_validator().validate(msg)
    type_, payload = protocol.parse_message(msg)
    assert type_ == msg["type"]
    assert "v" not in payload and "type" not in payload
    assert payload == {k: v for k, v in msg.items() if k not in ("v", "type")}


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_fails_schema_and_parser(path):
    msg = _load(path)
    assert list(message_validator().iter_errors(msg)), f"{path.name} unexpectedly valid"
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_message(msg)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([1, 2], "JSON object"),
        ("hello", "JSON object"),
        (None, "JSON object"),
        ({"type": "hello"}, "no protocol version"),
        ({"v": 2, "type": "hello"}, "newer"),
        ({"v": "1", "type": "hello"}, "integer"),
        ({"v": True, "type": "hello"}, "integer"),
        ({"v": 0, "type": "hello"}, "unsupported"),
        ({"v": 1}, "no string 'type'"),
        ({"v": 1, "type": "frobnicate"}, "unknown message type 'frobnicate'"),
        ({"v": 1, "type": "hello", "client": 3}, "hello.client"),
        ({"v": 1, "type": "record"}, "missing key 'record'"),
    ],
)
def test_parse_errors_say_why(data, fragment):
    with pytest.raises(protocol.ProtocolError, match=None) as info:
        protocol.parse_message(data)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def _measured_record(seq=1):
    numbers = CellMeasurement(deep=False).start().finish(error=None)
    record = {key: None for key in record_mod.RECORD_KEYS}
    record.update(
        seq=seq,
        execution_count=7,
        mode=numbers["mode"],
        started_at=numbers["started_at"],
        duration_s=numbers["duration_s"],
        rss_before=numbers["rss_before"],
        rss_after=numbers["rss_after"],
        rss_peak=numbers["rss_peak"],
        gc=numbers["gc"],
        top_lines=[],
        types=[],
        variables=[],
        leaks=[],
    )
    return record


def test_builders_produce_valid_messages():
    validator = message_validator()
    rec = _measured_record()
    built = [
        protocol.hello_message(version="0.1.0"),
        protocol.request_history_message(),
        protocol.history_message(
            [rec, _measured_record(2)], {"pid": 1, "python": "3", "memtrack": "x"}
        ),
        protocol.history_message([]),
        protocol.record_message(rec),
        protocol.reset_message(),
        protocol.error_message("nope"),
        protocol.export_message("e-1"),
        protocol.export_result_message("e-1", "html", "<!DOCTYPE html>"),
    ]
    for msg in built:
        validator.validate(msg)
        assert msg["v"] == protocol.PROTOCOL_VERSION == 1
        type_, _ = protocol.parse_message(json.loads(json.dumps(msg)))
        assert type_ == msg["type"]


def test_record_keys_match_schema():
    from conftest import MESSAGE_SCHEMA

    assert list(record_mod.RECORD_KEYS) == MESSAGE_SCHEMA["definitions"]["record"]["required"]
    assert tuple(MESSAGE_SCHEMA["properties"]["type"]["enum"]) == protocol.MESSAGE_TYPES


def test_validate_record_rejects_bad_values():
    rec = _measured_record()
    protocol.validate_record(rec)
    for key, bad in [
        ("seq", 0),
        ("mode", "medium"),
        ("rss_peak", 1.5),
        ("traced_delta", True),
        ("duration_s", -1),
        ("top_lines", [{"line": 1}]),
        ("gc", {"collections": [1.5]}),
        ("leaks", [1]),
    ]:
        broken = dict(rec, **{key: bad})
        with pytest.raises(protocol.ProtocolError, match=key):
            protocol.validate_record(broken)
        assert list(message_validator().iter_errors(protocol.record_message(broken)))


METADATA_FIXTURES = SCHEMA_DIR / "fixtures" / "metadata"


@pytest.mark.parametrize(
    "path,valid",
    [(p, True) for p in sorted((METADATA_FIXTURES / "valid").glob("*.json"))]
    + [(p, False) for p in sorted((METADATA_FIXTURES / "invalid").glob("*.json"))],
    ids=lambda v: v.name if hasattr(v, "name") else str(v),
)
def test_saved_cell_metadata_fixtures_against_their_schema(path, valid):
    """The runs the sidebar saves in cell metadata have a schema too (src/cellMetadata.ts writes
    and reads them; jest checks the same fixtures against the code)."""
    import jsonschema

    schema = json.loads((SCHEMA_DIR / "metadata" / "cell-runs.schema.json").read_text("utf-8"))
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    errors = list(validator.iter_errors(_load(path)))
    assert (not errors) == valid, errors


def test_the_record_table_matches_the_wire_schema():
    """memtrack.record's one table of fields against schema/wire: every key it defines is a
    property there, the required ones in wire order, the CSV columns those of x-csv-columns."""
    from conftest import MESSAGE_SCHEMA

    schema = MESSAGE_SCHEMA["definitions"]["record"]
    names = [f.name for f in record_mod.FIELDS]
    assert set(names) <= set(schema["properties"])
    assert list(record_mod.RECORD_KEYS) == schema["required"]
    assert list(record_mod.CSV_COLUMNS) == schema["x-csv-columns"]
    nullable = {f.name for f in record_mod.FIELDS if f.required and f.nullable}
    for name in record_mod.RECORD_KEYS:
        prop = schema["properties"][name]
        types = prop.get("type", [])
        allows_null = "null" in types or prop.get("$ref", "").endswith("nullableBytes")
        assert allows_null == (name in nullable), name
