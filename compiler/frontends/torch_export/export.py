"""nn.Module -> core-ATen ExportedProgram, and the names of its symbolic dimensions.

    program, names = export_module(model, (x,), dynamic_batch=True)

`dynamic_shapes` is torch.export's own argument (for example `({0: Dim("batch")},)`);
`dynamic_batch=True` is shorthand for a shared `Dim("batch")` on axis 0 of every tensor input.
"""
from __future__ import annotations

from typing import Mapping

from compiler.errors import ModelError, UnsupportedError


def export_module(module, example_inputs, *, dynamic_shapes=None,
                  dynamic_batch: bool = False) -> tuple[object, dict[str, str]]:
    """Export with torch.export and decompose to the core ATen op set.

    Returns the program and the names of its size symbols (torch's "s77" -> "batch"), taken
    from the `torch.export.Dim`s of `dynamic_shapes`.
    """
    import torch
    if example_inputs is None:
        raise ModelError("compiling a torch.nn.Module needs example_inputs, e.g. "
                         "compiler.compile(model, example_inputs=(x,))")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(example_inputs)
    if dynamic_batch:
        if dynamic_shapes is not None:
            raise ModelError("pass either dynamic_shapes or dynamic_batch=True, not both")
        batch = torch.export.Dim("batch")
        dynamic_shapes = tuple({0: batch} if isinstance(x, torch.Tensor) else None for x in example_inputs)
    # Inference: export in eval mode (running statistics, no dropout), then give the caller
    # back the module in the modes it had.
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        program = torch.export.export(module, example_inputs, dynamic_shapes=dynamic_shapes)
    except Exception as error:  # torch's message is long; its first line says what failed
        raise UnsupportedError(f"torch.export could not export {type(module).__name__}: "
                               f"{_first_line(error)}") from None
    finally:
        for submodule, training in modes:
            submodule.training = training
    program = decompose(program)
    return program, symbol_names(program, dynamic_shapes)


def load_exported_program(path):
    """An ExportedProgram from a .pt2 archive written by torch.export.save."""
    import torch
    try:
        return torch.export.load(str(path))
    except Exception as error:
        raise ModelError(f"{path}: not a torch.export archive ({_first_line(error)})") from None


def decompose(program):
    """The program in the core ATen op set (inference: no autograd ops), except that
    scaled_dot_product_attention stays whole: its decomposition flattens the heads into bmm
    calls and spells the fully-masked-row guard with any(); kept whole, it is converted to the
    attention form the simplify pass recognises (converters/attention.py)."""
    import torch
    table = torch.export.default_decompositions()
    table.pop(torch.ops.aten.scaled_dot_product_attention.default, None)
    try:
        return program.run_decompositions(table)
    except Exception as error:
        raise UnsupportedError(f"torch.export could not decompose the program to core ATen: "
                               f"{_first_line(error)}") from None


def symbol_names(program, dynamic_shapes) -> dict[str, str]:
    """torch's size symbols named by the Dims that made them: `dynamic_shapes` holds, per user
    input (a tuple by position or a dict by argument name), a dict {axis: Dim} or a list of Dims."""
    if dynamic_shapes is None:
        return {}
    inputs = [spec.arg.name for spec in program.graph_signature.input_specs if spec.kind.name == "USER_INPUT"]
    if isinstance(dynamic_shapes, Mapping):
        per_input = [dynamic_shapes.get(name) for name in inputs]
    else:
        per_input = list(dynamic_shapes)
    fakes = {n.name: n.meta.get("val") for n in program.graph_module.graph.nodes if n.op == "placeholder"}
    names: dict[str, str] = {}
    for name, spec in zip(inputs, per_input):
        axes = spec.items() if isinstance(spec, Mapping) else enumerate(spec or ())
        shape = getattr(fakes.get(name), "shape", ())
        for axis, dim in axes:
            label = getattr(dim, "__name__", None)
            if label and axis < len(shape) and not isinstance(shape[axis], int) and shape[axis].node.expr.is_Symbol:
                names.setdefault(str(shape[axis].node.expr), label)
    return names


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0].strip()
