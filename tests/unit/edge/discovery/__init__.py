"""Unit tests: edge discovery."""
