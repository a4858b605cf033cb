"""The store (bench/store/sqlite.py): values kept exactly, features kept with their record, results of
other codec settings refused, old schemas migrated without losing a value."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest

from bench.api.metric import DEFAULT_METRICS
from bench.api.records import Record
from bench.run.runner import RunSetupError
from bench.store.sqlite import Store, StoreConflict
from conftest import quiet_run


def test_the_store_keeps_features_with_their_record_and_drops_them_with_it(tmp_path):
    with Store(tmp_path / "store.sqlite") as store:
        features = {"f": np.arange(6, dtype=np.float32).reshape(2, 3)}
        reference = {"f": np.ones((2, 3), np.float32)}
        record = Record("c", 1.0, "a.png", 8, 8, 10, 1.25, {"psnr_rgb": 30.0}, 0.1, 0.1, {}, features, reference)
        store.add_record(record)
        np.testing.assert_array_equal(store.features("f", "c")[1.0, "a.png"], features["f"])
        assert store.features("f", "c")[1.0, "a.png"].dtype == np.float32
        np.testing.assert_array_equal(store.reference_features("f")["a.png"], reference["f"])
        empty = {"f": np.zeros((0, 3), np.float32)}  # an image too small for any feature
        store.add_record(Record("c", 2.0, "a.png", 8, 8, 10, 1.25, {"psnr_rgb": 31.0}, 0.1, 0.1, {}, empty, reference))
        assert store.features("f", "c")[2.0, "a.png"].shape == (0, 3)
        assert store.invalidate("c", 1.0, "decode-check", "differs") == 1
        assert store.feature_keys("f") == {("c", 2.0, "a.png")}
        assert store.add_features(("c", 9.0, "a.png"), features, reference) == 0  # no such record
    with sqlite3.connect(tmp_path / "store.sqlite") as db:  # a store from before the feature tables
        db.execute("DROP TABLE features")
        db.execute("DROP TABLE reference_features")
    db.close()
    with Store(tmp_path / "store.sqlite", read_only=True) as old:
        assert old.features("f", "c") == {} and old.reference_features("f") == {} and old.feature_keys("f") == set()


def test_a_store_refuses_results_from_other_codec_settings(tmp_path, small_dataset):
    out = tmp_path / "r"
    quiet_run(dataset=str(small_dataset), codecs=("jpeg",), qualities=(50,), out=out)
    with Store(out / "store.sqlite") as store:
        description = store.codec_descriptions()["jpeg"]
        measured_with = description["versions"]["libjpeg-turbo"]
        description["versions"]["libjpeg-turbo"] = "0.0.1"
        with pytest.raises(StoreConflict, match=rf"versions.libjpeg-turbo: '{measured_with}' -> '0.0.1'"):
            store.bind_codec("jpeg", description)
    with sqlite3.connect(out / "store.sqlite") as db:
        db.execute("UPDATE codecs SET description = replace(description, '\"4:2:0\"', '\"4:4:4\"')")
    with pytest.raises(
        RunSetupError, match=r"holds 'jpeg' results measured with different settings.*subsampling: '4:4:4' -> '4:2:0'"
    ):
        quiet_run(dataset=str(small_dataset), codecs=("jpeg",), qualities=(50,), out=out)


def test_store_keeps_nan_and_inf_exactly(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        scores = {"psnr_rgb": math.inf, "psnr_y": math.inf, "ms_ssim_rgb": math.nan}
        store.add_record(Record("c", 1.0, "i.png", 10, 10, 5, 0.4, scores, 0.1, 0.2, {"k": 1}))
        ones = {"psnr_rgb": 1.0, "psnr_y": 1.0, "ms_ssim_rgb": 1.0}
        store.add_record(Record("c", 1.0, "i.png", 10, 10, 6, 0.5, ones, 0.1, 0.2))  # duplicate key: ignored
        (record,) = store.records()
    assert (
        record.psnr_rgb == math.inf
        and math.isnan(record.ms_ssim_rgb)
        and record.bytes == 5
        and record.extra == {"k": 1}
    )


def test_a_schema_1_store_is_migrated_without_losing_a_value(tmp_path):
    path = tmp_path / "store.sqlite"
    with sqlite3.connect(path) as db:  # the layout codec-bench 0.1 wrote
        db.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('schema_version', '1');
            CREATE TABLE codecs (name TEXT PRIMARY KEY, description TEXT NOT NULL);
            CREATE TABLE records (
                codec TEXT NOT NULL, quality REAL NOT NULL, image TEXT NOT NULL,
                width INTEGER NOT NULL, height INTEGER NOT NULL, bytes INTEGER NOT NULL, bpp REAL NOT NULL,
                psnr_rgb REAL, psnr_y REAL, ms_ssim_rgb REAL, encode_s REAL NOT NULL, decode_s REAL NOT NULL,
                extra TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (codec, quality, image));
            CREATE TABLE failures (codec TEXT NOT NULL, quality REAL NOT NULL, image TEXT NOT NULL,
                stage TEXT NOT NULL, error TEXT NOT NULL, PRIMARY KEY (codec, quality, image));
            CREATE TABLE image_failures (image TEXT PRIMARY KEY, error TEXT NOT NULL);
            INSERT INTO records VALUES ('jpeg', 50, 'a.png', 4, 2, 10, 10.0, 31.5, 33.25, NULL, 0.1, 0.2, '{"k": 1}');
            INSERT INTO records VALUES ('jpeg', 60, 'a.png', 4, 2, 12, 12.0, 1e999, 35.0, 0.95, 0.1, 0.2, '{}');
        """)
    with Store(path) as store:
        records = store.records()
        assert store.metrics() == list(DEFAULT_METRICS)
    assert [r.metrics["psnr_rgb"] for r in records] == [31.5, math.inf]
    assert records[0].psnr_y == 33.25 and math.isnan(records[0].ms_ssim_rgb) and records[1].ms_ssim_rgb == 0.95
    assert records[0].extra == {"k": 1} and records[1].bytes == 12
    with Store(path) as store:  # opening again changes nothing
        assert store.records() == records
