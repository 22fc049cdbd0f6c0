"""Operator commands of the ``edgeway`` CLI, clients of the admin API."""
