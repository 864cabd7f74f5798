"""Nearest-neighbour upsampling (aten.upsample_nearest{1,2,3}d.vec) as one Gather per resized
axis with constant source indices: there is no resize op in the graph IR, and nearest
resizing is exactly a gather.

torch's rule: output index i reads input index min(floor(i * scale), size - 1), where scale is
1 / scale_factor when scale factors are given and size_in / size_out otherwise.
"""
from __future__ import annotations

import numpy as np

from compiler.frontends.torch_export.call import Call
from compiler.ir.ops.shape import GatherAttrs


def _upsample_nearest(call: Call) -> str:
    x = call.tensor("input")
    in_shape, out_shape = call.type(x).shape, call.out_type().shape
    factors = call.arg("scale_factors")
    spatial = range(2, len(in_shape))
    for position, axis in enumerate(spatial):
        size_in, size_out = in_shape[axis], out_shape[axis]
        if not (isinstance(size_in, int) and isinstance(size_out, int)):
            raise call.unsupported(f"resizing symbolic axis {axis} of {in_shape} is not supported")
        if size_in == size_out and not factors:
            continue
        scale = 1.0 / factors[position] if factors else size_in / size_out
        # float32 arithmetic, as torch's CPU kernel computes the source index
        source = np.floor(np.arange(size_out, dtype=np.float32) * np.float32(scale)).astype(np.int64)
        x = call.emit("Gather", GatherAttrs(axis), x, call.constant(np.minimum(source, size_in - 1)))
    return x


CONVERTERS = {f"aten.upsample_nearest{n}d.vec": _upsample_nearest for n in (1, 2, 3)}
