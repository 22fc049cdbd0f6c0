"""Edgeway: an API gateway for fleets of edge nodes (see README.md)."""
