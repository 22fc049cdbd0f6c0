"""Unit tests: edge."""
