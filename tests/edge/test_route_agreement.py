"""The router agrees with the reference ``PathPattern.match`` on generated patterns and paths,
and picks what its documented order says on generated route tables."""

from __future__ import annotations

import random

from edgeway.edge.compile.model import CompiledRoute, PathMatchKind, PathPattern
from edgeway.edge.compile.paths import parse_path
from edgeway.edge.routing import Router
from tests.edge.routes import UUID, Req, make_route

_LITERALS = ["a", "b", "users", "7"]
_SEGMENTS = ["a", "b", "users", "7", "42", "", "x y", UUID, "%2F"]


def _random_pattern(rng: random.Random) -> tuple[str, PathMatchKind]:
    kind: PathMatchKind = rng.choice(["prefix", "exact"])
    parts: list[str] = []
    for index in range(rng.randint(0, 3)):
        choice = rng.random()
        if choice < 0.5:
            parts.append(rng.choice(_LITERALS))
        elif choice < 0.9:
            parts.append(f"{{p{index}{rng.choice(['', ':int', ':uuid', ':str'])}}}")
        else:
            parts.append(f"{{p{index}:path}}")
            break
    text = "/" + "/".join(parts)
    if parts and not parts[-1].endswith(":path}") and rng.random() < 0.2:
        text += "/"
    return text, kind


def _random_path(rng: random.Random) -> str:
    return "/" + "/".join(rng.choice(_SEGMENTS) for _ in range(rng.randint(0, 4)))


def test_single_patterns_agree_with_the_reference_matcher() -> None:
    rng = random.Random(20261121)
    paths = [_random_path(rng) for _ in range(300)] + ["/", "//", "/a/", "/users/7/"]
    checked = 0
    for _ in range(150):
        text, kind = _random_pattern(rng)
        pattern = parse_path(text, kind)
        router = Router([make_route(0, [text], kind=kind)])
        for path in paths:
            hit = router.match("h", "GET", path, Req())
            assert (hit.params if hit else None) == pattern.match(path), (text, kind, path)
            checked += 1
    assert checked == 150 * len(paths)


def test_regex_patterns_agree_with_the_reference_matcher() -> None:
    rng = random.Random(7)
    for text in [r"/(?P<a>[a-z]+)/(?P<b>[0-9]+)", r"/users/(?P<id>\d+)?.*", r"/x|/y/(?P<t>.*)"]:
        pattern = parse_path(text, "regex")
        router = Router([make_route(0, [text], kind="regex")])
        for path in [_random_path(rng) for _ in range(200)] + ["/x", "/y/z", "/users/"]:
            hit = router.match("h", "GET", path, Req())
            expected = pattern.match(path)
            if expected is not None:
                expected = {k: v for k, v in expected.items() if v is not None}
            assert (hit.params if hit else None) == expected, (text, path)


def _documented_key(route: CompiledRoute, pattern: PathPattern, index: int,
                    host: str) -> tuple[object, ...]:
    """The ranking key as the router's docstring states it, computed independently."""
    match = route.match
    if host in match.hosts.exact:
        host_rank = (2, 0)
    elif any(host.endswith(s) for s in match.hosts.suffixes):
        host_rank = (1, max(len(s) for s in match.hosts.suffixes if host.endswith(s)))
    else:
        host_rank = (0, 0)
    if pattern.regex is not None:
        path_key: tuple[int, ...] = (0,)
    else:
        segments = list(pattern.segments)
        trailing = segments[-1].param is None and segments[-1].literal == ""
        if trailing:
            segments.pop()
        path_key = (
            1, len(segments), sum(s.param is None for s in segments),
            sum(s.kind in ("int", "uuid") and s.param is not None for s in segments),
            int(trailing), int(pattern.match_kind == "exact"),
        )  # fmt: skip
    return (match.priority, host_rank, path_key, len(match.headers) + len(match.query),
            int(bool(match.methods)), -route.index, -index)


def _reference(routes: list[CompiledRoute], host: str, method: str,
               path: str) -> tuple[str, dict[str, str]] | None:
    best: tuple[tuple[object, ...], str, dict[str, str]] | None = None
    for route in routes:
        match = route.match
        if not match.hosts.matches(host) or (match.methods and method not in match.methods):
            continue
        for index, pattern in enumerate(match.paths):
            params = pattern.match(path)
            if params is None:
                continue
            key = _documented_key(route, pattern, index, host)
            if best is None or key > best[0]:
                best = (key, route.id, params)
    return None if best is None else (best[1], best[2])


def test_generated_route_tables_pick_what_the_documented_order_says() -> None:
    rng = random.Random(42)
    hosts = ["api.example.com", "*.example.com", "*.api.example.com"]
    request_hosts = ["api.example.com", "v1.api.example.com", "www.example.com", "other.org"]
    compared = 0
    for _ in range(40):
        routes = []
        for index in range(rng.randint(3, 12)):
            paths = {_random_pattern(rng)[0] for _ in range(rng.randint(1, 2))}
            routes.append(make_route(
                index, sorted(paths), kind=rng.choice(["prefix", "exact"]),
                hosts=rng.sample(hosts, rng.randint(0, 2)),
                methods=rng.sample(["GET", "POST"], rng.randint(0, 1)),
                priority=rng.choice([0, 0, 0, 1]),
            ))  # fmt: skip
        router = Router(routes)
        for _ in range(60):
            host, method = rng.choice(request_hosts), rng.choice(["GET", "POST"])
            path = _random_path(rng)
            hit = router.match(host, method, path, Req())
            got = None if hit is None else (hit.route.id, hit.params)
            assert got == _reference(routes, host, method, path), (host, method, path)
            compared += 1
    assert compared == 40 * 60
