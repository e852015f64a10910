"""The project's set-up promises: environment.yml in step with pyproject.toml, pinned constraints."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
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


# --------------------------------------------------------------------------- book templates
def _data_files() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]


def test_every_book_template_file_is_shipped_as_data():
    """Each book/<kind>/ file is matched by the data-files line that installs it under share/."""
    data = _data_files()
    for kind in sorted(p for p in (ROOT / "book").iterdir() if p.is_dir()):
        target = f"share/vsoko_toolkit/book/{kind.name}"
        assert target in data, f"pyproject: [tool.setuptools.data-files] нет строки для {kind}"
        shipped = {f for pattern in data[target] for f in ROOT.glob(pattern) if f.is_file()}
        files = {f for f in kind.rglob("*") if f.is_file() and "_build" not in f.parts}
        assert files - shipped == set(), (kind.name, sorted(files - shipped))


def test_installed_wheel_finds_the_book_templates(tmp_path):
    """Build the wheel and sdist (no network), install the wheel into a fresh venv, look the templates up."""
    import os
    import shutil
    import subprocess
    import sys
    import tarfile
    import zipfile

    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    junk = shutil.ignore_patterns("__pycache__", "_build", "*.pyc")
    for folder in ("vsoko_toolkit", "book"):
        shutil.copytree(ROOT / folder, src / folder, ignore=junk)
    for what in ("wheel", "sdist"):   # one process each: setuptools' state leaks between them
        build = f"import sys; from setuptools import build_meta as b; b.build_{what}(sys.argv[1])"
        subprocess.run([sys.executable, "-c", build, str(tmp_path / "dist")], cwd=src,
                       check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    (sdist,) = (tmp_path / "dist").glob("*.tar.gz")
    kinds = sorted(p.name for p in (ROOT / "book").iterdir() if p.is_dir())
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert "vsoko_toolkit/cycle/default.yaml" in in_wheel  # the default cyclogram ships as package data
    with tarfile.open(sdist) as tar:
        in_sdist = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for kind in kinds:
        for name in ("_config.yml", "_toc.yml", "index.md", "vsoko.css", "preamble.tex"):
            assert (f"vsoko_toolkit-0.1.0.data/data/share/vsoko_toolkit/book/{kind}/{name}"
                    in in_wheel), (kind, name)
            assert f"book/{kind}/{name}" in in_sdist, (kind, name)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    # the dependencies come from this environment; the package and its data from the new venv
    site = next(p for p in sys.path if p.endswith("site-packages"))
    look = ("import json; from vsoko_toolkit.pipeline import book as b; "
            f"print(json.dumps([b.__file__, *[str(b.find_template(k)) for k in {kinds!r}]]))")
    out = subprocess.run([str(python), "-c", look], cwd=tmp_path, check=True, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": site}).stdout
    module, *found = json.loads(out)
    assert module.startswith(str(venv))
    for kind, folder in zip(kinds, found, strict=True):
        assert Path(folder) == (venv / "share" / "vsoko_toolkit" / "book" / kind).resolve()
