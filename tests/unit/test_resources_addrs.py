"""Address views over real netlink: read-only queries about loopback in the namespace the
tests run in (no packet is sent, nothing is changed): a present address, one found on
another interface, and interfaces that do not or cannot exist."""

from __future__ import annotations

from tandem.resources.addrs import view


def test_loopback_carries_its_address() -> None:
    seen = view("lo", "127.0.0.1")
    assert seen.link is not None and seen.link.up and seen.prefixes == (8,)
    assert seen.elsewhere == ()


def test_an_address_found_on_another_interface_is_named() -> None:
    seen = view("tandem-none0", "127.0.0.1")
    assert seen.link is None and seen.prefixes == () and seen.elsewhere == ("lo",)


def test_missing_and_impossible_interfaces_read_as_absent() -> None:
    assert view("tandem-none0", "198.51.100.77").link is None
    assert view("a-name-far-too-long-for-linux", "198.51.100.77").link is None
