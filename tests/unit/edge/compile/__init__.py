"""Unit tests: edge/compile."""
