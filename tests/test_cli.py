"""The `vsoko` command line: Russian help with an example per command, exit codes, readable summaries."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vsoko_toolkit.cli import app

COMMANDS = ["validate", "ingest", "info", "import", "run", "batch", "book", "demo", "synth"]
runner = CliRunner()


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_russian_with_an_example(command):
    r = runner.invoke(app, [command, "--help"], env={"COLUMNS": "120"})
    assert r.exit_code == 0
    assert "Пример" in r.output and "Использование" in r.output and "Показать эту справку" in r.output
    assert f"vsoko {command}" in r.output


def test_ingest_prints_the_summary_and_rejects_path(mini, tmp_path):
    with open(mini / "period_marks.csv", "a", encoding="utf-8") as fh:
        fh.write("0001,S01-2025-5А,История,year,7\r\n")
    r = runner.invoke(app, ["ingest", str(mini), "--db", str(tmp_path / "w.duckdb"), "--no-progress"],
                      env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "period_marks" in r.output and "Отклонено строк: 1" in r.output and "rejects.csv" in r.output
    r = runner.invoke(app, ["info", "--db", str(tmp_path / "w.duckdb")], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "2024/2025" in r.output


def test_fatal_input_exits_2_with_a_russian_message(mini, tmp_path):
    (mini / "students.csv").unlink()
    r = runner.invoke(app, ["validate", str(mini), "--rejects", str(tmp_path / "rej"), "--no-progress"],
                      env={"COLUMNS": "200"})
    assert r.exit_code == 2 and "students.csv" in r.output and "Ошибка" in r.output


def test_validate_reports_which_analyses_the_data_allows(mini, tmp_path):
    """Issue 14: the readiness report — MINI has no decisions, surveys or journal_mark and one year of marks."""
    r = runner.invoke(app, ["validate", str(mini), "--rejects", str(tmp_path / "rej"), "--no-progress"],
                      env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert "Готовность данных к анализам" in r.output
    out = " ".join(r.output.split())
    assert "Эффективность управленческих решений" in out and "нужна таблица decisions" in out
    assert "нужна таблица period_marks хотя бы за 2 учебных года" in out  # value added, trends
    assert "выполняется с заменой" in out and "journal_mark" in out  # objectivity derives the journal mark
    assert "Итого — " in out


def test_readiness_lists_fallbacks_and_missing_data_for_a_profile():
    from vsoko_toolkit.contract.spec import TABLES
    from vsoko_toolkit.report.readiness import readiness_frame

    full = {t.name: {"rows": 10, "columns": {c.name: 10 for c in t.columns}, "years": [2023, 2024, 2025]}
            for t in TABLES.values()}
    f = readiness_frame(full)
    assert set(f["состояние"]) == {"выполняется"}
    minimal = {t.name: {"rows": 10 if t.required else 0,
                        "columns": {c.name: (10 if t.required and c.required else 0) for c in t.columns},
                        "years": [2023, 2024, 2025]} for t in TABLES.values()}
    m = readiness_frame(minimal).set_index("анализ")
    assert m.loc["Объективность оценивания: ВПР и отметки журнала", "состояние"] == "не выполняется"
    assert m.loc["Успеваемость, качество знаний, СОУ по годовым отметкам", "состояние"] == "выполняется"
    assert (m["состояние"] == "выполняется с заменой").any()
