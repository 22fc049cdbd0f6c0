"""Unit tests: common/config."""
