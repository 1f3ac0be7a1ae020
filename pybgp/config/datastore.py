"""``[datastore]`` parsing (kept apart from :mod:`.parse` to keep each file short)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from pybgp.config.values import ConfigError, DatastoreConfig

__all__ = ["parse_datastore"]


def parse_datastore(value: object) -> DatastoreConfig:
    """Validate the ``[datastore]`` table; errors name ``datastore.<key>``."""
    if not isinstance(value, Mapping):
        raise ConfigError("datastore", "must be a table")
    known = {field.name for field in attrs.fields(DatastoreConfig)}
    for key in value:
        if key not in known:
            raise ConfigError(f"datastore.{key}", "unknown key")
    data: dict[str, Any] = {}
    kind = value.get("type", "etcd")
    if kind != "etcd":
        raise ConfigError("datastore.type", f"{kind!r} is not supported (only \"etcd\")")
    data["type"] = kind
    endpoints = value.get("endpoints", ["http://127.0.0.1:2379"])
    if isinstance(endpoints, str):
        endpoints = [endpoints]
    if not isinstance(endpoints, list) or not endpoints:
        raise ConfigError("datastore.endpoints", "must be a non-empty list of URLs")
    for i, url in enumerate(endpoints):
        path = f"datastore.endpoints[{i}]"
        if not isinstance(url, str):
            raise ConfigError(path, "must be a string like \"http://127.0.0.1:2379\"")
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(path, f"{url!r} is not an http:// or https:// host:port URL")
        try:
            parts.port  # noqa: B018  (raises on a bad port)
        except ValueError:
            raise ConfigError(path, f"{url!r} has an invalid port") from None
    data["endpoints"] = tuple(endpoints)
    for name in ("node", "prefix", "ca_file", "cert_file", "key_file", "username", "password"):
        if name in value:
            if not isinstance(value[name], str):
                raise ConfigError(f"datastore.{name}", "must be a string")
            data[name] = value[name]
    if not data.get("node"):
        raise ConfigError("datastore.node", "required: this node's name in the datastore")
    prefix = data.get("prefix", "/calico")
    if not prefix.startswith("/") or prefix.endswith("/"):
        raise ConfigError("datastore.prefix", f"{prefix!r} must start with / and not end with /")
    if bool(data.get("cert_file")) != bool(data.get("key_file")):
        missing = "key_file" if data.get("cert_file") else "cert_file"
        raise ConfigError(f"datastore.{missing}", "cert_file and key_file go together")
    if bool(data.get("username")) != bool(data.get("password")):
        missing = "password" if data.get("username") else "username"
        raise ConfigError(f"datastore.{missing}", "username and password go together")
    for name, default in (("timeout", 5.0), ("reconnect_min", 1.0), ("reconnect_max", 30.0)):
        number = value.get(name, default)
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ConfigError(f"datastore.{name}", f"{number!r} is not a number of seconds")
        if not 0.01 <= number <= 3600:
            raise ConfigError(f"datastore.{name}", f"{number} is not within 0.01..3600 seconds")
        data[name] = float(number)
    if data["reconnect_max"] < data["reconnect_min"]:
        raise ConfigError("datastore.reconnect_max", "is less than reconnect_min")
    return DatastoreConfig(**data)
