"""The vendored MathJax 3 of the book (formulas offline). The book's CSS, LaTeX preamble and
title page are editable templates in the repository's ``book/<kind>/`` (see ``pipeline.book``).

MathJax is vendored (``_vendor/mathjax/``, about 1.6 MB: the single-file ``tex-chtml.js``
component, its woff-v2 fonts and the Apache-2.0 licence) rather than fetched into a
cache at build time: a school's computer may have neither network nor npm, and the
book must render formulas offline from a fresh clone. ``python -m
vsoko_toolkit.pipeline.assets`` refreshes the vendored copy from the npm registry
(``npm pack mathjax@<version>``), the only step that needs the network.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

MATHJAX_VERSION = "3.2.2"
MATHJAX_ENTRY = "tex-chtml.js"
MATHJAX_DIR = Path(__file__).with_name("_vendor") / "mathjax"

# files kept from the npm package (paths inside its ``es5/`` folder, plus the licence)
_MATHJAX_KEEP = (MATHJAX_ENTRY, "output/chtml/fonts/woff-v2/")


def mathjax_available() -> bool:
    """True when the vendored MathJax (entry script and fonts) is complete."""
    fonts = MATHJAX_DIR / "output" / "chtml" / "fonts" / "woff-v2"
    return (MATHJAX_DIR / MATHJAX_ENTRY).is_file() and any(fonts.glob("*.woff"))


def copy_mathjax(dest: Path) -> Path | None:
    """Copy the vendored MathJax into ``dest`` (a folder); the entry script's path, or None."""
    if not mathjax_available():
        return None
    shutil.copytree(MATHJAX_DIR, dest, dirs_exist_ok=True)
    return dest / MATHJAX_ENTRY


def vendor_mathjax(version: str = MATHJAX_VERSION, dest: Path = MATHJAX_DIR) -> Path:
    """Fetch ``mathjax@version`` with ``npm pack`` and keep only what the book loads."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm не найден: MathJax можно обновить только через реестр npm.")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", f"mathjax@{version}", "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        (tgz,) = Path(tmp).glob("mathjax-*.tgz")
        with tarfile.open(tgz) as tar:
            tar.extractall(tmp, filter="data")
        pkg = Path(tmp) / "package"
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        shutil.copy2(pkg / "LICENSE", dest / "LICENSE")
        for keep in _MATHJAX_KEEP:
            src = pkg / "es5" / keep
            if src.is_dir():
                shutil.copytree(src, dest / keep)
            else:
                shutil.copy2(src, dest / keep)
        (dest / "VERSION").write_text(f"mathjax@{version} (npm), es5/{MATHJAX_ENTRY}\n")
    return dest


if __name__ == "__main__":
    print(vendor_mathjax(*sys.argv[1:2]))
