"""Smoke tests of the benchmark code on tiny sizes: result structure and TT == dense, the figure, the machine
record, and the wiring of ``bench all`` (no timing asserts)."""
import argparse
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from benchmarks import bench_lstm, bench_memory, bench_ttmatmul, common, profile_inference, run_all
from ttrnn_np import cost
from ttrnn_np.experiments import bench_cli, runtime

ROOT = Path(__file__).resolve().parents[1]

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
    assert machine["cpu_count"] >= 1 and machine["blas"]["name"] and "threads" in machine["blas_threads"]
    peak = tiny_result["peak_gemm"]
    assert peak["n"] == 32 and peak["flops"] == 2 * 32 ** 3
    assert peak["gflops"] == pytest.approx(peak["flops"] / peak["median_s"] / 1e9, rel=1e-12)
    assert peak["gflops"] == max(peak["gflops_before"], peak["gflops_after"])
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


# ------------------------------------------------------------------ the machine record (one implementation)

def test_the_benchmark_machine_record_is_the_runtime_record_plus_date_load_and_threads():
    base, machine = runtime.machine_info(), common.machine_info()
    assert set(base) <= set(machine)
    assert set(machine) - set(base) == {"date_utc", "load_average_1_5_15", "command_line", "blas_threads"}
    for key in ("cpu", "cpu_count", "cores_available", "python", "numpy", "autograd", "ttrnn_np"):
        assert machine[key] == base[key]
    assert {"name", "version", "threads", "thread_env", "config"} <= set(base["blas"])
    assert {"cpu_count", "blas", "numpy", "autograd", "malloc_tuned"} <= set(base)  # read by scripts/ and mnist
    assert machine["date_utc"].endswith("+00:00") and machine["command_line"][0] == sys.executable
    assert {"threads", "source"} <= set(machine["blas_threads"])
    json.dumps(machine)


def test_blas_threads_without_threadpoolctl_asks_openblas_first():
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        own_count = runtime.blas_info()["threads"]
        if own_count is None:
            pytest.skip("NumPy's BLAS is not an OpenBLAS that reports its threads")
        assert common.blas_threads() == {"threads": own_count, "source": "OpenBLAS get_num_threads (threadpoolctl "
                                                                         "is not installed)"}
    else:
        assert common.blas_threads()["source"] == "threadpoolctl"


def test_the_report_still_reads_results_written_before_the_merge(tiny_result):
    old_machine = {"date_utc": "2026-11-26T05:50:24+00:00", "cpu": "AMD EPYC", "logical_cores": 2,
                   "cores_available": 2, "load_average_1_5_15": [3.0, 3.7, 4.7], "platform": "Linux",
                   "python": "3.11.7", "numpy": "2.4.6", "blas": {"name": "scipy-openblas", "version": "0.3.31.188.0", "config": "…"},
                   "blas_threads": {"threads": 1, "source": "environment OPENBLAS_NUM_THREADS"},
                   "environment": {"OPENBLAS_NUM_THREADS": "1"}}
    text = bench_ttmatmul.report({**tiny_result, "machine": old_machine})
    assert text.startswith("machine: AMD EPYC, 2 cores, BLAS scipy-openblas 0.3.31.188.0, threads 1 (environment")
    assert bench_ttmatmul.report(tiny_result).startswith(f"machine: {runtime.machine_info()['cpu']}, ")


# ------------------------------------------------------------------ the time-vs-rank figure

def _write(path, result):
    path.write_text(json.dumps(result))
    return path


def _synthetic_result():
    """A hand-made bench_ttmatmul result: N = 16, d = 2 (modes 4×4), ranks 1, 2, 4, dense 1 ms."""
    m = [4, 4]
    rows = [{"N": 16, "d": 2, "modes": m, "rank": R, "tt_ms": tt_ms, "dense_ms": dense_ms,
             "tt_flops": 8 * cost.matmul_flops(m, m, R)["best"], "dense_flops": 8 * 2 * 16 * 16}
            for R, tt_ms, dense_ms in ((1, 0.5, 0.9), (2, 1.2, 1.0), (4, 3.0, 1.1))]
    return {"rows": rows, "settings": {"batch": 8, "dtype": "float64"},
            "break_even": [{"N": 16, "d": 2, "modes": m, "predicted_rank": cost.break_even_rank(m, m),
                            "measured_rank": 2, "refinement": []}],
            "machine": {"cpu": "test CPU", "date_utc": "2026-01-01T00:00:00+00:00", "blas": {"name": "blas"},
                        "blas_threads": {"threads": 1}}}


