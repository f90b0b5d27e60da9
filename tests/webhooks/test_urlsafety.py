"""The URL-safety matrix: every spelling of a private address is refused, public hosts pass."""

from __future__ import annotations

import ipaddress

import pytest

from outdial.webhooks.urlsafety import (
    UnresolvableHostError,
    UnsafeUrlError,
    address_problem,
    check_url_static,
    parse_ipv4_any,
    resolve_safe_target,
)

LOOPBACK_SPELLINGS = [
    "https://127.0.0.1/hook",
    "https://127.1/hook",
    "https://127.0.1/hook",
    "https://2130706433/hook",  # decimal
    "https://0x7f000001/hook",  # hex
    "https://0x7f.0x0.0x0.0x1/hook",
    "https://0177.0.0.1/hook",  # octal
    "https://017700000001/hook",
    "https://0177.1/hook",
    "https://127.0.0.1./hook",  # trailing dot
    "https://127.255.255.254:8443/hook",
    "https://[::1]/hook",
    "https://[0:0:0:0:0:0:0:1]/hook",
    "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
    "https://[::ffff:7f00:1]/hook",
    "https://[::127.0.0.1]/hook",  # IPv4-compatible
    "https://[64:ff9b::7f00:1]/hook",  # NAT64
    "https://[2002:7f00:1::]/hook",  # 6to4
]

PRIVATE_OR_RESERVED = [
    "https://10.0.0.1/",
    "https://10.1/",
    "https://167772161/",  # 10.0.0.1 in decimal
    "https://172.16.5.4/",
    "https://192.168.1.1/",
    "https://0xc0a80101/",  # 192.168.1.1
    "https://169.254.1.1/",  # link-local
    "https://100.64.0.1/",  # CGNAT
    "https://100.127.255.254/",
    "https://224.0.0.1/",  # multicast
    "https://239.255.255.250/",
    "https://240.0.0.1/",  # reserved
    "https://255.255.255.255/",
    "https://0.0.0.0/",
    "https://0/",
    "https://198.18.0.1/",  # benchmarking
    "https://192.0.2.10/",  # documentation
    "https://[fc00::1]/",
    "https://[fd12:3456::1]/",
    "https://[fe80::1]/",
    "https://[ff02::1]/",
    "https://[::]/",
    "https://[::ffff:10.0.0.1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[2001:db8::1]/",
]

METADATA = [
    "https://169.254.169.254/latest/meta-data/",
    "https://2852039166/latest/meta-data/",  # 169.254.169.254 in decimal
    "https://0xa9fea9fe/",
    "https://0251.0376.0251.0376/",
    "https://[fd00:ec2::254]/",
    "https://100.100.100.200/",
    "https://metadata.google.internal/computeMetadata/v1/",
]

LOCAL_NAMES = [
    "https://localhost/",
    "https://LOCALHOST/",
    "https://localhost./",
    "https://api.localhost/",
    "https://a.b.localhost:8443/",
    "https://printer.local/",
    "https://db.internal/",
    "https://intranet/",
]

BAD_SYNTAX = [
    "http://example.com/hook",  # plain http
    "ftp://example.com/",
    "javascript:alert(1)",
    "https://user:pass@example.com/",
    "https://user@example.com/",
    "https:///nohost",
    "https://exa mple.com/",
    "https://example.com\\@127.0.0.1/",
    "https://example.com:99999/",
    "https://256.1.1.1/",
    "https://1.2.3.4.5/",
    "https://0x1g.0.0.1/",
    "https://[fe80::1%25eth0]/",
    "https://-bad-.example.com/",
    "",
    "https://" + "a" * 2100 + ".com/",
]

PUBLIC = [
    "https://example.com/hook",
    "https://Example.COM:8443/path?x=1",
    "https://hooks.example.co.uk./x",
    "https://8.8.8.8/",
    "https://134744072/",  # 8.8.8.8 in decimal: a public address is a public address
    "https://[2606:4700:4700::1111]/",
    "https://[::ffff:8.8.8.8]/",
    "https://bücher.example/",
]


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS + PRIVATE_OR_RESERVED + METADATA + LOCAL_NAMES)
def test_private_hosts_in_every_spelling_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrlError) as info:
        check_url_static(url, allow_private=False)
    assert info.value.code == "invalid_callback_url"
    assert info.value.message


