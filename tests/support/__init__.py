"""Helpers for tests that run Edgeway's real processes on loopback."""
