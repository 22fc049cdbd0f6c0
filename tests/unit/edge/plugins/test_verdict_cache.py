"""The verdict cache's entries held elsewhere (a connection's last verdict): served again only
while fresh and while the cache was not cleared since."""

from __future__ import annotations

from edgeway.edge.plugins.guards import VerdictCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_held_elsewhere_expires_with_its_ttl_and_counts_as_a_hit() -> None:
    clock = Clock()
    cache: VerdictCache[str] = VerdictCache(10.0, clock=clock)
    cache.put(("k", "token"), "allow")
    found = cache.entry(("k", "token"))
    assert found == (110.0, "allow")
    generation = cache.generation
    assert cache.still(found[0], generation)
    assert (cache.hits, cache.misses) == (2, 0)
    clock.now = 110.0
    assert not cache.still(found[0], generation)
    assert cache.entry(("k", "token")) is None  # expired there too
    assert (cache.hits, cache.misses) == (2, 1)


def test_clearing_the_cache_retires_the_entries_held_elsewhere() -> None:
    cache: VerdictCache[str] = VerdictCache(10.0, clock=Clock())
    cache.put("k", "allow")
    found = cache.entry("k")
    assert found is not None
    generation = cache.generation
    cache.clear()
    assert not cache.still(found[0], generation)
    assert cache.get("k") is None
