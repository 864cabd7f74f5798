"""The ONNX frontend: `import_onnx(path or ModelProto) -> Graph`.

    from compiler.frontends.onnx import import_onnx
    graph = import_onnx("model.onnx")

Default-domain opsets 13 up to the newest the installed onnx knows. Shape-determining inputs
must fold to constants at import time; unsupported ops, dtypes and run-time shapes fail with
one-line errors naming the file, node and op.
"""
from compiler.frontends.onnx.importer import Imported, import_onnx, import_onnx_counted, import_onnx_specialised

__all__ = ["Imported", "import_onnx", "import_onnx_counted", "import_onnx_specialised"]
