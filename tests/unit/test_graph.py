"""The dependency graph: waves, closures, cycles."""
import pytest

from tars_tasks.core.errors import TarsError
from tars_tasks.core.graph import closure, find_cycles, reverse, waves

EDGES = {"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"], "E": []}


def test_waves_are_layers_among_the_selected():
    assert waves(EDGES, EDGES) == [["A", "E"], ["B", "C"], ["D"]]
    assert waves(["B", "D"], EDGES) == [["B"], ["D"]]  # A and C not selected: B has no selected dependency


def test_waves_name_a_cycle():
    with pytest.raises(TarsError, match="dependency cycle: X -> Y -> X"):
        waves(["X", "Y"], {"X": ["Y"], "Y": ["X"]})


def test_closure_and_reverse():
    assert closure(["D"], EDGES) == {"A", "B", "C", "D"}
    assert closure(["A"], reverse(EDGES)) == {"A", "B", "C", "D"}


def test_find_cycles_is_deterministic():
    assert find_cycles({"b": ["c"], "c": ["a"], "a": ["b"], "d": []}) == [["a", "b", "c"]]
