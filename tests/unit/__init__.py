"""Unit tests: fast, no I/O, no processes."""
