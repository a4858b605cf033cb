"""BD tables as Markdown and LaTeX (bench/report/tables.py): intervals, quality ranges, one-codec reports,
tabulars whose rows fit their columns."""

from __future__ import annotations

import re

import pytest

from bench.analysis.bd_table import BD_COLUMNS, bd_table
from bench.report.tables import bd_latex as to_latex
from bench.report.tables import bd_markdown as to_markdown
from bench.report.writer import ReportConfig, make_report
from conftest import quiet_run
from rd_data import bd_row, bootstrap_curve, bootstrap_rows, points_curve


def test_the_table_columns_and_cells_show_the_interval():
    anchor = bootstrap_curve(bootstrap_rows("jpeg", 8, 0.0, 8))
    test = bootstrap_curve(bootstrap_rows("test", 8, 0.3, 9))
    table = bd_table([anchor, test], anchor, resamples=200, seed=3)
    assert tuple(table.columns) == BD_COLUMNS
    row = bd_row(table, "test")
    md = to_markdown(table, "mean-curve")
    cell = f"{row.bd_rate:+.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]"
    assert cell in md and "[95% CI]" in md and "(200 resamples, seed 3)" in md
    tex = to_latex(table, "mean-curve")
    assert f"${row.bd_rate:+.2f}$ [${row.ci_low:.2f}$, ${row.ci_high:.2f}$]" in tex and "[95\\% CI]" in tex
    assert re.search(r"\[\$-?\d+\.\d\d\$, \$-?\d+\.\d\d\$\] & ", tex)
    plain = bd_table([anchor, test], anchor, resamples=0)
    assert "[95% CI]" not in to_markdown(plain) and re.search(r"\| -\d+\.\d\d \|", to_markdown(plain))


def test_bd_rows_show_the_interval_integrated_over_and_warn_when_it_is_narrow():
    anchor = points_curve("A", [0.1, 0.3, 0.8, 2.0], [25.0, 30.0, 37.0, 45.0])
    test = points_curve("T", [0.25, 0.4, 0.6], [30.0, 31.5, 33.0])
    table = bd_table([anchor, test], anchor)
    row = bd_row(table, "T")
    assert row.quality_low == pytest.approx(30.0) and row.quality_high == pytest.approx(33.0)
    assert "anchor" in row.note and "15%" in row.note
    md = to_markdown(table, "mean-curve")
    assert "30.0–33.0" in md
    tex = to_latex(table, "mean-curve")
    assert "30.0--33.0" in tex
    _check_tabulars(tex)


def _check_tabulars(tex: str) -> None:
    """Every tabular's rows have as many cells as its column spec (\\multicolumn counted)."""
    blocks = re.findall(r"\\begin\{tabular\}\{([^}]*)\}(.*?)\\end\{tabular\}", tex, re.S)
    assert blocks, tex
    for spec, body in blocks:
        columns = len(re.findall(r"[lrcp]", re.sub(r"@\{[^}]*\}", "", spec)))
        assert columns >= 1, spec
        for line in body.split("\\\\")[:-1]:
            line = re.sub(r"\\(toprule|midrule|bottomrule|cmidrule(\([lr]+\))?\{[^}]*\})", "", line).strip()
            line = "\n".join(part for part in line.splitlines() if not part.lstrip().startswith("%")).strip()
            if not line:
                continue
            cells = re.split(r"(?<!\\)&", line)
            spans = sum(int(m) for m in re.findall(r"\\multicolumn\{(\d+)\}", line))
            count = len(cells) - len(re.findall(r"\\multicolumn", line)) + spans
            assert count == columns, (spec, line)


def test_a_report_with_one_codec_is_sensible(tmp_path, small_dataset):
    out = tmp_path / "one"
    quiet_run(dataset=str(small_dataset), codecs=("jpeg",), qualities=(10, 30, 60, 90), out=out, jobs=2)
    result = make_report(ReportConfig(runs=(out,), out=tmp_path / "rep"))
    md = (tmp_path / "rep" / "bd_rate.md").read_text()
    page = (tmp_path / "rep" / "report.md").read_text()
    tex = (tmp_path / "rep" / "bd_rate.tex").read_text()
    for text in (md, page, tex):
        assert "against ?" not in text, text
    assert "nothing to compare" in md
    _check_tabulars(tex)
    assert result.table.empty
    empty = result.table
    assert "against ?" not in to_markdown(empty) and "against ?" not in to_latex(empty)
    _check_tabulars(to_latex(empty))


#: Curve labels that Markdown, HTML or LaTeX would read as markup.
HOSTILE = ("a|b", "two\nlines", "<script>alert(1)</script>", "*bold* [x](y) `c` \\ &")


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def _check_markdown_tables(text: str) -> None:
    """Every row of every Markdown table has as many cells as its header, and nothing reads as HTML."""
    assert "<script>" not in text and "<" not in text.replace("<br>", ""), text
    header = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        header = header or _unescaped_pipes(line)
        assert _unescaped_pipes(line) == header, line


def _hostile_table():
    anchor = bootstrap_curve(bootstrap_rows("jpeg", 6, 0.0, 8), label="jpeg|anchor")
    tests = [bootstrap_curve(bootstrap_rows(name, 6, 0.2, i), label=name) for i, name in enumerate(HOSTILE)]
    return anchor, tests, bd_table([anchor, *tests], anchor, resamples=20)


def test_markdown_tables_escape_curve_names():
    from bench.report.tables import markdown_text, paired_markdown

    anchor, tests, table = _hostile_table()
    for text in (to_markdown(table, "mean-curve"), to_markdown(table, "per-image"), paired_markdown(table)):
        _check_markdown_tables(text)
        for name in HOSTILE:
            assert f"| {markdown_text(name)} |" in text
    assert markdown_text("a|b\nc <s>") == "a\\|b c &lt;s&gt;"


def test_matched_quality_markdown_escapes_curve_names():
    from bench.analysis.matched import matched_table
    from bench.report.tables import matched_markdown

    anchor, tests, _ = _hostile_table()
    text = matched_markdown(matched_table([anchor, *tests], anchor), [])
    _check_markdown_tables(text)
    assert "two lines" in text and "jpeg\\|anchor" in text


def test_latex_tables_escape_curve_names_and_keep_comments_on_one_line():
    anchor, tests, table = _hostile_table()
    tex = to_latex(table, "mean-curve")
    _check_tabulars(tex)
    for line in tex.splitlines():  # a name's line break would end a % comment, the rest read as LaTeX
        assert line.startswith(("%", "\\")) or line.endswith("\\\\"), line
    assert "a\\textbar{}b" in tex and "\\textless{}script\\textgreater{}" in tex and "<" not in tex
