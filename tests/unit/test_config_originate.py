"""``[originate]`` read in linear time: the fast paths give what ``ipaddress`` and tomllib give,
and every error still names its element."""

from __future__ import annotations

from ipaddress import IPv4Network, ip_network
from pathlib import Path

import pytest

from pybgp.config import ConfigError, OriginateConfig, Prefixes, load_config, parse_config
from pybgp.config.advice import config_warnings
from pybgp.config.originate import FAST_MIN_CHARS, read_prefixes, split_prefix_array
from pybgp.wire.nlri import prefix_from_network

HEAD = '[speaker]\nasn = 65001\nrouter_id = "10.0.0.1"\n'


def texts(count: int) -> list[str]:
    return [f"{16 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.0/24" for i in range(count)]


def write(tmp_path: Path, items: list[str], extra: str = "", trailer: str = "") -> Path:
    body = "".join(f'  "{item}",\n' for item in items)
    path = tmp_path / "big.toml"
    path.write_text(f"{HEAD}{extra}[originate]\nprefixes = [\n{body}]\n{trailer}")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


def test_a_100k_array_is_read_whole_and_right(tmp_path: Path) -> None:
    items = texts(100_000)
    items[500] = "2001:db8:1::/48"
    items[501] = " 10.1.2.0/24 "  # spaces: the ipaddress path, as before
    items[502] = "10.1.2.128/25"
    items[503] = "0.0.0.0/0"
    items[504] = "192.0.2.7/32"
    config = load_config(write(tmp_path, items))
    prefixes = config.originate.prefixes
    assert len(prefixes) == 100_000
    assert prefixes[0] == ip_network("16.0.0.0/24")
    assert prefixes[-1] == ip_network(items[-1])
    assert prefixes[500] == ip_network("2001:db8:1::/48")
    assert list(prefixes[501:505]) == [ip_network(t.strip()) for t in items[501:505]]
    sample = range(0, 100_000, 997)
    assert [prefixes[i] for i in sample] == [ip_network(items[i].strip()) for i in sample]
    # the keys are the RIB's NLRI keys, per family
    assert prefixes.keys(2) == [prefix_from_network(ip_network("2001:db8:1::/48"))]
    assert len(prefixes.keys(1)) == 99_999
    assert prefixes.keys(1)[0] == b"\x18\x10\x00\x00"


def test_errors_in_a_large_array_name_the_element(tmp_path: Path) -> None:
    items = texts(20_000)
    for index, bad, words in (
        (12, "10.1.2.3/24", "originate.prefixes[12]: 10.1.2.3/24 has host bits set "
                            "(did you mean 10.1.2.0/24?)"),
        (13_000, "10.1.2.0/33", "originate.prefixes[13000]: '10.1.2.0/33' is not a prefix"),
        (7, "010.1.2.0/24", "originate.prefixes[7]: '010.1.2.0/24' is not a prefix"),
        (9, "1.2.3/24", "originate.prefixes[9]: '1.2.3/24' is not a prefix"),
    ):
        wrong = list(items)
        wrong[index] = bad
        assert error_of(write(tmp_path, wrong)).startswith(words)


def test_duplicates_are_found_at_their_second_place(tmp_path: Path) -> None:
    items = texts(20_000)
    items[15_000] = items[300]
    assert error_of(write(tmp_path, items)).endswith(
        f"originate.prefixes[15000]: {items[300]} is listed twice"
    )
    # the same network written differently is the same prefix
    items = texts(20_000)
    items[19_999] = " " + items[5]
    assert "originate.prefixes[19999]:" in error_of(write(tmp_path, items))


def test_the_same_key_bytes_in_two_families_are_not_duplicates() -> None:
    # 10.0.0.0/8 and a00::/8 have the same NLRI key: b"\x08\x0a"
    config = parse_config({"speaker": {"asn": 65001, "router_id": "10.0.0.1"},
                           "originate": {"prefixes": ["10.0.0.0/8", "a00::/8"]}})
    assert config.originate.prefixes == (ip_network("10.0.0.0/8"), ip_network("a00::/8"))
    with pytest.raises(ConfigError, match=r"originate.prefixes\[2\]: a00::/8 is listed twice"):
        read_prefixes(["10.0.0.0/8", "a00::/8", "a00::/8"], "originate.prefixes")


