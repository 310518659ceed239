"""Smoke tests of the benchmark code on tiny sizes: result structure and TT == dense (no timing asserts)."""
import json

import numpy as np
import pytest

from benchmarks import bench_ttmatmul, common
from ttrnn_np import cost

TINY = {"sizes": (16,), "cores": (2, 4), "ranks": (1, 2), "batch": 4, "peak_n": 32, "grad_inputs": (6,),
        "grad_output": 8, "grad_cores": (2,), "grad_ranks": (2,), "grad_batches": (3,), "repeats": 2, "warmup": 1}


@pytest.fixture(scope="module")
def tiny_result():
    return bench_ttmatmul.run(**TINY)


def test_the_tiny_run_has_every_row_and_tt_equals_dense(tiny_result):
    rows = tiny_result["rows"]
    assert [(row["N"], row["d"], row["rank"]) for row in rows] == [(16, 2, 1), (16, 2, 2), (16, 4, 1), (16, 4, 2)]
    for row in rows:
        assert row["max_rel_error_vs_dense"] < 1e-12
        m = row["modes"]
        assert row["tt_flops"] == 4 * cost.matmul_flops(m, m, row["rank"])["best"]
        assert row["dense_flops"] == 2 * 4 * 16 * 16
        assert row["tt"]["min_s"] <= row["tt"]["median_s"] <= row["tt"]["max_s"]
        assert row["target_applies"] is False and row["target_met"] is None  # tiny products are below 1e7 FLOPs
    assert tiny_result["target"]["rows_applicable"] == 0


def test_break_even_ranks_come_from_the_cost_model_and_the_timed_ranks(tiny_result):
    assert [(entry["N"], entry["d"]) for entry in tiny_result["break_even"]] == [(16, 2), (16, 4)]
    for entry in tiny_result["break_even"]:
        assert entry["predicted_rank"] == cost.break_even_rank(entry["modes"], entry["modes"])
        assert entry["measured_rank"] is None or entry["measured_rank"] in entry["ranks_tested"]
        assert {1, 2} <= set(entry["ranks_tested"])


def test_the_primitive_and_the_traced_gradients_agree_in_the_autograd_rows(tiny_result):
    (row,) = tiny_result["autograd"]
    assert (row["input"], row["output"], row["d"], row["rank"], row["batch"]) == (6, 8, 2, 2, 3)
    assert row["max_abs_grad_difference"] < 1e-12
    assert row["speedup"] == pytest.approx(row["traced_ms"] / row["primitive_ms"])


def test_the_result_records_the_machine_and_is_json(tiny_result, tmp_path):
    machine = tiny_result["machine"]
    assert machine["logical_cores"] >= 1 and machine["blas"]["name"] and "threads" in machine["blas_threads"]
    assert tiny_result["peak_gemm"]["n"] == 32 and tiny_result["peak_gemm"]["gflops"] > 0
    path = common.write_json(tiny_result, tmp_path / "sub" / "tiny.json")
    assert json.loads(path.read_text())["rows"] == json.loads(json.dumps(tiny_result["rows"]))
    assert "TT product vs dense" in bench_ttmatmul.report(tiny_result)
    assert "| 16 | 2 | 1 |" in bench_ttmatmul.report(tiny_result, markdown=True)


def test_a_cache_budget_override_is_recorded_and_restored():
    default = bench_ttmatmul.ttmatmul.CACHE_BYTES
    result = bench_ttmatmul.run(**{**TINY, "cores": (2,), "ranks": (2,), "grad_inputs": ()}, cache_bytes=1)
    assert result["settings"]["cache_bytes"] == 1 and bench_ttmatmul.ttmatmul.CACHE_BYTES == default
    assert result["rows"][0]["max_rel_error_vs_dense"] < 1e-12 and result["autograd"] == []


def test_unknown_settings_are_refused():
    with pytest.raises(ValueError, match=r"unknown benchmark settings \['size'\]"):
        bench_ttmatmul.run(size=(16,))


def test_measure_returns_per_call_statistics():
    calls = []
    timing = common.measure(lambda: calls.append(1), warmup=3, repeats=4, min_sample_s=1e-4)
    assert timing["repeats"] == 4 and timing["inner"] >= 1
    assert len(calls) == 3 + 4 * timing["inner"]
    assert timing["page_faults_per_call"] is None or timing["page_faults_per_call"] >= 0
    assert timing["min_s"] <= timing["q25_s"] <= timing["median_s"] <= timing["q75_s"] <= timing["max_s"]
    with pytest.raises(ValueError, match="repeats ≥ 1"):
        common.measure(lambda: None, repeats=0)


def test_measure_together_interleaves_the_samples_of_several_functions():
    order = []
    timings = common.measure_together({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                                      warmup=1, repeats=3, min_sample_s=0.0)
    assert order == ["a", "b"] + ["a", "b"] * 3
    assert set(timings) == {"a", "b"} and all(t["repeats"] == 3 and t["inner"] == 1 for t in timings.values())


def test_format_table_aligns_columns_and_marks_missing_values():
    text = common.format_table([{"a": 1, "b": 2.5}, {"a": 10, "b": None}], [("A", "a", "{}"), ("B", "b", "{:.1f}")])
    assert text.splitlines() == [" A    B", "--  ---", " 1  2.5", "10    —"]
    markdown = common.format_table([{"a": 1, "b": None}], [("A", "a", "{}"), ("B", "b", "{:.1f}")], markdown=True)
    assert markdown.splitlines() == ["| A | B |", "|---:|---:|", "| 1 | — |"]


def test_blas_thread_limit_needs_threadpoolctl_or_sets_the_threads():
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="OPENBLAS_NUM_THREADS=1"):
            with common.blas_thread_limit(1):
                pass
    else:
        with common.blas_thread_limit(1):
            assert common.blas_threads()["threads"] == 1
    with common.blas_thread_limit(None):
        assert np.dot(np.ones(3), np.ones(3)) == 3.0
