"""Reports: ``%memtrack export`` (JSON, CSV, HTML), ``memtrack.export``, ``load_report`` and the
``%memtrack report`` table, in a real IPython shell and a real kernel."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import stat
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import memtrack
import pytest
from conftest import MESSAGE_SCHEMA, SCHEMA_DIR, real_kernel
from IPython.core.error import UsageError
from memtrack.record import CSV_COLUMNS
from memtrack.reports import files as report
from memtrack.reports import html as html_report
from memtrack.reports import text as text_report
from memtrack.reports.files import ReportError, load_report
from referencing import Registry, Resource

REPORT_SCHEMA = json.loads((SCHEMA_DIR / "report" / "report.schema.json").read_text("utf-8"))
FIXTURES = SCHEMA_DIR / "fixtures" / "report"
VALID = sorted((FIXTURES / "valid").glob("*.json"))
INVALID = sorted((FIXTURES / "invalid").glob("*.json"))
INJECTION = "</script><img src=x onerror=alert(1)>"
# The keys src/export.ts toJsonReport writes, in its order.
TS_REPORT_KEYS = ["format", "version", "created", "python", "platform", "kernel", "cells"]


def report_validator() -> jsonschema.Draft7Validator:
    """The report schema, its records resolved from the wire schema (the one definition)."""
    registry = Registry().with_resource(
        MESSAGE_SCHEMA["$id"], Resource.from_contents(MESSAGE_SCHEMA)
    )
    return jsonschema.Draft7Validator(
        REPORT_SCHEMA, registry=registry, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def run(ip, code):
    return ip.run_cell(code, store_history=True)


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- schema, fixtures


def test_report_schema_reuses_the_wire_record():
    cells = REPORT_SCHEMA["properties"]["cells"]["items"]
    assert cells == {"$ref": "../wire/message.schema.json#/definitions/record"}
    assert "definitions" not in REPORT_SCHEMA  # one definition of a record: the wire schema's
    assert VALID and INVALID
    assert "newer-version.json" in [p.name for p in INVALID]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_report_fixtures(path):
    report_validator().validate(json.loads(path.read_text("utf-8")))
    loaded = load_report(path)
    assert loaded["format"] == "memtrack-report" and isinstance(loaded["cells"], list)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_report_fixtures(path):
    data = json.loads(path.read_text("utf-8"))
    assert not report_validator().is_valid(data)
    with pytest.raises(ReportError):
        load_report(path)


def test_load_report_says_to_upgrade_for_a_newer_version():
    with pytest.raises(ReportError) as info:
        load_report(FIXTURES / "invalid" / "newer-version.json")
    assert str(info.value) == (
        "memtrack report version 2 is newer than this memtrack supports (1); "
        "upgrade jupyterlab-memtrack"
    )
    assert isinstance(info.value, ValueError)


def test_load_report_rejects_other_json_clearly():
    with pytest.raises(ReportError, match=r"'format' is 'memtrack-history'"):
        load_report((FIXTURES / "invalid" / "wrong-format.json").read_text("utf-8"))
    with pytest.raises(ReportError, match="invalid JSON"):
        load_report("{not json")
    with pytest.raises(ReportError, match=r"cells\[0\]: missing key\(s\) 'rss_peak'"):
        load_report(FIXTURES / "invalid" / "cell-missing-key.json")
    with pytest.raises(ReportError, match="cannot read memtrack report"):
        load_report("/nonexistent/report.json")


def test_build_report_has_the_sidebar_keys():
    kernel = {"pid": 1, "python": "3.11.7", "memtrack": "0.1.0"}
    built = report.build_report([], kernel)
    assert list(built) == TS_REPORT_KEYS
    assert built["python"] == "3.11.7" and built["kernel"] == kernel
    assert isinstance(built["platform"], str) and built["platform"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", built["created"])
    report_validator().validate(json.loads(report.to_json(built)))


def test_csv_fields_like_the_sidebar():
    # The schema's columns, which the sidebar's export uses too (src/__tests__ checks it): the
    # two exports stay identical.
    assert list(CSV_COLUMNS) == MESSAGE_SCHEMA["definitions"]["record"]["x-csv-columns"]
    assert report._csv_field('say "hi", then go') == '"say ""hi"", then go"'
    assert report._csv_field('=HYPERLINK("x")') == '"\'=HYPERLINK(""x"")"'
    assert report._csv_field("@SUM(A1)") == "'@SUM(A1)"
    assert report._csv_field("\tx") == "'\tx"
    assert report._csv_field(-5) == "-5"  # numbers are never defused
    assert report._csv_field(None) == ""
    assert report._csv_field([{}, {}]) == "2"


# --------------------------------------------------------------------------- a real shell


@pytest.fixture
def history(shell):
    """A deep cell with hostile text, a light cell and a failing cell with a formula label."""
    result = run(
        shell, f"%%memtrack --label {INJECTION}\nblob = bytearray(2_000_000)  # {INJECTION}"
    )
    assert result.success
    run(shell, "%memtrack on")
    run(shell, "lst = [0] * 10_000")
    run(shell, "%memtrack off")
    failed = run(shell, "%%memtrack --label =1+2\n1 / 0")
    assert isinstance(failed.error_in_exec, ZeroDivisionError)
    records = memtrack.history()
    assert [r["mode"] for r in records] == ["deep", "light", "deep"]
    assert records[0]["label"] == INJECTION
    assert any(INJECTION in line["code"] for line in records[0]["top_lines"])
    return records


def test_export_json_is_a_valid_report(shell, history, tmp_path, capsys):
    path = tmp_path / "history.json"
    run(shell, f"%memtrack export {path}")
    assert f"wrote {len(history)} cell(s) to {path}" in capsys.readouterr().out
    data = json.loads(path.read_text("utf-8"))
    report_validator().validate(data)
    assert list(data) == TS_REPORT_KEYS
    assert data["version"] == 1 and data["kernel"]["pid"] == os.getpid()
    assert [c["seq"] for c in data["cells"]] == [r["seq"] for r in history]
    assert load_report(path)["cells"] == data["cells"]
    assert leftovers(tmp_path) == []
    # A new file gets the usual permissions, not mkstemp's private 0600.
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_export_csv_opens_as_a_table(shell, history, tmp_path):
    path = tmp_path / "history.csv"
    run(shell, f"%memtrack export {path}")
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == len(history) + 1 and b"\n" not in raw.replace(b"\r\n", b"")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert rows[0] == list(CSV_COLUMNS)
    assert len(rows) == len(history) + 1
    for row, record in zip(rows[1:], history, strict=True):
        cells = dict(zip(CSV_COLUMNS, row, strict=True))
        assert int(cells["seq"]) == record["seq"]
        for key in ("rss_before", "rss_after", "rss_peak"):
            assert int(cells[key]) == record[key]
        assert float(cells["duration_s"]) == pytest.approx(record["duration_s"])
        assert int(cells["leaks"]) == len(record["leaks"])
    assert int(rows[1][CSV_COLUMNS.index("traced_delta")]) == history[0]["traced_delta"]
    assert rows[2][CSV_COLUMNS.index("traced_delta")] == ""  # light: not measured
    failed = rows[3]
    assert failed[CSV_COLUMNS.index("label")] == "'=1+2"  # a formula stays text
    assert failed[CSV_COLUMNS.index("error")] == "ZeroDivisionError"


class _Page(HTMLParser):
    """What a browser would build from the page: elements, attributes and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.in_style = False
        self.style = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.in_style = tag == "style"

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self.in_style = False

    def handle_data(self, data):
        if self.in_style:
            self.style += data
        else:
            self.text.append(data)


