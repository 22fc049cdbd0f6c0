"""Unit tests: edge/policies."""
