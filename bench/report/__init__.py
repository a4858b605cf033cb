"""Reports: ``bench report`` (:mod:`bench.report.writer`) and its figures (:mod:`bench.report.figures`)."""
