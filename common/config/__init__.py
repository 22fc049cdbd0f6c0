"""Helpers around the config model (``edgeway.v1.config_pb2.GatewayConfig``).

- :mod:`.canonical` — canonical bytes and content hash of a config;
- :mod:`.loading`   — YAML/JSON text to a ``GatewayConfig`` with every structural error named;
- :mod:`.secrets`   — hashing of credentials so no plaintext key is ever stored;
- :mod:`.variables` — ``${stage.NAME}`` substitution at deploy time;
- :mod:`.diff`      — what changed between two versions, as data.
"""
