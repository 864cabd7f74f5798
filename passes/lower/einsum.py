"""Lowering of Einsum: a parallel loop per output subscript, serial loops over the summed
ones, the product of the operands accumulated in double."""
from __future__ import annotations

from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.loops import Assign, Declare, Kernel, Var
from compiler.ir.ops.einsum import parse, sizes
from passes.lower.builder import binary, block, cast, const, linear_index, load, loop_nest, make_kernel, parallel_nest, store


def lower_einsum(node: Node, in_types, out_types) -> Kernel:
    terms, out = parse(node.attrs.equation, [t.rank for t in in_types])
    found = sizes(terms, in_types)
    summed = sorted({c for term in terms for c in term} - set(out))
    acc = DType.float64
    out_type = out_types[0]

    def body(ins, outs):
        def make(idx):
            index = dict(zip(out, idx))
            index.update({c: Var(f"s_{c}") for c in summed})
            product = None
            for buf, term, t in zip(ins, terms, in_types):
                value = cast(acc, load(buf, linear_index([index[c] for c in term], t.shape)))
                product = value if product is None else binary("mul", product, value)
            update = Assign("acc", binary("add", Var("acc", acc), product))
            loops = loop_nest([f"s_{c}" for c in summed], [const(found[c]) for c in summed], update)
            return block(Declare("acc", acc, const(0, acc)), loops,
                         store(outs[0], linear_index(idx, out_type.shape), Var("acc", acc)))
        return parallel_nest("i", out_type.shape, make) if out else make([])
    return make_kernel(node.op, in_types, out_types, body)
