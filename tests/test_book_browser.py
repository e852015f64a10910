"""The built book in a real browser: Debian's headless Chromium driven by Playwright.

``playwright install`` cannot download browsers here, so Playwright drives Debian's
``/usr/bin/chromium`` (``executable_path``). When Chromium is missing, the session
fixture installs it with ``scripts/install_system_deps.sh chromium`` (root + apt-get,
as CI and a newcomer's machine are); the tests skip, saying why, only where that fails.

The book is opened from ``file://``; every request the page makes is recorded and must
stay inside the book's folder (anything else is aborted and reported).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from vsoko_toolkit.pipeline.book import chromium_flags, find_chromium

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]


def _chromium() -> str | None:
    path = find_chromium()
    if path is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["bash", str(ROOT / "scripts" / "install_system_deps.sh"), "chromium"],
                       check=False, timeout=900)
        path = find_chromium()
    return path


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="пакет playwright не установлен (pip install playwright)")
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium не установлен и не ставится (нужны root и apt-get: "
                    "scripts/install_system_deps.sh chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True,
                              args=[*chromium_flags(), "--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def book(tmp_path_factory):
    from test_book import built_book  # the same book as test_book.py, built once

    return built_book(tmp_path_factory)[1]


def _inside(url: str, folder: Path) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in ("data", "blob", "about"):
        return True
    if parsed.scheme != "file":
        return False
    return Path(unquote(parsed.path)).resolve().is_relative_to(folder)


def test_book_in_browser(browser, book):
    site = book.html_index.parent.resolve()
    requests: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")

    def guard(route):
        requests.append(route.request.url)
        if _inside(route.request.url, site):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # title page: school, academic year, profile; the table of contents in order
    page.goto(book.html_index.as_uri())
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").first.inner_text().startswith("Анализ работы школы за 2024/2025")
    body = page.locator("article").inner_text()
    assert "МБОУ «СОШ № 1» г. Энска" in body and "для администрации школы" in body
    toc = page.locator("nav.bd-links a").all_inner_texts()
    assert [t.strip() for t in toc] == ["Сводка ключевых проблем", "Результаты и их динамика",
                                        "Внешние оценки и объективность", "Группы риска"]
    page.screenshot(path=str(book.book_dir / "screenshot.png"))

    # navigation by the table of contents; a figure, a glued number, a formula
    page.locator("nav.bd-links a", has_text="Сводка ключевых проблем").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("chapters/01_summary.html")
    assert "Доля неуспевающих составила 12.3 %" in page.locator("article").inner_text()
    img = page.locator("article img").first
    img.scroll_into_view_if_needed()
    assert page.evaluate("i => i.complete && i.naturalWidth", img.element_handle()) > 100
    page.wait_for_selector("mjx-container", timeout=10_000)   # local MathJax rendered
    page.screenshot(path=str(book.book_dir / "screenshot_chapter.png"), full_page=True)

    # a failed chapter shows its error in the page
    page.locator("nav.bd-links a", has_text="Внешние оценки").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("chapters/03_external.html")
    box = page.locator("div.admonition.error").inner_text()
    assert "ячейке № 4" in box and "ZeroDivisionError" in box

    context.close()
    outside = [u for u in requests if not _inside(u, site)]
    assert outside == [], f"запросы за пределы книги: {outside}"
    assert len(requests) > 20   # the guard saw the page's own requests
    assert errors == []


@pytest.fixture(scope="session")
def training_book(tmp_path_factory, sample_db_path):
    from vsoko_toolkit.pipeline.demo import demo_school, sample_folder
    from vsoko_toolkit.pipeline.training import run_training
    from vsoko_toolkit.report.training import open_lesson

    school, year = demo_school(sample_folder(sample_db_path.parent), sample_db_path)
    wrong = open_lesson(1, sample_db_path, school, year).answers(wrong=True)["answer_1c"]
    res = run_training(sample_db_path, school, year, tmp_path_factory.mktemp("training_browser"),
                       answers={1: {"answer_1c": wrong}}, sample_db=sample_db_path, workers=2)
    return res.book


def test_training_book_in_browser(browser, training_book):
    """The training book: title, eight lessons in the contents, a lesson's figure, a verdict, offline."""
    book = training_book
    site = book.html_index.parent.resolve()
    requests: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")

    def guard(route):
        requests.append(route.request.url)
        if _inside(route.request.url, site):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(book.html_index.as_uri())
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").first.inner_text().startswith("Учебная книга")
    toc = [x.strip() for x in page.locator("nav.bd-links a").all_inner_texts()]
    assert len(toc) == 8 and toc[0].startswith("Урок 1.") and toc[-1].startswith("Урок 8.")
    page.screenshot(path=str(book.book_dir / "screenshot_training.png"))

    page.locator("nav.bd-links a", has_text="Урок 1.").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("chapters/01_interval.html")
    text = page.locator("article").inner_text()
    assert "95-процентный интервал" in text and "{glue" not in text
    img = page.locator("article img").first
    img.scroll_into_view_if_needed()
    assert page.evaluate("i => i.complete && i.naturalWidth", img.element_handle()) > 100
    verdicts = page.locator("div.vsoko-verdict")
    assert verdicts.count() == 3
    assert "Неверно." in verdicts.nth(2).inner_text()   # the injected wrong answer to exercise 3
    verdicts.nth(2).locator("summary").click()
    assert "Правильный ответ" in verdicts.nth(2).inner_text()
    page.screenshot(path=str(book.book_dir / "screenshot_training_lesson.png"), full_page=True)

    context.close()
    outside = [u for u in requests if not _inside(u, site)]
    assert outside == [], f"запросы за пределы книги: {outside}"
    assert errors == []


