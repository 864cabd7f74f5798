"""Deterministic identifiers for imported names: values, nodes and symbolic dimensions.

Model formats' names are arbitrary strings (ONNX: "/layer1/Conv_output_0", "onnx::Gemm_12",
"123"; torch.export: "conv1.weight"); the graph IR wants identifiers. Each namespace hands out names in first-come order, so the same model always
gets the same names.
"""
from __future__ import annotations

import re

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]+")


def sanitize(raw: str, prefix: str = "v") -> str:
    """"/layer1/Conv_output_0" -> "layer1_Conv_output_0"; "123" -> "v123"; "" -> "v"."""
    text = _NOT_IDENT.sub("_", raw).strip("_")
    if not text or text[0].isdigit():
        text = prefix + text
    return text


class Namer:
    """Hands out unique identifiers; a key asked for twice gets its first name back."""

    def __init__(self, prefix: str = "v") -> None:
        self._prefix = prefix
        self._taken: set[str] = set()
        self._by_key: dict[object, str] = {}

    def fresh(self, raw: str) -> str:
        """A new identifier based on `raw` ("x", then "x_1", "x_2", ...)."""
        base = sanitize(raw, self._prefix)
        name, suffix = base, 0
        while name in self._taken:
            suffix += 1
            name = f"{base}_{suffix}"
        self._taken.add(name)
        return name

    def named(self, key: object, raw: str) -> str:
        """The identifier for `key`, made from `raw` the first time `key` is seen."""
        if key not in self._by_key:
            self._by_key[key] = self.fresh(raw)
        return self._by_key[key]
