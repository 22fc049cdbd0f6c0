"""The last-known-good disk cache: round trip, atomic replacement, corruption is never served."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from edgeway.common.config.canonical import config_hash
from edgeway.common.config.loading import config_from_dict
from edgeway.edge.discovery import cache
from edgeway.edge.discovery.backoff import Backoff
from edgeway.v1.config_pb2 import GatewayConfig
from edgeway.v1.discovery_pb2 import ConfigPush


def _config(routes: int, tag: str = "a") -> GatewayConfig:
    return config_from_dict({
        "upstreams": [{"name": "users", "targets": [{"address": "127.0.0.1:8001"}]}],
        "routes": [{"id": f"{tag}-{n}", "paths": [f"/{tag}/{n}"], "upstream": "users"}
                   for n in range(routes)],
    })


def _push(config: GatewayConfig, version: int = 3) -> ConfigPush:
    push = ConfigPush(stage="prod", version=version, hash=config_hash(config), nonce="n")
    push.config.CopyFrom(config)
    return push


async def test_a_saved_push_loads_back_verified(tmp_path: Path) -> None:
    push = _push(_config(3))
    path = await cache.save(tmp_path / "data", push)
    loaded = await cache.load(tmp_path / "data")
    assert loaded is not None
    assert path.name == cache.CACHE_FILE
    assert (loaded.stage, loaded.version, loaded.hash) == ("prod", 3, push.hash)
    assert loaded.config() == push.config
    assert await cache.load(tmp_path / "elsewhere") is None


@pytest.mark.parametrize("damage", ["flip a config byte", "truncate", "rewrite the hash",
                                    "garbage header", "empty file"])
async def test_a_damaged_cache_file_is_reported_and_never_served(
    tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = await cache.save(tmp_path, _push(_config(3)))
    raw = bytearray(path.read_bytes())
    if damage == "flip a config byte":
        raw[-5] ^= 0x01
    elif damage == "truncate":
        del raw[-10:]
    elif damage == "rewrite the hash":
        head, _, body = bytes(raw).partition(b"\n")
        raw = bytearray(head.replace(b"sha256:", b"sha256:0", 1)[:-2] + b'"}\n' + body)
    elif damage == "garbage header":
        raw[0:1] = b"\xff"
    else:
        raw = bytearray()
    path.write_bytes(bytes(raw))
    assert await cache.load(tmp_path) is None
    assert "corrupt cached config" in capsys.readouterr().out


async def test_readers_see_the_old_file_or_the_new_one_never_a_part(tmp_path: Path) -> None:
    pushes = [_push(_config(6000, tag), version) for version, tag in ((1, "a"), (2, "b"))]
    cache.save_sync(tmp_path, pushes[0])
    hashes = {p.hash for p in pushes}
    seen: list[str | None] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            loaded = cache.load_sync(tmp_path)
            seen.append(loaded.hash if loaded is not None else None)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for round_ in range(20):
            await cache.save(tmp_path, pushes[round_ % 2])
    finally:
        stop.set()
        reader.join()
    assert len(pushes[0].config.SerializeToString()) > 100_000  # big enough to take a while
    assert seen
    assert set(seen) <= hashes, "a reader saw a partial or missing file"
    assert os.listdir(tmp_path) == [cache.CACHE_FILE]  # no temporary file left behind


async def test_a_write_that_fails_leaves_the_previous_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _push(_config(2, "a"), 1)
    await cache.save(tmp_path, first)

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        await cache.save(tmp_path, _push(_config(2, "b"), 2))
    monkeypatch.undo()
    loaded = await cache.load(tmp_path)
    assert loaded is not None
    assert loaded.version == 1
    assert os.listdir(tmp_path) == [cache.CACHE_FILE]


def test_backoff_grows_with_full_jitter_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(first=0.2, cap=10.0)
    ceilings = [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    for ceiling in ceilings:
        assert 0 <= backoff.next() <= ceiling
    assert max(backoff.next() for _ in range(200)) > 5  # reaches toward the cap
    backoff.reset()
    assert backoff.next() <= 0.2
