"""Rendering of results: the report folder of ``bench report``, its tables as text and its figures.

:mod:`bench.report.writer` writes the folder (``bench report``), :mod:`bench.report.tables` renders the
tables (Markdown, LaTeX), :mod:`bench.report.figures` draws the figures (PNG, PDF, SVG).
"""