def test_export_html_is_offline_and_inert(shell, history, tmp_path):
    path = tmp_path / "history.htm"
    run(shell, f"%memtrack export {path}")
    page_html = path.read_text("utf-8")
    page = _Page()
    page.feed(page_html)
    page.close()
    names = [tag for tag, _ in page.tags]
    # Nothing runs and nothing is fetched: no scripts, no handlers, no remote resources.
    assert not {"script", "img", "iframe", "link", "object", "embed"} & set(names)
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "href", "xlink:href", "action", "srcset", "poster"):
                assert not re.match(r"\s*(https?:)?//", value or ""), (tag, name, value)
    assert "@import" not in page_html and "url(" not in page.style
    # The hostile label and source line are shown, as text only.
    text = "".join(page.text)
    assert text.count(INJECTION) >= 2
    assert INJECTION not in page_html and html.escape(INJECTION, quote=True) in page_html
    # One row per record, the plot, the suspects section and a <details> for the top lines.
    rows = [attrs for tag, attrs in page.tags if tag == "tr" and attrs.get("class")]
    assert [r["id"] for r in rows] == [f"cell-{r['seq']}" for r in history]
    assert "svg" in names and names.count("path") >= 1 and names.count("rect") == len(history)
    assert "details" in names and "Leak suspects after the last cell" in text
    assert "prefers-color-scheme:dark" in page.style
    # Bytes are readable, the exact integer in the title.
    titles = {attrs.get("title") for tag, attrs in page.tags if tag == "span"}
    assert str(history[0]["rss_after"]) in titles