@pytest.mark.parametrize("url", BAD_SYNTAX)
def test_malformed_or_insecure_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_url_static(url, allow_private=False)


@pytest.mark.parametrize("url", PUBLIC)
def test_public_https_urls_pass(url: str) -> None:
    check_url_static(url, allow_private=False)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "https://localhost/", "https://10.0.0.1/", "http://[::1]:9/"]
)
def test_development_mode_allows_private_hosts_and_http(url: str) -> None:
    check_url_static(url, allow_private=True)


@pytest.mark.parametrize("url", METADATA)
def test_metadata_stays_forbidden_in_development_mode(url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_url_static(url, allow_private=True)


def test_credentials_stay_forbidden_in_development_mode() -> None:
    with pytest.raises(UnsafeUrlError):
        check_url_static("http://u:p@127.0.0.1/", allow_private=True)


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("10.0x10.1", "10.16.0.1"),
        ("0", "0.0.0.0"),
        ("example.com", None),
        ("1.example.com", None),
    ],
)
def test_ipv4_spellings_parse_like_inet_aton(spelling: str, expected: str | None) -> None:
    got = parse_ipv4_any(spelling)
    assert (str(got) if got else None) == expected


def test_every_special_range_has_a_reason() -> None:
    for text in ["127.0.0.1", "10.0.0.1", "100.64.0.1", "169.254.169.254", "::1", "fd00:ec2::254"]:
        assert address_problem(ipaddress.ip_address(text), allow_private=False)
    assert address_problem(ipaddress.ip_address("93.184.216.34"), allow_private=False) is None


class FlippingResolver:
    """A DNS that answers a public address first and loopback afterwards (a rebinding attack)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return answer


async def test_rebinding_name_is_refused_on_the_second_check() -> None:
    resolver = FlippingResolver(["93.184.216.34"], ["127.0.0.1"])
    first = await resolve_safe_target("https://rebind.example/hook", allow_private=False, resolver=resolver)
    assert first.addresses == ("93.184.216.34",)
    assert first.host == "rebind.example" and first.port == 443
    with pytest.raises(UnsafeUrlError, match=r"127\.0\.0\.1"):
        await resolve_safe_target("https://rebind.example/hook", allow_private=False, resolver=resolver)


async def test_one_private_answer_among_public_ones_is_refused() -> None:
    resolver = FlippingResolver(["93.184.216.34", "::ffff:10.0.0.7"])
    with pytest.raises(UnsafeUrlError, match=r"10\.0\.0\.7"):
        await resolve_safe_target("https://mixed.example/", allow_private=False, resolver=resolver)


async def test_metadata_answer_is_refused_even_in_development_mode() -> None:
    resolver = FlippingResolver(["169.254.169.254"])
    with pytest.raises(UnsafeUrlError, match="metadata"):
        await resolve_safe_target("http://sneaky.example/", allow_private=True, resolver=resolver)


async def test_unresolvable_host_is_its_own_error() -> None:
    async def nothing(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(UnresolvableHostError):
        await resolve_safe_target("https://nowhere.example/", allow_private=False, resolver=nothing)


async def test_ip_literal_target_needs_no_resolver() -> None:
    target = await resolve_safe_target("http://127.0.0.1:9000/x", allow_private=True)
    assert target.addresses == ("127.0.0.1",) and target.ip_literal and target.port == 9000


async def test_system_resolver_resolves_localhost_to_loopback_and_refuses() -> None:
    with pytest.raises(UnsafeUrlError):
        await resolve_safe_target("https://localhost:1/", allow_private=False)
    target = await resolve_safe_target("http://localhost:1/", allow_private=True)
    assert all(ipaddress.ip_address(a).is_loopback for a in target.addresses)
