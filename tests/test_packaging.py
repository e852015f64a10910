"""The project's set-up promises: environment.yml in step with pyproject.toml, pinned constraints."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert conda_python == ["python=3.11"]
    assert sorted(p for p in pip if p != "-e .") == sorted(project["dependencies"])


def test_every_dependency_is_pinned_in_constraints():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {_name(line) for line in (ROOT / "requirements/constraints.txt").read_text().splitlines()
            if "==" in line}
    wanted = {_name(d) for d in project["dependencies"] + project["optional-dependencies"]["test"]}
    assert wanted - pins == set()


def test_readme_opens_with_the_two_commands():
    head = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:40])
    assert "make demo" in head and "make test" in head


def test_data_doc_is_generated_from_the_spec():
    from vsoko_toolkit.contract.docs import render

    assert (ROOT / "docs" / "DATA.md").read_text(encoding="utf-8") == render(), (
        "docs/DATA.md is stale: python -m vsoko_toolkit.contract.docs > docs/DATA.md")


def test_optional_data_doc_is_generated_from_the_registry():
    from vsoko_toolkit.report.readiness import render_optional_docs

    assert (ROOT / "docs" / "OPTIONAL_DATA.md").read_text(encoding="utf-8") == render_optional_docs(), (
        "docs/OPTIONAL_DATA.md is stale: python -m vsoko_toolkit.report.readiness > docs/OPTIONAL_DATA.md")
