"""Hashing of consumer credentials, so no plaintext API key or password is ever stored.

``apply`` runs :func:`normalize_secrets` before a config becomes a version: every key-auth
``key`` becomes ``key_hash`` and every basic-auth ``password`` becomes ``password_hash``.

Why the password salt is derived, not random: applying the same YAML twice must produce the
same canonical bytes, hence the same content hash and no new version (DESIGN: "applying an
identical config creates no new version"). A random salt would make every apply a change. The
salt is ``sha256("edgeway basic-auth\\0" + consumer + "\\0" + username)``, unique per consumer
and user name within a gateway, so equal passwords still hash differently and a table built for
one user does not serve another; what a derived salt gives up is uniqueness across gateways that
reuse the same consumer and user names, which the 100,000 PBKDF2 iterations make costly to
exploit. API keys are hashed with plain SHA-256 because they are long random tokens (no
dictionary to guess from) and the edge looks them up by hash on every request.

PBKDF2 is deliberately slow (tens of milliseconds per password): callers on an event loop run
:func:`normalize_secrets` in a thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from edgeway.common.errors import ConfigError, ConfigInvalid, join_path
from edgeway.v1.config_pb2 import GatewayConfig

__all__ = [
    "KEY_HASH_PATTERN",
    "KEY_HASH_PREFIX",
    "PASSWORD_HASH_PATTERN",
    "PBKDF2_ITERATIONS",
    "derived_salt",
    "hash_api_key",
    "hash_password",
    "normalize_secrets",
    "verify_api_key",
    "verify_password",
]

PBKDF2_ITERATIONS = 100_000
KEY_HASH_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")
"""What a stored ``key_hash`` looks like."""
PASSWORD_HASH_PATTERN = re.compile(
    r"pbkdf2-sha256\$([1-9][0-9]{0,8})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})"
)
"""What a stored ``password_hash`` looks like: algorithm, iterations, salt, hash."""

KEY_HASH_PREFIX = "sha256:"
"""What ``hash_api_key`` puts before the SHA-256 hex digest (the edge's compiled key-auth
handler hashes presented keys itself, the same way)."""
_PASSWORD_SCHEME = "pbkdf2-sha256"


def hash_api_key(key: str) -> str:
    """``"sha256:<hex>"`` of an API key."""
    return KEY_HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def verify_api_key(presented: str, key_hash: str) -> bool:
    """Whether ``presented`` is the key that ``key_hash`` was made from (constant time)."""
    return hmac.compare_digest(hash_api_key(presented), key_hash)


def hash_password(password: str, *, salt: bytes) -> str:
    """``"pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>"`` of ``password``."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, PBKDF2_ITERATIONS)
    return "$".join(
        (_PASSWORD_SCHEME, str(PBKDF2_ITERATIONS), _b64(salt), _b64(digest)),
    )


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password` (constant time).

    A malformed ``stored`` value verifies nothing.
    """
    match = PASSWORD_HASH_PATTERN.fullmatch(stored)
    if match is None:
        return False
    iterations, salt_b64, hash_b64 = match.groups()
    try:
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(hash_b64, validate=True)
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, int(iterations))
    return hmac.compare_digest(digest, expected)


def derived_salt(consumer: str, username: str) -> bytes:
    """The deterministic salt of a basic-auth password (see the module docstring)."""
    material = b"edgeway basic-auth\0" + consumer.encode() + b"\0" + username.encode()
    return hashlib.sha256(material).digest()[:16]


def normalize_secrets(config: GatewayConfig) -> GatewayConfig:
    """A copy of ``config`` with every plaintext credential secret replaced by its hash.

    key-auth ``key`` becomes ``key_hash``; basic-auth ``password`` becomes ``password_hash``.
    Credentials already holding only hashes pass through unchanged, so an exported config
    re-applies to identical bytes, and so does the same YAML applied twice. A credential
    holding both the plaintext and the hash raises :class:`ConfigInvalid` naming its path.
    Other credential types are left alone (the compile step reports misplaced fields).
    """
    errors: list[ConfigError] = []
    result = GatewayConfig()
    result.CopyFrom(config)
    for c_index, consumer in enumerate(result.consumers):
        for index, credential in enumerate(consumer.credentials):
            path = join_path(join_path(join_path("consumers", c_index), "credentials"), index)
            if credential.type == "key-auth" and credential.key:
                if credential.key_hash:
                    errors.append(ConfigError(path, "set either key or key_hash, not both"))
                    continue
                credential.key_hash = hash_api_key(credential.key)
                credential.ClearField("key")
            elif credential.type == "basic-auth" and credential.password:
                if credential.password_hash:
                    message = "set either password or password_hash, not both"
                    errors.append(ConfigError(path, message))
                    continue
                salt = derived_salt(consumer.name, credential.username)
                credential.password_hash = hash_password(credential.password, salt=salt)
                credential.ClearField("password")
    if errors:
        raise ConfigInvalid(errors)
    return result


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
