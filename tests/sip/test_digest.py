"""Digest responses against the published test vectors (RFC 2617 §3.5, RFC 7616 §3.9.1)."""

from __future__ import annotations

from outdial.sip.digest import Challenge, authorization, digest_response, pick_challenge, verify

RFC7616 = {
    "username": "Mufasa",
    "realm": "http-auth@example.org",
    "password": "Circle of Life",
    "method": "GET",
    "uri": "/dir/index.html",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "qop": "auth",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
}


def test_rfc2617_md5_vector() -> None:
    got = digest_response(
        algorithm="MD5",
        username="Mufasa",
        realm="testrealm@host.com",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop="auth",
        cnonce="0a4f113b",
    )
    assert got == "6629fae49393a05397450978507c4ef1"


def test_rfc7616_md5_and_sha256_vectors() -> None:
    assert digest_response(algorithm="MD5", **RFC7616) == "8ca523f5e9506fed4657c9700eebdbec"
    assert (
        digest_response(algorithm="SHA-256", **RFC7616)
        == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    )


def test_challenge_parsing_prefers_sha256_and_the_answer_verifies() -> None:
    values = [
        'Digest realm="sip.example", nonce="abc", qop="auth,auth-int", algorithm=MD5, opaque="op"',
        'Digest realm="sip.example", nonce="def", qop="auth", algorithm=SHA-256',
        'Basic realm="x"',
    ]
    chosen = pick_challenge(values)
    assert chosen is not None and chosen.algorithm == "SHA-256" and chosen.params["nonce"] == "def"
    header = authorization(chosen, username="alice", password="pw", method="INVITE", uri="sip:bob@h")
    assert "qop=auth" in header and "nc=00000001" in header and "algorithm=SHA-256" in header
    assert verify(header, password="pw", method="INVITE")
    assert not verify(header, password="wrong", method="INVITE")


def test_auth_int_only_and_unknown_algorithms_are_not_answered() -> None:
    assert pick_challenge(['Digest realm="r", nonce="n", qop="auth-int"']) is None
    assert pick_challenge(['Digest realm="r", nonce="n", algorithm=SHA-512-256']) is None
    assert not Challenge.parse('Digest realm="r"').supported  # no nonce