def test_html_lists_leak_suspects_and_escapes_them():
    suspect = {
        "name": INJECTION,
        "kind": "growing-variable",
        "size": 8_000_000,
        "reason": f"grew <b>{INJECTION}</b>",
        "cells": [5, 6, 7],
    }
    record = json.loads((SCHEMA_DIR / "fixtures" / "valid" / "record.json").read_text())["record"]
    record["leaks"] = [suspect]
    page_html = html_report.to_html(report.build_report([record], {"pid": 1}))
    page = _Page()
    page.feed(page_html)
    assert not {"img", "script"} & {tag for tag, _ in page.tags}
    text = "".join(page.text)
    assert f"grew <b>{INJECTION}</b>" in text and "growing-variable" in text and "8.0 MB" in text
    assert "[5], [6], [7]" in text


def test_python_api_export(shell, history, tmp_path):
    written = memtrack.export(tmp_path / "api.report", format="JSON")
    assert written == str(tmp_path / "api.report")
    report_validator().validate(json.loads(Path(written).read_text("utf-8")))
    with pytest.raises(ReportError, match="cannot tell the report format of 'noext'"):
        memtrack.export(tmp_path / "noext")


# --------------------------------------------------------------------------- errors


def usage_error(shell, line: str) -> str:
    result = run(shell, line)
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    return str(result.error_in_exec)


def test_unwritable_paths_are_usage_errors(shell, history, tmp_path):
    missing = tmp_path / "nope" / "r.json"
    assert "directory" in usage_error(shell, f"%memtrack export {missing}")
    assert f"{tmp_path / 'nope'} does not exist" in usage_error(
        shell, f"%memtrack export {missing}"
    )
    folder = tmp_path / "folder.json"
    folder.mkdir()
    assert "is a directory" in usage_error(shell, f"%memtrack export {folder}")
    if os.geteuid() == 0:  # root writes anywhere but in sysfs
        locked = Path("/sys/memtrack-report.json")
    else:
        (tmp_path / "locked").mkdir(mode=0o500)
        locked = tmp_path / "locked" / "r.json"
    message = usage_error(shell, f"%memtrack export {locked}")
    assert f"cannot write {locked}" in message
    assert re.search("Permission denied|Read-only file system", message), message
    assert not locked.exists()
    assert leftovers(tmp_path) == []


def test_format_errors_are_usage_errors(shell, history, tmp_path):
    message = usage_error(shell, f"%memtrack export {tmp_path / 'report.txt'}")
    assert "cannot tell the report format of 'report.txt'" in message
    assert "--format json|csv|html" in message
    message = usage_error(shell, f"%memtrack export {tmp_path / 'r.json'} --format pdf")
    assert "unknown report format 'pdf'; use json, csv or html" in message
    assert "use: %memtrack export PATH" in usage_error(shell, "%memtrack export")
    assert "use: %memtrack export PATH" in usage_error(shell, "%memtrack export a.json b.json")
    assert "--format only goes with" in usage_error(shell, "%memtrack report --format csv")
    assert list(tmp_path.iterdir()) == []


def test_format_option_wins_and_quoted_paths_work(shell, history, tmp_path):
    path = tmp_path / "my report.data"
    run(shell, f'%memtrack export "{path}" --format csv')
    assert path.read_text("utf-8").startswith("seq,execution_count,")


def test_failed_export_keeps_the_previous_file(shell, history, tmp_path):
    path = tmp_path / "kept.json"
    path.write_text("previous", "utf-8")
    path.chmod(0o640)
    with pytest.raises(ReportError, match="not JSON-safe"):
        report.write_report(path, [{"seq": 1, "duration_s": float("nan")}], {}, None)
    assert path.read_text("utf-8") == "previous" and leftovers(tmp_path) == []
    memtrack.export(path)
    assert json.loads(path.read_text("utf-8"))["format"] == "memtrack-report"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # overwriting keeps the permissions


# --------------------------------------------------------------------------- %memtrack report


