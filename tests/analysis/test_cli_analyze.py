"""``survey analyze`` on count-table CSV files."""

from __future__ import annotations

import json

import openpyxl
from click.testing import CliRunner

from survey_app.cli.analyze import analyze


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_satisfaction_table_json_csv_xlsx(tmp_path):
    counts = write(
        tmp_path, "s.csv", "group,satisfied,total\nMIC,830,1000\nMOF,912,1000\nHN,20,25\n"
    )
    table = CliRunner().invoke(analyze, ["satisfaction", "--counts", str(counts)])
    assert table.exit_code == 0, table.output
    assert "MOF" in table.output
    assert "Holm" in table.output
    as_json = CliRunner().invoke(
        analyze, ["satisfaction", "--counts", str(counts), "--format", "json"]
    )
    body = json.loads(as_json.output)
    assert {g["group"] for g in body["groups"]} == {"MIC", "MOF", "HN"}
    out = tmp_path / "s.xlsx"
    done = CliRunner().invoke(
        analyze, ["satisfaction", "--counts", str(counts), "--format", "xlsx", "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    sheet = openpyxl.load_workbook(out).active
    assert sheet["A1"].value == "group"
    csv_out = tmp_path / "s-out.csv"
    CliRunner().invoke(
        analyze, ["satisfaction", "--counts", str(counts), "--format", "csv", "--out", str(csv_out)]
    )
    assert csv_out.read_text(encoding="utf-8-sig").startswith("group,satisfied,total,csat")


def test_reasons_and_trend_with_chart(tmp_path):
    reasons = write(
        tmp_path,
        "r.csv",
        "group,reason,count\nA,portal_error,50\nA,other,10\nB,portal_error,20\nB,other,40\n",
    )
    done = CliRunner().invoke(
        analyze,
        ["reasons", "--counts", str(reasons), "--chart", str(tmp_path / "r.svg"), "--lang", "vi"],
    )
    assert done.exit_code == 0, done.output
    assert (tmp_path / "r.svg").read_bytes().startswith(b"<?xml")
    trend = write(
        tmp_path,
        "t.csv",
        "period,satisfied,total\n2026-01,80,100\n2026-02,85,100\n2026-03,90,100\n",
    )
    done = CliRunner().invoke(
        analyze, ["trend", "--counts", str(trend), "--chart", str(tmp_path / "t.png")]
    )
    assert done.exit_code == 0, done.output
    assert "Cochran-Armitage" in done.output


def test_multi_select_reasons_with_respondents(tmp_path):
    reasons = write(
        tmp_path,
        "r.csv",
        "group,reason,count\nA,portal_error,50\nA,other,10\nB,portal_error,20\nB,other,40\n",
    )
    people = write(tmp_path, "p.csv", "group,respondents\nA,55\nB,50\n")
    done = CliRunner().invoke(
        analyze,
        ["reasons", "--counts", str(reasons), "--respondents", str(people), "--format", "json"],
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["multi_select"] is True


def test_bad_input_is_a_clear_one_line_error(tmp_path):
    cases = [
        ("group,total\nA,3\n", "missing column"),
        ("group,satisfied,total\nA,-1,3\n", "negative"),
        ("group,satisfied,total\nA,5,3\n", "exceeds total"),
        ("", "cannot read"),
    ]
    for text, message in cases:
        counts = write(tmp_path, "bad.csv", text)
        done = CliRunner().invoke(analyze, ["satisfaction", "--counts", str(counts)])
        assert done.exit_code == 2, (text, done.output)
        assert message in done.output
        assert "Traceback" not in done.output
    counts = write(tmp_path, "ok.csv", "group,satisfied,total\nA,1,3\n")
    done = CliRunner().invoke(
        analyze, ["satisfaction", "--counts", str(counts), "--format", "xlsx"]
    )
    assert done.exit_code == 2
    assert "--out" in done.output


def test_suppress_applies_disclosure_control_when_asked(tmp_path):
    counts = tmp_path / "counts.csv"
    counts.write_text("group,satisfied,total\nA,40,50\nB,60,80\nC,90,100\nTINY,2,3\n")
    plain = CliRunner().invoke(
        analyze, ["satisfaction", "--counts", str(counts), "--format", "json"]
    )
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.output)["overall"]["total"] == 233
    done = CliRunner().invoke(
        analyze,
        ["satisfaction", "--counts", str(counts), "--format", "json", "--suppress", "10"],
    )
    assert done.exit_code == 0, done.output
    body = json.loads(done.output)
    withheld = {g["group"] for g in body["groups"] if g["suppressed"]}
    assert withheld == {"TINY", "A"}  # TINY's 3, and the smallest other with them
    assert body["overall"]["total"] == 180
    assert any(m.startswith("disclosure control") for m in body["method"])
