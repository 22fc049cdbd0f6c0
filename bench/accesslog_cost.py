"""Cost of one access-log line: the edge's lean AccessLog against a structlog logger call.

Run: ``.venv/bin/python bench/accesslog_cost.py [lines]``. Both write JSON lines with the same
fields to /dev/null. structlog is configured like the edge's application logs
(``edgeway.common.logging``: contextvars, level, ISO timestamp, JSON renderer, one write per
line). For AccessLog two figures are printed: the cost on the event loop (format + buffer, what
a request pays) and the whole cost including the writer thread's writes (time until everything
is flushed, per line).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any, TextIO

import structlog

from edgeway.edge.accesslog import AccessLog

FIELDS: dict[str, Any] = {
    "request_id": "6f1a357bb95c56c66068e2bb9acfc9ac",
    "client_ip": "127.0.0.1",
    "method": "GET",
    "path": "/users/42/orders",
    "route": "users-api",
    "status": 200,
    "bytes": 1234,
    "latency_ms": 1.234,
    "upstream_ms": 0.987,
    "version": 12,
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
}


def structlog_cost(lines: int) -> float:
    """Microseconds per ``logger.info(...)`` with the application-log chain."""
    with open("/dev/null", "w") as devnull:
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.StackInfoRenderer(),
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            logger_factory=structlog.PrintLoggerFactory(devnull),
            cache_logger_on_first_use=True,
        )
        logger = structlog.get_logger("access").bind(node="edge-1", stage="prod",
                                                     region="eu-west")
        logger.info("request", **FIELDS)
        started = time.perf_counter()
        for _ in range(lines):
            logger.info("request", **FIELDS)
        return (time.perf_counter() - started) / lines * 1e6


async def accesslog_cost(lines: int, devnull: TextIO) -> tuple[float, float]:
    """(µs per line on the loop, µs per line until written) for :class:`AccessLog`."""
    f = FIELDS
    log = AccessLog(devnull)
    log.bind(node="edge-1", stage="prod", region="eu-west")
    started = time.perf_counter()
    for _ in range(lines):
        log.log(f["request_id"], f["client_ip"], f["method"], f["path"], f["route"],
                f["status"], f["bytes"], f["latency_ms"], f["upstream_ms"], f["version"],
                f["trace_id"])
    on_loop = time.perf_counter() - started
    await log.flush()
    total = time.perf_counter() - started
    await log.close()
    return on_loop / lines * 1e6, total / lines * 1e6


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    best_loop = best_total = best_structlog = float("inf")
    for _ in range(3):
        with open("/dev/null", "w") as devnull:
            on_loop, total = asyncio.run(accesslog_cost(lines, devnull))
        best_loop, best_total = min(best_loop, on_loop), min(best_total, total)
        best_structlog = min(best_structlog, structlog_cost(lines))
    print(f"lines per run: {lines} (best of 3)")
    print(f"AccessLog.log, on the loop:         {best_loop:6.2f} µs/line")
    print(f"AccessLog, including thread writes: {best_total:6.2f} µs/line")
    print(f"structlog logger.info (JSON):       {best_structlog:6.2f} µs/line")
    print(f"structlog / AccessLog on the loop:  {best_structlog / best_loop:6.1f}x")


if __name__ == "__main__":
    main()