@pytest.fixture(scope="session")
def municipal_book(tmp_path_factory, sample_db_path):
    import json

    from vsoko_toolkit.pipeline.municipal import run_municipal

    truth = json.loads((ROOT / "data_samples" / "municipality" / "truth.json").read_text(encoding="utf-8"))
    return run_municipal(sample_db_path, truth["params"]["last_year"], tmp_path_factory.mktemp("municipal_browser"),
                         workers=2).book


def test_municipal_book_in_browser(browser, municipal_book):
    """The municipal book: title, five chapters in the contents, the schools chapter's figures, offline."""
    book = municipal_book
    site = book.html_index.parent.resolve()
    requests: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")

    def guard(route):
        requests.append(route.request.url)
        if _inside(route.request.url, site):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(book.html_index.as_uri())
    page.wait_for_load_state("networkidle")
    assert "муниципальн" in page.locator("h1").first.inner_text().lower()
    toc = [x.strip() for x in page.locator("nav.bd-links a").all_inner_texts()]
    assert len(toc) == 5 and toc[0].startswith("Главное") and toc[-1].startswith("Приложение")
    page.screenshot(path=str(book.book_dir / "screenshot_municipal.png"))

    page.locator("nav.bd-links a", has_text="Сравнение школ").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("chapters/02_schools.html")
    text = page.locator("article").inner_text()
    import re

    assert "{glue" not in text and re.search(r"В сравнении \d+ школ", text), text[:300]
    assert "не построен" not in text and "не рассчитан" not in text  # real figures, not empty-data placeholders
    assert len(page.locator("article table").first.locator("tbody tr").all()) >= 4  # one row per school
    imgs = page.locator("article img")
    assert imgs.count() >= 5
    for i in range(imgs.count()):
        imgs.nth(i).scroll_into_view_if_needed()
        assert page.evaluate("i => i.complete && i.naturalWidth", imgs.nth(i).element_handle()) > 100
    page.screenshot(path=str(book.book_dir / "screenshot_municipal_schools.png"), full_page=True)

    context.close()
    outside = [u for u in requests if not _inside(u, site)]
    assert outside == [], f"запросы за пределы книги: {outside}"
    assert errors == []