def test_report_prints_an_aligned_table(shell, history, capsys):
    capsys.readouterr()
    run(shell, "%memtrack report")
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"memtrack: {len(history)} cell(s) recorded"
    header = lines[1]
    for column in (
        "[n]",
        "label",
        "mode",
        "alloc \u0394",
        "RSS \u0394",
        "RSS peak+",
        "traced \u0394",
    ):
        assert column in header
    assert "RSS after" in header and "duration" in header
    rows = lines[2 : 2 + len(history)]
    for row, record in zip(rows, history, strict=True):
        assert row.lstrip().startswith(f"[{record['execution_count']}]")
        # Right-aligned numbers end where their header ends.
        assert row[header.index("duration") + len("duration") - 1] == "s"
        assert row[header.index("RSS after") + len("RSS after") - 1] == "B"
    assert "raised ZeroDivisionError" in rows[2]
    assert "+2.0 MB" in rows[0] or "+2.1 MB" in rows[0]
    # Each column one metric: a light cell has no traced figure (a dash).
    traced_at = header.index("traced \u0394") + len("traced \u0394") - 1
    light = [row for row, r in zip(rows, history, strict=True) if r["mode"] == "light"]
    assert light and all(row[traced_at] == "\u2014" for row in light)
    # The allocated column: the records' figures where mallinfo2 was read, else dashes (this
    # test process's heap may be fragmented enough for the reader to be given up).
    alloc_at = header.index("alloc \u0394") + len("alloc \u0394") - 1
    total = lines[2 + len(history) + 1]
    if any(r.get("alloc_delta") is not None for r in history):
        assert re.search(r"^total: allocated [+-].*, traced [+-]", total)
    else:
        assert {r["alloc_method"] for r in history} <= {"too-slow", "unavailable"}
        assert all(row[alloc_at] == "\u2014" for row in rows)
        assert re.search(r"^total: traced [+-]", total)
    assert out.rstrip().endswith("no leak suspects after the last cell")


def test_report_table_limits_rows_and_lists_suspects():
    base = json.loads((SCHEMA_DIR / "fixtures" / "valid" / "record.json").read_text())["record"]
    records = []
    for i in range(60):
        records.append({**base, "seq": i + 1, "execution_count": i + 1, "traced_delta": i})
    leaky = json.loads((SCHEMA_DIR / "fixtures" / "valid" / "record-leaks.json").read_text())
    # The last cell (light: its RSS grew 88 MB) carries the current suspects.
    records[-1] = {**leaky["record"], "seq": 60, "execution_count": 60, "rss_after": 600_000_000}
    text = text_report.format_text(records, limit=10)
    assert "60 cell(s) recorded; the 10 that grew memory most are shown" in text
    shown = re.findall(r"^\s+\[(\d+)\]", text, flags=re.M)
    assert shown == [str(n) for n in range(51, 61)]
    assert "leak suspects after the last cell" in text
    assert re.search(r"^  Out\[12\]\s+output-history\s+381\.0 MB  Out\[12\]", text, re.M)
    assert text_report.format_text([]) == "memtrack: no cells recorded yet"


# --------------------------------------------------------------------------- a real kernel


@pytest.fixture(scope="module")
def kernel_client(tmp_path_factory):
    with real_kernel(tmp_path_factory) as (_, kc):
        yield kc


def test_export_and_report_in_a_real_kernel(kernel_client, tmp_path):
    from test_kernel import execute, stdout_text

    kc = kernel_client
    for code in (
        "%load_ext memtrack",
        "%%memtrack --label kernel cell\nkb = bytearray(1_000_000)",
        "%memtrack on",
        "light = [0] * 1000",
    ):
        assert execute(kc, code)["content"]["status"] == "ok"
    path = tmp_path / "kernel.json"
    reply = execute(kc, f"%memtrack export {path}")
    assert reply["content"]["status"] == "ok", reply["content"]
    assert f"wrote 2 cell(s) to {path}" in stdout_text(reply["iopub"])
    data = json.loads(path.read_text("utf-8"))
    report_validator().validate(data)
    assert [c["mode"] for c in data["cells"]] == ["deep", "light"]
    assert data["cells"][0]["label"] == "kernel cell" and data["kernel"]["pid"] != os.getpid()

    html_path = tmp_path / "kernel.html"
    assert execute(kc, f"%memtrack export {html_path}")["content"]["status"] == "ok"
    # The cell that wrote the JSON was tracked too (light mode is on).
    assert html_path.read_text("utf-8").count('<tr class="jp-Memtrack-cell"') == 3

    bad = execute(kc, f"%memtrack export {tmp_path / 'missing' / 'r.json'}")["content"]
    assert bad["status"] == "error" and bad["ename"] == "UsageError"
    assert f"directory {tmp_path / 'missing'} does not exist" in bad["evalue"]

    table = stdout_text(execute(kc, "%memtrack report")["iopub"])
    header = r"\[n\]\s+label\s+mode\s+alloc \u0394\s+RSS \u0394\s+RSS peak\+\s+traced \u0394"
    assert re.search(header, table)
    assert "kernel cell" in table
