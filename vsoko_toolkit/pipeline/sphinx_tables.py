"""A Sphinx extension the book build adds: tables of the PDF book as LaTeX, not as formulas.

A chapter shows a table with both an HTML and a LaTeX representation (``RunContext.show``). For the PDF, myst-nb
picks ``text/latex`` and renders it as a display formula (``\\begin{equation*}\\begin{split}…``), where a
``longtable`` cannot live: XeLaTeX stops and the book falls back to a PDF printed by Chromium. This extension
turns such formula blocks (those holding a ``longtable``) back into raw LaTeX before the LaTeX writer runs.
"""

from __future__ import annotations

from docutils import nodes


def raw_tables(app, doctree, docname) -> None:
    if app is not None and getattr(app.builder, "format", "latex") != "latex":
        return  # HTML shows the table's HTML; nothing to change there
    for node in list(doctree.findall(nodes.math_block)):
        text = node.astext()
        if "\\begin{longtable}" in text:
            node.replace_self(nodes.raw("", text, format="latex"))


def setup(app):
    app.connect("doctree-resolved", raw_tables)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
