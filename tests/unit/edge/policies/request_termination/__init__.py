"""Unit tests: edge/policies/request_termination."""
