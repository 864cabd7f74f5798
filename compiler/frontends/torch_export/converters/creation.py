"""Tensors made from a shape rather than from data, and export's own checks.

With static sizes and constant arguments these fold before any converter runs (the importer
runs them in torch). What reaches a converter is `full_like` of a run-time tensor, whose value
needs only that tensor's static shape, and creation from a symbolic size, which the graph IR
cannot express as a constant.
"""
from __future__ import annotations

import numpy as np

from compiler.frontends.torch_export.call import Call


def _full_like(value_key: str | None, fill: float = 0.0):
    def convert(call: Call) -> str:
        out = call.out_type()
        if not out.is_static:
            raise call.unsupported(f"a constant tensor of symbolic shape {out.shape} is not supported")
        value = call.number(value_key) if value_key else fill
        return call.constant(np.full(out.static_shape(), value, out.dtype.to_numpy()))
    return convert


def _symbolic_creation(call: Call) -> str:
    raise call.unsupported("creating a tensor whose size is symbolic is not supported; aotc folds "
                           "tensor creation to constants, which needs static sizes")


def _checked_at_export(call: Call) -> None:
    """Export's runtime assertions restate facts of the recorded shapes and dtypes, which the
    importer already holds every value to; they compute nothing."""
    return None


CONVERTERS = {
    "aten.full_like.default": _full_like("fill_value"),
    "aten.zeros_like.default": _full_like(None, 0.0),
    "aten.ones_like.default": _full_like(None, 1.0),
    "aten.empty_like.default": _full_like(None, 0.0),
    **{f"aten.{name}": _symbolic_creation
       for name in ("full.default", "zeros.default", "ones.default", "empty.memory_format",
                    "arange.default", "arange.start", "arange.start_step", "scalar_tensor.default")},
    **{f"aten.{name}": _checked_at_export
       for name in ("_assert_tensor_metadata.default", "_assert_scalar.default",
                    "sym_constrain_range_for_size.default", "sym_constrain_range.default")},
}
