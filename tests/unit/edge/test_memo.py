"""The data path's bounded memos: by equal key (``Memo``) and by object identity
(``SharedMemo``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from edgeway.edge.memo import Memo, SharedMemo


def test_memo_remembers_by_equal_key_and_empties_when_full() -> None:
    memo: Memo[tuple[str, ...], str] = Memo(3)
    assert memo.put(("a",), "A") == "A"
    assert memo.get(("a",)) == "A"  # an equal tuple, not the same object
    memo.put(("b",), "B")
    memo.put(("c",), "C")
    assert len(memo) == 3
    memo.put(("d",), "D")  # full: emptied, then this one kept
    assert len(memo) == 1
    assert memo.get(("a",)) is None
    assert memo.get(("d",)) == "D"


def repr_bytes(mapping: Mapping[Any, Any]) -> bytes:
    return repr(dict(mapping)).encode()


def test_shared_memo_answers_only_for_the_same_object() -> None:
    memo: SharedMemo[bytes] = SharedMemo(2, repr_bytes)
    first = MappingProxyType({"x": "1"})
    memo.put(first, b"x: 1\r\n")
    assert memo.get(first) == b"x: 1\r\n"
    assert memo.get(MappingProxyType({"x": "1"})) is None  # equal, but another object
    memo.put(MappingProxyType({"y": "2"}), b"y")
    memo.put(MappingProxyType({"z": "3"}), b"z")  # full: emptied
    assert len(memo) == 1
    assert memo.get(first) is None
    memo.clear()
    assert len(memo) == 0


def test_shared_memo_keeps_its_objects_so_an_id_is_never_reused_under_it() -> None:
    memo: SharedMemo[int] = SharedMemo(100, len)
    for index in range(50):
        memo.put(MappingProxyType({"n": str(index)}), index)  # each dropped by the caller
    fresh = [MappingProxyType({"n": "x"}) for _ in range(50)]
    assert all(memo.get(mapping) is None for mapping in fresh)


def test_of_mapping_remembers_immutable_mappings_only() -> None:
    made: list[str] = []

    def render(mapping: Mapping[Any, Any]) -> str:
        value = str(mapping["x"])
        made.append(value)
        return "x=" + value

    memo: SharedMemo[str] = SharedMemo(10, render)
    shared, plain = MappingProxyType({"x": "1"}), {"x": "2"}
    assert [memo.of_mapping(shared) for _ in range(3)] == ["x=1"] * 3
    assert [memo.of_mapping(plain) for _ in range(2)] == ["x=2"] * 2
    assert made == ["1", "2", "2"]  # a dict may change: made each time, never remembered
    assert len(memo) == 1


def test_the_last_entry_checked_first_never_answers_for_another_object() -> None:
    memo: SharedMemo[bytes] = SharedMemo(2, repr_bytes)
    first, second = MappingProxyType({"a": "1"}), MappingProxyType({"b": "2"})
    memo.put(first, b"1")
    memo.put(second, b"2")
    assert [memo.get(first), memo.get(first), memo.get(second), memo.get(first)] == [
        b"1", b"1", b"2", b"1"]  # fmt: skip
    memo.put(MappingProxyType({"c": "3"}), b"3")  # full: emptied, the last is the new one
    assert memo.get(first) is None
    memo.clear()
    assert memo.get(second) is None
    assert memo.of_mapping(first) == repr_bytes(first)
