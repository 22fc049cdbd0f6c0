"""A real OTLP receiver shared by the tracing tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.otlp import OtlpReceiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    otlp = OtlpReceiver()
    otlp.start()
    yield otlp
    otlp.stop()
