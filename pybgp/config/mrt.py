"""``[mrt]`` parsing (kept apart from :mod:`.parse` to keep each file short)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from pybgp.config.values import ConfigError, MrtConfig

__all__ = ["parse_mrt"]


def parse_mrt(value: object) -> MrtConfig:
    """Validate the ``[mrt]`` table; errors name ``mrt.<key>``."""
    if not isinstance(value, Mapping):
        raise ConfigError("mrt", "expected a table")
    known = {field.name for field in attrs.fields(MrtConfig)}
    for key in value:
        if key not in known:
            expected = ", ".join(sorted(known))
            raise ConfigError(f"mrt.{key}", f"unknown key (expected one of: {expected})")
    pattern = value.get("updates_file", "")
    if not isinstance(pattern, str):
        raise ConfigError("mrt.updates_file", "expected a string (a strftime file name pattern)")
    rotate = value.get("rotate_seconds", 300)
    if isinstance(rotate, bool) or not isinstance(rotate, int) or not 1 <= rotate <= 2**32 - 1:
        raise ConfigError("mrt.rotate_seconds", f"{rotate!r} is not a number of seconds (1..)")
    return MrtConfig(updates_file=pattern.strip(), rotate_seconds=rotate)
