"""The digests' bytes are frozen (ADR 0004): stored chains verify only while these stay the same.

The expected values were computed by the serialisation every stored chain was written with; a
faster spelling of it (the writer's scalar fast paths, the cached paths) must give the same hex.
"""

import json

import pytest

from audit import chain

SALT = "0123456789abcdef0123456789abcdef"
CASES = {
    "plain": (
        {
            "actor_email": "a@b.sa",
            "actor_name": "Ahmed",
            "entity_name": "Case 1",
            "changes": {"before": {}, "after": {"id": 7, "title": "x", "amount": "12.30", "flag": True, "none": None}},
            "metadata": {"ip": "10.0.0.1", "request_id": "r"},
        },
        "eb956d2651743a6132967821e4f16f7f9e6aa4bbff18dce1580de6c7e219a95c",
        "253e17cde8f4e7828075a298c877fcc1fafbaf2fd803fbb7de62bea044d8d426",
    ),
    "unicode": (
        {
            "actor_email": "",
            "actor_name": 'محمد "quoted" \\ back\nslash\u2028',
            "entity_name": "ق\x00\x1f",
            "changes": {"before": {"t": "é"}, "after": {"t": "ê\ud7ff"}},
            "metadata": {},
        },
        "a2e0e9d1dcf6b5518ab488beda73c8e9e9a1b66120172c039ee9dfa3cb6680a5",
        "e28b88d30c3c2c10b6183e6ab187fab81fbbb6b355da0dd4c37bcaaad607501b",
    ),
    "nested": (
        {
            "actor_email": "x",
            "actor_name": "y",
            "entity_name": "",
            "changes": {
                "before": {"p": {"z": [1, 2.0, 2.5, {"b": 1, "a": [True, False, None]}]}},
                "after": {"p": {}},
                "extra": [1, "2"],
            },
            "metadata": {"list": [], "n": -0.0, "big": 10**20, "f": 1e20, "small": 1.5e-7, "k": {"2": 1, "10": 2}},
        },
        "976d09c557d98ec2aa8ef04369b7381ece5a614144cf80a6edfb2399e5ac646f",
        "c3ca0dc0a1c8f531ce671c18c5d00faa2a204ee98d8487606084ba16a9cbbc42",
    ),
    "empties": (
        {"actor_email": None, "actor_name": "", "entity_name": "n", "changes": {}, "metadata": None},
        "daf734e389e79205c39e01795ab5848c57239fbc174d514b1f5ff103dc7f102e",
        "499aae299cd1df48a967594a87b4f85f1d9489b5e0c65b4b06914bff26d83a33",
    ),
    "numbers": (
        {
            "actor_email": "e",
            "actor_name": "n",
            "entity_name": "m",
            "changes": {
                "before": {"a": 0, "b": -1, "c": 3.0, "d": 1.25, "e": 2**63},
                "after": {"a": 1, "b": False, "c": 1e-5, "d": float("1e300")},
            },
            "metadata": {"9": 9},
        },
        "714a431bbc9822483d44e71df32091a3947a3a302fbff50ec95d242f35063195",
        "7faadd76ff394d77a1da163398cd93218d768692264d325b1aa320aed6b8ae7a",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_payload_digests_are_the_frozen_bytes(name):
    payload, per_field, whole = CASES[name]
    assert chain.payload_digest_v2(SALT, payload) == per_field
    assert chain.payload_digest(SALT, payload) == whole


def test_leaf_salt_and_digest_are_the_frozen_bytes():
    path = chain._path("changes", "after", "id")
    assert chain.leaf_salt(SALT, path) == "c65724d9c13fede1652d3d37a19025d1"
    leaf = chain.leaf_digest("s", chain._path("metadata", "k"), {"b": [1, 2.0], "a": "ق"})
    assert leaf == "31c59cde69807abba5f4595372c55448cb351f64d65ca29b857e39a6d8cb1f29"


@pytest.mark.parametrize(
    "value", ["", 'ق\n"\\\x00\u2028', 0, -7, 2**70, True, False, None, 1.0, -0.0, 2.5, [1, "a"], {"b": 1, "a": 2}]
)
def test_scalar_fast_paths_write_what_the_encoder_writes(value):
    expected = json.dumps(chain._normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert chain.canonical(value) == expected.encode()
