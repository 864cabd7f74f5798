"""The torch.export frontend: an nn.Module (or an ExportedProgram) -> graph-IR Graph, directly
from the core ATen program (no ONNX in between).

    from compiler.frontends.torch_export import import_torch
    graph, aten_calls = import_torch(model, (x,), dynamic_batch=True)

Parameters and buffers become constants; a dynamic dimension declared in the export stays a
symbolic dimension; an ATen op aotc cannot import fails with one line naming the op and the
source line torch.export recorded for it. torch is imported only when a function here runs.
"""
from __future__ import annotations

from compiler.errors import ModelError
from compiler.frontends.names import sanitize
from compiler.frontends.torch_export.export import decompose, export_module, load_exported_program
from compiler.frontends.torch_export.importer import import_exported_program
from compiler.ir.graph import Graph


def is_exported_program(model) -> bool:
    return type(model).__name__ == "ExportedProgram" and hasattr(model, "graph_signature")


def is_module(model) -> bool:
    return hasattr(model, "forward") and hasattr(model, "parameters") and hasattr(model, "eval")


def import_torch(model, example_inputs=None, *, dynamic_shapes=None, dynamic_batch: bool = False,
                 name: str | None = None) -> tuple[Graph, int]:
    """Import an nn.Module (exported here with `example_inputs` and `dynamic_shapes` or
    `dynamic_batch`) or an ExportedProgram (whose dynamic dims were declared when it was
    exported). Returns the graph and the number of ATen calls in the decomposed program."""
    if is_exported_program(model):
        if dynamic_shapes is not None or dynamic_batch:
            raise ModelError("an ExportedProgram's dynamic dimensions are fixed when it is exported; "
                             "pass dynamic_shapes to torch.export.export instead")
        program, names = decompose(model), {}
        default_name = "model"
    else:
        program, names = export_module(model, example_inputs, dynamic_shapes=dynamic_shapes,
                                       dynamic_batch=dynamic_batch)
        default_name = type(model).__name__
    graph = import_exported_program(program, name=name or sanitize(default_name, "m"), symbol_names=names)
    calls = sum(1 for n in program.graph_module.graph.nodes
                if n.op == "call_function" and str(n.target).startswith("aten."))
    return graph, calls


__all__ = ["import_torch", "import_exported_program", "export_module", "decompose", "load_exported_program",
           "is_exported_program", "is_module"]
