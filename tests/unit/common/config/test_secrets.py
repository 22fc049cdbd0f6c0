"""Credential hashing: formats, verification and normalization of a whole config."""

from __future__ import annotations

import pytest

from edgeway.common.config.canonical import canonical_bytes
from edgeway.common.config.loading import config_from_dict, parse_config_text
from edgeway.common.config.secrets import (
    KEY_HASH_PATTERN,
    PASSWORD_HASH_PATTERN,
    derived_salt,
    hash_api_key,
    hash_password,
    normalize_secrets,
    verify_api_key,
    verify_password,
)
from edgeway.common.errors import ConfigInvalid

CONSUMERS_YAML = """\
consumers:
  - name: alice
    credentials:
      - {type: key-auth, key: "alice-key"}
      - {type: basic-auth, username: alice, password: "s3cret"}
      - {type: jwt, issuer: alice-issuer, secret: "jwt-secret"}
  - name: bob
    credentials:
      - {type: basic-auth, username: alice, password: "s3cret"}
"""


def test_an_api_key_hash_is_sha256_hex_with_a_prefix() -> None:
    assert hash_api_key("abc") == (
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert KEY_HASH_PATTERN.fullmatch(hash_api_key("anything"))


def test_an_api_key_verifies_against_its_hash_only() -> None:
    stored = hash_api_key("right")
    assert verify_api_key("right", stored)
    assert not verify_api_key("wrong", stored)


def test_a_password_hash_has_the_pbkdf2_format() -> None:
    stored = hash_password("pw", salt=b"0123456789abcdef")
    scheme, iterations, salt, _ = stored.split("$")
    assert (scheme, iterations, salt) == ("pbkdf2-sha256", "100000", "MDEyMzQ1Njc4OWFiY2RlZg==")
    assert PASSWORD_HASH_PATTERN.fullmatch(stored)


def test_a_password_verifies_against_its_hash_only() -> None:
    stored = hash_password("pw", salt=b"salt")
    assert verify_password("pw", stored)
    assert not verify_password("pw2", stored)


@pytest.mark.parametrize(
    "stored", ["", "sha256:abc", "pbkdf2-sha256$100000$!!$AAAA", "pbkdf2-sha256$0$AA==$AA=="]
)
def test_a_malformed_password_hash_verifies_nothing(stored: str) -> None:
    assert not verify_password("pw", stored)


def test_normalization_replaces_keys_and_passwords_by_hashes() -> None:
    normalized = normalize_secrets(parse_config_text(CONSUMERS_YAML))
    key, basic, jwt = normalized.consumers[0].credentials
    assert (key.key, key.key_hash) == ("", hash_api_key("alice-key"))
    assert basic.password == ""
    assert verify_password("s3cret", basic.password_hash)
    assert jwt.secret == "jwt-secret"  # a jwt secret is needed to verify: kept as written


def test_normalization_does_not_change_its_input() -> None:
    config = parse_config_text(CONSUMERS_YAML)
    normalize_secrets(config)
    assert config.consumers[0].credentials[0].key == "alice-key"


def test_the_same_yaml_normalizes_to_the_same_bytes() -> None:
    first = normalize_secrets(parse_config_text(CONSUMERS_YAML))
    second = normalize_secrets(parse_config_text(CONSUMERS_YAML))
    assert canonical_bytes(first) == canonical_bytes(second)


def test_normalizing_a_normalized_config_changes_nothing() -> None:
    once = normalize_secrets(parse_config_text(CONSUMERS_YAML))
    assert canonical_bytes(normalize_secrets(once)) == canonical_bytes(once)


def test_equal_passwords_of_different_consumers_hash_differently() -> None:
    normalized = normalize_secrets(parse_config_text(CONSUMERS_YAML))
    alice = normalized.consumers[0].credentials[1].password_hash
    bob = normalized.consumers[1].credentials[0].password_hash
    assert alice != bob
    assert derived_salt("alice", "alice") != derived_salt("bob", "alice")


def test_a_credential_with_both_key_and_key_hash_is_refused_with_its_path() -> None:
    config = config_from_dict(
        {"consumers": [{"name": "c", "credentials": [
            {"type": "key-auth", "key_hash": hash_api_key("k")},
            {"type": "key-auth", "key": "k", "key_hash": hash_api_key("k")},
        ]}]}
    )  # fmt: skip
    with pytest.raises(ConfigInvalid) as caught:
        normalize_secrets(config)
    assert [str(e) for e in caught.value.errors] == [
        "consumers[0].credentials[1]: set either key or key_hash, not both"
    ]


def test_a_credential_with_both_password_and_password_hash_is_refused() -> None:
    config = config_from_dict(
        {"consumers": [{"name": "c", "credentials": [
            {"type": "basic-auth", "username": "u", "password": "p", "password_hash": "x"},
        ]}]}
    )  # fmt: skip
    with pytest.raises(ConfigInvalid) as caught:
        normalize_secrets(config)
    assert [str(e) for e in caught.value.errors] == [
        "consumers[0].credentials[0]: set either password or password_hash, not both"
    ]