def test_the_plot_draws_measured_dense_model_and_break_even_ranks(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot", reason="the figures need matplotlib (pip install matplotlib)")
    path = tmp_path / "ttmatmul_vs_rank.png"
    bench_ttmatmul.main(["--plot", str(_write(tmp_path / "r.json", _synthetic_result())), str(path)])
    assert path.stat().st_size > 10_000
    result = _synthetic_result()
    fig, (ax,) = bench_ttmatmul.plot(result, tmp_path / "again.png")
    lines = {line.get_linestyle() + line.get_marker(): line for line in ax.get_lines()}
    measured, model = lines["-o"], lines["--None"]
    assert list(measured.get_xdata()) == [1, 2, 4] and list(measured.get_ydata()) == [0.5, 1.2, 3.0]
    R_star = cost.break_even_rank([4, 4], [4, 4])
    ranks = np.arange(1, max(4, R_star) + 1)  # (R_max,)
    expected = [1.0 * cost.matmul_flops([4, 4], [4, 4], int(R))["best"] / (2 * 16 * 16) for R in ranks]
    np.testing.assert_allclose(model.get_ydata(), expected)  # median dense 1.0 ms × TT FLOPs / dense FLOPs
    assert (lines["None*"].get_xdata()[0], lines["None*"].get_ydata()[0]) == (2, 1.2)  # measured R*, on the TT line
    assert (lines["Noneo"].get_xdata()[0], lines["Noneo"].get_ydata()[0]) == (R_star, 1.0)  # predicted, on dense
    assert list(lines["Nonex"].get_ydata()) == [0.9, 1.0, 1.1]  # each row's own dense time
    assert ax.get_title() == "N = 16: modes 4×4"
    plt.close(fig)


def test_the_plot_of_a_real_tiny_run_has_one_panel_per_size(tiny_result, tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot", reason="the figures need matplotlib (pip install matplotlib)")
    fig, axes = bench_ttmatmul.plot(json.loads(json.dumps(tiny_result)), tmp_path / "tiny.png")
    assert len(axes) == 1 and (tmp_path / "tiny.png").stat().st_size > 0
    plt.close(fig)


# ------------------------------------------------------------------ profile_inference

@pytest.mark.parametrize("d", [2, 3, 4, 5])
def test_merging_cores_in_pairs_keeps_the_matrix_and_its_product(d):
    from ttrnn_np import init, ttmatmul, ttmatrix
    rng = np.random.default_rng(d)
    m, n = (2, 3, 2, 2, 2)[:d], (3, 2, 2, 1, 3)[:d]
    cores = init.glorot(m, n, rank=2, rng=rng)
    merged = profile_inference.merge_pairs(cores)
    assert len(merged) == (d + 1) // 2
    assert np.allclose(ttmatrix.full(merged), ttmatrix.full(cores), rtol=1e-12, atol=1e-14)
    X = rng.standard_normal((5, int(np.prod(m))))  # (B, M)
    for order in ("ltr", "rtl"):
        assert np.allclose(ttmatmul.matmul(X, merged, order=order), X @ ttmatrix.full(cores), rtol=1e-10, atol=1e-12)


def test_profile_times_the_products_of_the_pass_and_counts_their_flops():
    """Each timed part computes what the forward pass computes (the merged-core lead included), with its FLOPs."""
    from ttrnn_np import cells, cost
    dims = {"B": 3, "T": 4, "I": 6, "H": 4, "d": 2}
    for layout in ("dense", "joint"):
        fns = profile_inference.contenders(dims, layout, 2, "float64")
        model = profile_inference.NumpyLSTM(3, 4, 6, 4, layout, 2, 2, "float64")  # the same seed: the same params
        cell = model.params["layers"][0]
        W_x = cells.dense_weights(cell)[0]  # (I, 4H)
        X = np.random.default_rng(1).standard_normal((4 * 3, 6))  # (T·B, I), as contenders draws it
        projections = {name: fn() for name, (fn, _) in fns.items() if "input projection" in name}
        assert len(projections) == (1 if layout == "dense" else 3)
        for name, Ax in projections.items():
            assert np.allclose(Ax, X @ W_x + cell["b"], rtol=1e-10, atol=1e-12), name
        flops = {name.split(": ")[1].split(" (")[0]: f for name, (_, f) in fns.items() if f is not None}
        if layout == "dense":
            assert flops == {"input projection": 2 * 12 * 6 * 16, "4 recurrent products": 2 * 12 * 4 * 16}
        else:
            ((m, n),) = model.config.cell.weight_shapes["W_h"]
            assert flops["4 recurrent products"] == 12 * cost.matmul_flops(m, n, 2)["best"]


def test_profile_report_rounds_trip_with_the_glue_row(tmp_path, capsys):
    profile_inference.main(["--quick", "--out", str(tmp_path / "p.json")])
    assert "point-wise and glue" in capsys.readouterr().out
    rows = profile_inference.summary(json.loads((tmp_path / "p.json").read_text()))
    assert all(row["median_ms"] > 0 for row in rows if "glue" not in row["name"])
    profile_inference.main(["--report", str(tmp_path / "p.json"), "--markdown"])
    assert "| joint d=2 R=4: point-wise and glue (whole − products) |" in capsys.readouterr().out


# ------------------------------------------------------------------ bench all

def _steps_by_title(steps):
    return {step["title"].split(",")[0]: step for step in steps}


def test_the_plan_runs_every_benchmark_then_the_figures_and_the_tables(tmp_path):
    steps = run_all.plan(tmp_path, quick=True, threads=1, use_torch=False)
    j = {name: str(tmp_path / f"{name}.json") for name in ("ttmatmul", "lstm", "profile_inference", "memory")}
    assert [(step["module"], step["options"]) for step in steps] == [
        ("benchmarks.bench_ttmatmul", ["--quick", "--out", j["ttmatmul"]]),
        ("benchmarks.bench_lstm", ["--quick", "--threads", "1", "--out", j["lstm"]]),
        ("benchmarks.profile_inference", ["--quick", "--out", j["profile_inference"]]),
        ("benchmarks.bench_memory", ["--quick", "--dtype", "float32", "--out", j["memory"]]),
        ("benchmarks.bench_ttmatmul", ["--plot", j["ttmatmul"], str(tmp_path / "ttmatmul_vs_rank.png")]),
        ("benchmarks.bench_lstm", ["--plot", j["lstm"], str(tmp_path / "lstm.png"), "--memory", j["memory"]]),
        ("benchmarks.bench_ttmatmul", ["--report", j["ttmatmul"], "--markdown"]),
        ("benchmarks.bench_lstm", ["--report", j["lstm"], "--markdown"]),
        ("benchmarks.profile_inference", ["--report", j["profile_inference"], "--markdown"]),
        ("benchmarks.bench_memory", ["--report", j["memory"], "--markdown"])]
    no_figures = run_all.plan(tmp_path, quick=True, threads=1, use_torch=False, figures=False)
    assert no_figures == steps[:4] + steps[6:]
    full = run_all.plan(tmp_path, quick=False, threads=2, use_torch=True)
    assert full[1]["options"] == ["--torch", "--threads", "2", "--out", j["lstm"]]
    assert full[0]["options"] == ["--out", j["ttmatmul"]]
    assert full[3]["options"] == ["--dtype", "float32", "float64", "--out", j["memory"]]


class _Recorder:
    """A stand-in for subprocess.run: records the commands, fails at call number ``fail_at`` (1-based)."""

    def __init__(self, fail_at=None):
        self.calls, self.fail_at = [], fail_at

    def __call__(self, command, cwd, env):
        self.calls.append((command, cwd, env))
        return types.SimpleNamespace(returncode=3 if len(self.calls) == self.fail_at else 0)


def test_bench_all_runs_each_step_in_a_fresh_process_in_the_checkout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runner = _Recorder()
    status = run_all.main(["--quick", "--out-dir", "out", "--threads", "2"], runner=runner,
                          torch_check=lambda: (False, "ModuleNotFoundError: No module named 'torch'"))
    assert status == 0 and len(runner.calls) == 10
    expected = run_all.plan(tmp_path / "out", quick=True, threads=2, use_torch=False)  # relative to the caller
    for (command, cwd, env), step in zip(runner.calls, expected):
        assert command == [sys.executable, "-m", step["module"], *step["options"]]
        assert cwd == str(run_all.ROOT) and env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "2"
    out = capsys.readouterr().out
    assert "torch cannot be imported (ModuleNotFoundError: No module named 'torch'): bench_lstm runs without " \
           "--torch" in out
    assert "all 10 steps done" in out


def test_bench_all_with_torch_passes_torch_and_stops_at_a_failed_step(tmp_path, capsys):
    runner = _Recorder(fail_at=2)
    status = run_all.main(["--out-dir", str(tmp_path)], runner=runner, torch_check=lambda: (True, "2.13.0"))
    assert status == 3 and len(runner.calls) == 2
    assert runner.calls[1][0][3:] == ["--torch", "--threads", "1", "--out", str(tmp_path / "lstm.json")]
    captured = capsys.readouterr()
    assert "torch 2.13.0 can be imported" in captured.out
    assert "step 2 (LSTM step and sequence, with torch) failed with exit code 3" in captured.err


def test_quick_without_an_out_dir_never_writes_over_the_full_results(tmp_path, monkeypatch):
    monkeypatch.setattr(run_all.tempfile, "mkdtemp", lambda prefix: str(tmp_path / prefix))
    runner = _Recorder()
    assert run_all.main(["--quick"], runner=runner, torch_check=lambda: (False, "no torch")) == 0
    outputs = [arg for command, _, _ in runner.calls for arg in command if arg.endswith((".json", ".png"))]
    assert outputs and all(arg.startswith(str(tmp_path / "ttrnn_bench_quick_")) for arg in outputs)
    assert not any(arg.startswith(str(run_all.DEFAULT_OUT_DIR)) for arg in outputs)


def test_dry_run_prints_the_commands_and_runs_nothing(capsys):
    runner = _Recorder()
    assert run_all.main(["--dry-run"], runner=runner, torch_check=lambda: (False, "no torch")) == 0
    out = capsys.readouterr().out
    assert runner.calls == []
    assert f"python -m benchmarks.bench_ttmatmul --out {run_all.DEFAULT_OUT_DIR / 'ttmatmul.json'}" in out
    assert "OPENBLAS_NUM_THREADS=1" in out


def test_bench_all_end_to_end_in_process_on_tiny_presets(tmp_path, monkeypatch, capsys):
    """Every step's options really parse and chain: each script's main runs in this process on minimal presets."""
    pytest.importorskip("matplotlib", reason="the figure steps need matplotlib (pip install matplotlib)")
    monkeypatch.setattr(bench_ttmatmul, "QUICK", {**TINY, "cores": (2,), "grad_inputs": ()})
    monkeypatch.setattr(bench_lstm, "QUICK", {**bench_lstm.QUICK, "sizes": {"tiny": ("float32",)},
                                              "repeats": {"tiny": 1}, "traced_at": ()})
    monkeypatch.setattr(bench_lstm, "TINY", {"B": 2, "T": 2, "I": 4, "H": 4, "d": 2})
    monkeypatch.setattr(bench_memory, "QUICK", {**bench_memory.QUICK, "lengths": (28,), "layouts": ("joint",),
                                                "paths": ("layer",), "batch": 2, "hidden_size": 4})

    def in_process(command, cwd, env):
        python, flag, module, *options = command
        assert (python, flag) == (sys.executable, "-m")
        sys.modules[module].main(options)
        return types.SimpleNamespace(returncode=0)

    threads = runtime.blas_info()["threads"]
    try:
        assert run_all.main(["--quick", "--out-dir", str(tmp_path)], runner=in_process,
                            torch_check=lambda: (False, "left out in this test")) == 0
    finally:
        if threads is not None:
            runtime.set_blas_threads(threads)  # bench_lstm pins the BLAS threads of this process
    for name in ("ttmatmul.json", "lstm.json", "profile_inference.json", "memory.json", "ttmatmul_vs_rank.png",
                 "lstm.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "lstm.json").read_text())["torch"] is None
    out = capsys.readouterr().out
    assert "| 16 | 2 | 1 |" in out and "| tiny | step | infer | float32 |" in out and "| 28 | 28 | joint |" in out


def test_ttrnn_bench_runs_the_script_in_a_fresh_process_in_the_checkout(monkeypatch):
    seen, path = [], list(sys.path)
    monkeypatch.setattr(bench_cli.subprocess, "run",
                        lambda command, cwd: seen.append((command, cwd)) or types.SimpleNamespace(returncode=5))
    assert bench_cli.run(argparse.Namespace(name="all", options=["--quick", "--threads", "1"])) == 5
    assert seen == [([sys.executable, "-m", "benchmarks.run_all", "--quick", "--threads", "1"], ROOT)]
    assert sys.path == path  # nothing added to this process's import path
    assert set(bench_cli.BENCHMARKS) == {"all", "ttmatmul", "lstm", "profile", "memory"}


def test_ttrnn_bench_really_starts_the_script(capfd):
    assert bench_cli.run(argparse.Namespace(name="ttmatmul", options=["--help"])) == 0
    assert "usage: " in capfd.readouterr().out


def test_ttrnn_bench_outside_a_checkout_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    from ttrnn_np.cli import main
    monkeypatch.chdir(ROOT)  # even from inside a checkout: the package found is an installed one
    monkeypatch.setattr(bench_cli, "__file__", str(tmp_path / "site-packages" / "ttrnn_np" / "experiments" / "x.py"))
    monkeypatch.setattr(bench_cli.subprocess, "run", lambda *a, **k: pytest.fail("no script may start"))
    assert bench_cli.checkout_root() is None
    assert main(["bench", "ttmatmul", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ttrnn bench: needs a source checkout")


def test_the_lstm_figure_reads_memory_files_written_before_hidden_size(tmp_path):
    pytest.importorskip("matplotlib", reason="the figures need matplotlib (pip install matplotlib)")
    lstm, memory = (json.loads((ROOT / "results" / "bench" / name).read_text())
                    for name in ("lstm.json", "memory.json"))
    assert "hidden" in memory["settings"] and "hidden_size" not in memory["settings"]
    fig, axes = bench_lstm.plot(lstm, tmp_path / "lstm.png", memory=memory)
    assert any(f"H = {memory['settings']['hidden']}," in ax.get_xlabel() for ax in axes.ravel())


def test_quick_reports_say_in_words_when_no_target_applies(tmp_path, capsys):
    """A --quick run measures no size a target is defined at: the report says so instead of an empty table or
    a raw dict; the memory target is reported per dtype when it was measured."""
    (tmp_path / "lstm.json").write_text(json.dumps({"rows": [], "targets": []}))
    bench_lstm.main(["--report", str(tmp_path / "lstm.json")])
    out = capsys.readouterr().out
    assert "targets: none at these sizes" in out and "| target |" not in out and "target  threads" not in out
    for met, expected in (({}, "not measured at these sizes (it needs T = 784"),
                          ({"float32": True, "float64": False}, "float32 met, float64 not met")):
        (tmp_path / "memory.json").write_text(json.dumps({"rows": [], "target": {"met": met}}))
        bench_memory.main(["--report", str(tmp_path / "memory.json")])
        out = capsys.readouterr().out
        assert f"peak ≤ 2 GB): {expected}" in out and "{" not in out


def test_the_lstm_figure_has_one_panel_per_measured_group(tmp_path):
    pytest.importorskip("matplotlib")
    rows = [{"size": "tiny", "scope": "sequence", "mode": mode, "dtype": "float32", "threads": 1, "model": "m",
             "median_ms": 1.0, "q25_ms": 0.9, "q75_ms": 1.1} for mode in ("train", "infer")]
    fig, axes = bench_lstm.plot({"settings": {"threads": [1], "sizes": ["tiny"]}, "rows": rows},
                                tmp_path / "lstm.png")
    assert len(axes) == 2 and all(ax.get_visible() for ax in axes)