def test_parse_config_with_a_plain_list_keeps_type_errors() -> None:
    data = {"speaker": {"asn": 65001, "router_id": "10.0.0.1"},
            "originate": {"prefixes": ["10.0.0.0/24", 7]}}
    with pytest.raises(ConfigError, match=r"originate.prefixes\[1\]: expected a string, got an "
                                          r"integer \(7\)"):
        parse_config(data)
    data["originate"] = {"prefixes": "10.0.0.0/24"}
    with pytest.raises(ConfigError, match=r"originate\.prefixes: expected an array"):
        parse_config(data)


def test_an_array_with_comments_or_other_values_goes_through_tomllib(tmp_path: Path) -> None:
    items = texts(2_000)
    body = "".join(f'  "{item}",  # block {i}\n' for i, item in enumerate(items))
    path = tmp_path / "commented.toml"
    path.write_text(f"{HEAD}[originate]\nprefixes = [\n{body}]\n")
    assert len(body) > FAST_MIN_CHARS
    assert split_prefix_array(path.read_text())[1] is None
    assert load_config(path).originate.prefixes[1999] == ip_network(items[1999])
    mixed = write(tmp_path, [*items[:1000], "x"])
    mixed.write_text(mixed.read_text().replace('"x"', "42"))
    assert error_of(mixed).startswith("originate.prefixes[1000]: expected a string, got an "
                                      "integer (42)")


def test_a_look_alike_inside_a_string_is_left_alone(tmp_path: Path) -> None:
    """The placeholder is trusted only where it lands as originate.prefixes."""
    fake = "prefixes = [\n" + "".join(f'  "{t}",\n' for t in texts(1_000)) + "]\n"
    extra = f'[[filters]]\nname = "f"\ndescription = """\n{fake}"""\n'
    config = load_config(write(tmp_path, texts(10), extra=extra))
    assert config.filters[0].description == fake
    assert len(config.originate.prefixes) == 10


def test_toml_errors_after_a_large_array_keep_their_line(tmp_path: Path) -> None:
    items = texts(5_000)
    path = write(tmp_path, items, trailer="[kernel\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == path.read_text().splitlines().index("[kernel") + 1 == 5007


def test_prefixes_behave_as_a_tuple_of_networks() -> None:
    nets = (ip_network("10.0.0.0/24"), ip_network("fd00::/64"), ip_network("10.0.1.0/24"))
    prefixes = Prefixes(nets)
    assert prefixes == nets and nets == prefixes and prefixes == list(nets)
    assert prefixes == Prefixes(nets) and hash(prefixes) == hash(Prefixes(nets))
    assert prefixes != nets[:2] and prefixes != Prefixes(nets[:2])
    assert tuple(prefixes) == nets and prefixes[1] == nets[1] and prefixes[-1] == nets[2]
    assert ip_network("fd00::/64") in prefixes and ip_network("10.9.0.0/24") not in prefixes
    assert "10.0.0.0/24" not in prefixes
    assert prefixes.union([IPv4Network("10.0.1.0/24"), IPv4Network("10.0.2.0/24")]) == (
        *nets, ip_network("10.0.2.0/24"))
    assert OriginateConfig(prefixes=nets).prefixes == prefixes  # a tuple is converted
    assert OriginateConfig() == OriginateConfig(prefixes=())
    assert "3 prefixes" not in repr(prefixes) and "6 prefixes" in repr(Prefixes(nets * 2))


def test_ipv6_advice_reads_keys(tmp_path: Path) -> None:
    items = [*texts(5_000), "2001:db8::/48", "2001:db8:1::/48", "2001:db8:2::/48",
             "2001:db8:3::/48"]
    warnings = config_warnings(load_config(write(tmp_path, items)))
    assert any("2001:db8::/48, 2001:db8:1::/48, 2001:db8:2::/48 ..." in w for w in warnings)
