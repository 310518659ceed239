"""ttrnn_np.experiments.timing: warm-up, interleaved rounds, medians."""
import pytest

from ttrnn_np.experiments.timing import interleaved_times


def test_functions_are_called_in_turn_after_one_warm_up_call_each():
    calls = []
    ticks = iter(range(1000))
    result = interleaved_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3,
                               clock=lambda: next(ticks))
    assert calls == ["a", "b"] + ["a", "b"] * 3
    assert all(r["samples"] == [1, 1, 1] and r["median"] == 1 for r in result.values())


def test_rounds_must_be_positive():
    with pytest.raises(ValueError, match="rounds must be a positive integer, got 0"):
        interleaved_times({"a": lambda: None}, 0)
