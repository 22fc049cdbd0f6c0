"""Keys and tokens for JWT tests: RSA, EC and Ed25519 key pairs, their JWKs, signed tokens."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

__all__ = ["KeyPair", "ec_pair", "ed_pair", "rsa_pair", "token"]


@dataclass(frozen=True)
class KeyPair:
    kid: str
    alg: str
    private: Any
    public: Any

    @property
    def public_pem(self) -> str:
        pem: bytes = self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode()

    def jwk(self, **extra: Any) -> dict[str, Any]:
        algorithm = jwt.algorithms.get_default_algorithms()[self.alg]
        data: dict[str, Any] = json.loads(algorithm.to_jwk(self.public))
        data.update({"kid": self.kid, "use": "sig", **extra})
        return data

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        encoded: str = jwt.encode(claims, self.private, algorithm=self.alg,
                                  headers={"kid": self.kid, **headers})  # fmt: skip
        return encoded


@functools.cache
def rsa_pair(kid: str = "rsa-1") -> KeyPair:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return KeyPair(kid, "RS256", private, private.public_key())


@functools.cache
def ec_pair(kid: str = "ec-1") -> KeyPair:
    private = ec.generate_private_key(ec.SECP256R1())
    return KeyPair(kid, "ES256", private, private.public_key())


@functools.cache
def ed_pair(kid: str = "ed-1") -> KeyPair:
    private = ed25519.Ed25519PrivateKey.generate()
    return KeyPair(kid, "EdDSA", private, private.public_key())


def token(pair: KeyPair | None = None, *, secret: str | None = None, alg: str = "HS256",
          lifetime: float = 300, **claims: Any) -> str:  # fmt: skip
    """A signed token with ``exp`` set ``lifetime`` seconds from now and ``claims``."""
    body = {"exp": int(time.time() + lifetime), **claims}
    if pair is not None:
        return pair.sign(body)
    assert secret is not None
    return jwt.encode(body, secret, algorithm=alg)
