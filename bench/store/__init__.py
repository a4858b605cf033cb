"""The store of a run: the crash-safe SQLite file (:mod:`bench.store.sqlite`), its CSV exports, and
what produced the results (:mod:`bench.store.provenance`)."""
