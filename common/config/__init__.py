"""Helpers around the config model (``edgeway.v1.config_pb2.GatewayConfig``).

- :mod:`.canonical` — canonical bytes and content hash of a config;
- :mod:`.loading`   — YAML/JSON text to a ``GatewayConfig`` with every structural error named;
- :mod:`.secrets`   — hashing of credentials so no plaintext key is ever stored;
- :mod:`.variables` — ``${stage.NAME}`` substitution at deploy time;
- :mod:`.diff`      — what changed between two versions, as data.

How they fit together: apply runs ``parse_config_text`` (structure), ``normalize_secrets``
(hashes) and the edge's ``check_config`` (semantics, for every stage) before storing a version;
deploy runs ``render_for_stage`` and the edge's ``compile_config`` on the rendering, which is
what the stage's edges receive.
"""
