"""The statistical checks on real arrays and tables: numbers, sampling bounds, drift, hashing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from goldfish_svs import settings, stats, tables
from goldfish_svs.config import SvsConfig


def checks(**layer: Any) -> dict[str, dict[str, Any]]:
    resolved = settings.resolve(SvsConfig.model_validate({}), layer, None, "x")
    return {k: v for k, v in resolved.items() if settings.is_on(v)}


def by_check(results: list[stats.Result]) -> dict[str, stats.Result]:
    return {r.check: r for r in results}


def test_large_arrays_are_sampled_in_bounded_blocks(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(2_000_000, 16))
    arr[:1000] = 1.0
    arr[-1000:] = np.nan
    arr.flush()
    del arr
    results = by_check(stats.check_array(path, checks(), sample_size=100_000, full_scan_mb=1))
    nan = results["nan_ratio"]
    assert nan.data["sampled"] is True and nan.data["exact"] is False
    assert nan.data["sample_size"] <= 100_000 and nan.data["rows"] == 2_000_000
    exact = by_check(stats.check_array(path, checks(), sample_size=100_000,
                                       full_scan_mb=1024))["nan_ratio"]
    assert exact.data["exact"] is True and exact.data["count"] == 16_000
    assert exact.data["total"] == 32_000_000 and not exact.passed


def test_sampling_is_deterministic_and_never_overlaps() -> None:
    arr = np.arange(1_000_000, dtype=np.int64).reshape(-1, 1)
    a = stats.sample_rows(arr, 10_000)
    b = stats.sample_rows(arr, 10_000)
    assert np.array_equal(a.values, b.values)
    assert len(np.unique(a.values)) == a.values.size  # no row twice
    assert a.sampled_rows <= 10_000 and not a.exact


def test_row_hashes_match_equal_rows_only() -> None:
    rows = np.random.default_rng(1).normal(size=(1000, 3))
    rows[10] = rows[20]
    h = stats.row_hashes(rows)
    assert h[10] == h[20] and len(np.unique(h)) == 999
    odd = np.frombuffer(b"abcdefghijklmnopqrstu", dtype="S7")  # 7-byte rows need padding
    assert len(np.unique(stats.row_hashes(odd))) == 3


def test_drift_flags_a_shifted_distribution_with_psi_and_ks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ref, same, shifted = (tmp_path / f"{n}.npy" for n in ("ref", "same", "shift"))
    np.save(ref, rng.normal(size=20_000))
    np.save(same, rng.normal(size=20_000))
    np.save(shifted, rng.normal(loc=1.0, size=20_000))
    on = checks(drift={"reference": "r1", "max_psi": 0.25, "max_ks": 0.1})
    calm = by_check(stats.check_array(same, on, sample_size=10**6, full_scan_mb=10,
                                      reference=ref))["drift"]
    moved = by_check(stats.check_array(shifted, on, sample_size=10**6, full_scan_mb=10,
                                       reference=ref))["drift"]
    assert calm.passed and calm.data["psi"] < 0.05 and calm.data["ks"] < 0.05
    assert not moved.passed and moved.data["psi"] > 0.25 and moved.data["ks"] > 0.3


def test_class_balance_warns_on_a_rare_class_and_blocks_on_one_class() -> None:
    labels = np.array([0] * 995 + [1] * 5)
    s = stats.sample_rows(labels, 10**6)
    rare = stats.class_balance(s, {"min_classes": 2, "min_share": 0.01})
    assert rare is not None and not rare.passed and rare.severity == "warning"
    assert rare.data["rarest_share"] == pytest.approx(0.005)
    ids = stats.class_balance(stats.sample_rows(np.arange(5000), 10**6), {"max_classes": 1000})
    assert ids is None  # 5000 distinct ints are not labels


def test_entropy_unique_ratio_and_vocab(tmp_path: Path) -> None:
    path = tmp_path / "tokens.npy"
    np.save(path, np.random.default_rng(0).integers(0, 50, size=(400, 8)))
    found = by_check(stats.check_array(
        path, checks(unique_ratio={"min": 0.5}, vocab_utilization={"vocab_size": 1000,
                                                                   "min": 0.1}),
        sample_size=10**6, full_scan_mb=10))
    assert found["entropy"].data["value"] == pytest.approx(np.log2(50), abs=0.1)
    assert found["unique_ratio"].passed
    vocab = found["vocab_utilization"]
    assert not vocab.passed and vocab.data["used"] == 50 and vocab.data["value"] == 0.05


def test_layers_override_in_order() -> None:
    config = SvsConfig.model_validate({"checks": {"nan_ratio": {"max": 0.1}, "entropy": False}})
    resolved = settings.resolve(
        config, {"nan_ratio": {"max": 0.2, "signal": "other"}, "range": {"min": 0}},
        {"checks": {"inf_ratio": 0.3}}, "x",
        [{"check": "row_count", "signal": "x", "min": 5, "pattern": "p-1"}])
    assert resolved["nan_ratio"]["max"] == 0.1  # the stage layer names another signal
    assert "entropy" not in resolved
    assert resolved["inf_ratio"]["max"] == 0.3 and resolved["range"]["min"] == 0
    assert resolved["row_count"] == {"on": True, "severity": "blocking", "min": 5,
                                     "pattern": "p-1", "asked": True}
    assert "asked" not in resolved["collapsed"]  # on by default, configured by nobody
    assert settings.severity({"severity": "blocking"}, "warning") == "warning"


def test_table_checks_count_nulls_nans_and_label_classes(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    rows = ["id,score,label"] + [f"{i},{'nan' if i < 5 else i / 10},{'a'}" for i in range(100)]
    rows[50] = "49,,a"
    path.write_text("\n".join(rows) + "\n")
    found = by_check(tables.check_table(path, checks(), sample_size=10**6))
    assert found["nan_ratio"].data["count"] == 5 and not found["nan_ratio"].passed
    assert found["null_ratio"].data["count"] == 1 and found["null_ratio"].passed
    assert not found["class_balance"].passed and found["class_balance"].data["classes"] == 1
    hashes = tables.line_hashes(path, 1000)
    assert hashes.size == 100 and len(np.unique(hashes)) == 100


def _run(tmp_path: Path, name: str, arr: Any, **layer: Any) -> dict[str, stats.Result]:
    np.save(tmp_path / f"{name}.npy", arr)
    return by_check(stats.check_array(tmp_path / f"{name}.npy", checks(**layer),
                                      sample_size=1_000_000, full_scan_mb=64))


def test_automatic_checks_skip_data_where_their_statistic_means_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    one_hot = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=1000)]
    found = _run(tmp_path, "one_hot", one_hot)
    assert {"collapsed", "top_k_concentration", "entropy"}.isdisjoint(found)  # 8 rows possible
    assert found["nan_ratio"].passed and found["constant"].passed
    asked = _run(tmp_path, "one_hot", one_hot, collapsed=True)  # configured: judged anyway
    assert not asked["collapsed"].passed and asked["collapsed"].data["distinct"] == 3

    small = _run(tmp_path, "best_epoch", np.array([5]))
    assert "class_balance" not in small and "constant" not in small
    assert "class_balance" not in _run(tmp_path, "shape", np.array([7, 7, 7]))
    assert not _run(tmp_path, "labels", np.zeros(1000, dtype=np.int64))["class_balance"].passed

    image = rng.integers(0, 256, size=784).astype(np.uint8)  # the same image 500 times
    images = _run(tmp_path, "images", np.tile(image, (500, 1)))
    assert not images["collapsed"].passed  # 256 values ** 784 wide: a collapse means something
    categories = rng.integers(0, 3, size=(1000, 8))  # 3 ** 8 = 6561 possible rows: judged
    assert _run(tmp_path, "categories", categories)["collapsed"].passed


def test_a_handful_of_label_rows_is_not_judged_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "few.csv"
    path.write_text("id,label\n1,a\n2,a\n3,a\n")
    assert "class_balance" not in by_check(tables.check_table(path, checks(), sample_size=1000))
    asked = by_check(tables.check_table(path, checks(class_balance=True), sample_size=1000))
    assert not asked["class_balance"].passed
