"""Where an exported node came from, in one line, for error messages:

    op aten.cumsum.default (node 'cumsum') at /src/model.py:12 in forward `return x.cumsum(0)`
    (module 'encoder.0': Block)

from the `stack_trace` and `nn_module_stack` that torch.export records on every node.
"""
from __future__ import annotations

import re

_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def describe(node, target: str) -> str:
    text = f"op {target} (node '{node.name}')"
    location = source_location(node.meta.get("stack_trace"))
    if location:
        text += f" at {location}"
    module = module_path(node.meta.get("nn_module_stack"))
    if module:
        text += f" ({module})"
    return text


def source_location(stack_trace: str | None) -> str:
    """The innermost frame, `path:line in function `code``: the line that called the op."""
    if not stack_trace:
        return ""
    lines = stack_trace.strip().splitlines()
    for index in range(len(lines) - 1, -1, -1):
        match = _FRAME.search(lines[index])
        if match:
            path, line, function = match.groups()
            code = lines[index + 1].strip() if index + 1 < len(lines) else ""
            return f"{path}:{line} in {function}" + (f" `{code}`" if code and not _FRAME.search(code) else "")
    return ""


def module_path(stack: dict | None) -> str:
    """The innermost nn.Module the op ran in, as `module 'path': Class`."""
    if not stack:
        return ""
    path, kind = list(stack.values())[-1]
    if not path:
        return ""
    name = kind.__name__ if isinstance(kind, type) else str(kind).rsplit(".", 1)[-1]
    return f"module '{path}': {name}"
