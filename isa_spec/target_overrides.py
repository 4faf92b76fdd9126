"""Target descriptions as data you can vary: ``KEY=VALUE`` overrides of a part's TOML entries.

Where it sits: :func:`~moecc.isa_spec.target.load_target` applies them to the parsed TOML of a
part before building its :class:`~moecc.isa_spec.target.Target` (``compile(...,
target_overrides={"sram.capacity_bytes": "8MiB"})``, ``moecc compile --set mxu.rows=256``), and
the target's own validation then checks the result, naming the entry and its limit.

A key is an entry's dotted path in the TOML (``sram.capacity_bytes``, ``mxu.rows``,
``mxu.passes.bf16``, ``clock_hz``); it must exist in the part's description (the error lists
the keys that do). A value is written as the entry holds it: an integer, which may carry a
byte unit (``8MiB``, ``64KiB``, ``1GiB``; ``KB``/``MB``/``GB`` are powers of 1000), a number
(``1.2e12``), a string, or a comma-separated list for a list entry (``mxu.dtypes=f32,bf16``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from moecc.errors import TargetError

#: Byte units an integer value may carry.
SIZE_UNITS: dict[str, int] = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 10**3, "MB": 10**6, "GB": 10**9}

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(KiB|MiB|GiB|KB|MB|GB)?\s*$")


def entry_keys(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every leaf entry of a parsed description, as dotted keys."""
    keys: list[str] = []
    for name, value in data.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            keys += entry_keys(value, f"{key}.")
        else:
            keys.append(key)
    return keys


def parse_value(key: str, text: Any, current: Any) -> Any:
    """``text`` as a value of the kind ``current`` (the entry's value in the description)."""
    if not isinstance(text, str):
        text = str(text)
    if isinstance(current, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise _bad(key, text, "true or false")
    if isinstance(current, int):
        match = _SIZE.match(text)
        if match is None:
            raise _bad(key, text, "an integer, optionally with a byte unit (64KiB, 8MiB)")
        value = float(match.group(1)) * SIZE_UNITS.get(match.group(2) or "", 1)
        if value != int(value):
            raise _bad(key, text, "a whole number of bytes or units")
        return int(value)
    if isinstance(current, float):
        try:
            return float(text)
        except ValueError:
            raise _bad(key, text, "a number (1.2e12)") from None
    if isinstance(current, list):
        return [item.strip() for item in text.split(",") if item.strip()]
    return text


def _bad(key: str, text: str, want: str) -> TargetError:
    return TargetError(f"--set {key}={text}: not {want}", remedy=f"write {key}=<{want}>")


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """A copy of the parsed description ``data`` with ``overrides`` (dotted key -> value) set."""
    out = copy.deepcopy(dict(data))
    keys = entry_keys(out)
    for key, text in overrides.items():
        if key not in keys:
            raise TargetError(f"{origin} has no entry '{key}' to set",
                              remedy=f"set one of {', '.join(k for k in keys if k != 'name')}")
        *path, leaf = key.split(".")
        table = out
        for part in path:
            table = table[part]
        table[leaf] = parse_value(key, text, table[leaf])
    return out


def override_name(base: str, overrides: Mapping[str, Any]) -> str:
    """The name of a part with overrides: ``moe-asic-v1[sram.capacity_bytes=8MiB, ...]``."""
    if not overrides:
        return base
    return f"{base}[{', '.join(f'{k}={v}' for k, v in sorted(overrides.items()))}]"


__all__ = ["SIZE_UNITS", "apply_overrides", "entry_keys", "override_name", "parse_value"]
