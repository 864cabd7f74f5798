"""The deployable artifact: a directory with manifest.json, weights.bin, kernel sources, the
built library with its header, and graph.ir.

Writing is atomic (a sibling temporary directory renamed into place), so a failed compile
leaves nothing half-written. Loading verifies every file's sha256 and never unpickles.
Same input and options give byte-identical files: the manifest has no timestamps or paths.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from compiler.errors import ArtifactError, InputError
from compiler.ir.dtypes import DType
from compiler.ir.program import kernel_hash
from compiler.ir.types import Sym, TensorType, bind_symbols, format_dim

SCHEMA_VERSION = 1
AOTC_VERSION = "0.1.0"
# Changes only when a printer or template changes output: tuning records key on it.
CODEGEN_VERSION = {"cpu": "cpu-c-1", "cuda": "cuda-1", "webgpu": "webgpu-1", "fpga": "fpga-hls-1"}
MANIFEST = "manifest.json"
WEIGHTS = "weights.bin"
GRAPH_IR = "graph.ir"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _type_json(name: str, ttype: TensorType) -> dict:
    return {"name": name, "dtype": ttype.dtype.value,
            "shape": [d.name if isinstance(d, Sym) else d for d in ttype.shape]}


def weights_blob(compiled) -> bytes:
    blob = bytearray(compiled.weights.total)
    for name, offset in compiled.weights.offsets.items():
        array = np.ascontiguousarray(compiled.constants[name])
        blob[offset:offset + array.nbytes] = array.tobytes()
    return bytes(blob)


def build_manifest(compiled, model, options: Mapping[str, Any], files: Mapping[str, str]) -> dict:
    """`model`: what api._import returned (sha256, name, path, source_nodes)."""
    graph, program, memory = compiled.graph, compiled.program, compiled.memory
    target = compiled.target
    return {
        "schema": SCHEMA_VERSION,
        "aotc_version": AOTC_VERSION,
        "codegen_version": CODEGEN_VERSION[target.kind],
        "model": {"name": model.name, "sha256": model.sha256, "path": model.path,
                  "source_nodes": model.source_nodes,
                  **({"specialised_inputs": dict(model.specialised)} if model.specialised else {})},
        "target": {"name": target.name, "kind": target.kind,
                   "isa": target.isa.name if target.isa else None,
                   "march": target.isa.march if target.isa else None,
                   "features": list(target.isa.features) if target.isa else []},
        "options": dict(options),
        "pipeline": list(compiled.pipeline),
        "signature": {"inputs": [_type_json(v.name, v.type) for v in graph.inputs],
                      "outputs": [_type_json(name, v.type)
                                  for name, v in zip(compiled.output_names, graph.output_values())]},
        "kernels": [{"name": name, "ops": list(k.ops), "nodes": list(k.nodes),
                     "config": compiled.configs[name].to_json(),
                     "tuning_key": {"hash": kernel_hash(k), "backend": target.kind,
                                    "codegen": CODEGEN_VERSION[target.kind]},
                     "flops": k.cost.flops, "bytes": k.cost.bytes,
                     # The tuning record whose config this kernel uses (tuned compiles only).
                     **({"tuned": dict(compiled.tuned[name])} if name in compiled.tuned else {})}
                    for name, k in sorted(program.kernels.items())],
        "plan": {
            "calls": [{"kernel": c.kernel, "args": list(c.args), "nodes": list(c.nodes)} for c in program.calls],
            "memory": {
                "planner": memory.planner, "alignment": memory.alignment, "notes": list(memory.notes),
                "regions": [{"symbols": list(r), "bytes": memory.region_sizes[r],
                             "lower_bound": memory.lower_bounds[r], "no_reuse": memory.no_reuse[r]}
                            for r in memory.regions],
                "placements": {name: {"region": list(p.region), "offset": p.offset, "size": p.size,
                                      "first": p.first, "last": p.last}
                               for name, p in sorted(memory.placements.items())},
                "in_place": dict(sorted(memory.in_place.items())),
            },
            "weights": {name: {"offset": off, "bytes": compiled.weights.sizes[name],
                               "dtype": DType.from_numpy(compiled.constants[name].dtype).value,
                               "shape": list(compiled.constants[name].shape)}
                        for name, off in sorted(compiled.weights.offsets.items())},
        },
        "files": dict(sorted(files.items())),
    }


def artifact_files(compiled, graph_text: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {WEIGHTS: weights_blob(compiled), GRAPH_IR: graph_text.encode()}
    for name, text in compiled.source.files.items():
        # An FPGA project keeps its own tree (DIR/hls/...), as Vitis expects it.
        target_name = name if name.endswith(".h") or name.startswith("hls/") else f"kernels/{name}"
        files[target_name] = text.encode()
    for name, data in compiled.binary.files.items():
        files[name] = data
    return files


def write_directory(files: Mapping[str, bytes], manifest: dict, out_dir: Path) -> None:
    """Write atomically: a sibling temporary directory, renamed over `out_dir` at the end."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        for name, data in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        for path in [tmp, *tmp.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() or path.suffix == ".so" else 0o644)
        if out_dir.exists():
            if not (out_dir / MANIFEST).is_file() and any(out_dir.iterdir()):
                raise ArtifactError(f"{out_dir}: exists and is not an aotc artifact; refusing to replace it")
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, old / "artifact")
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    if not Path(directory).is_dir():
        raise ArtifactError(f"{directory}: no such artifact directory")
    if not path.is_file():
        raise ArtifactError(f"{directory}: missing {MANIFEST} (not an aotc artifact, or damaged)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ArtifactError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA_VERSION:
        raise ArtifactError(f"{path}: unsupported manifest schema {manifest.get('schema') if isinstance(manifest, dict) else '?'}"
                            f" (this aotc reads schema {SCHEMA_VERSION})")
    for key in ("files", "signature", "target", "plan", "kernels"):
        if key not in manifest:
            raise ArtifactError(f"{path}: manifest lacks '{key}'")
    return manifest


def verify_files(directory: Path, manifest: dict) -> None:
    for name, expected in manifest["files"].items():
        path = Path(directory) / name
        if not path.is_file():
            raise ArtifactError(f"{directory}: missing file {name}")
        if sha256_file(path) != expected:
            raise ArtifactError(f"{path}: checksum mismatch (the file was modified or damaged)")


def signature_types(manifest: dict, kind: str) -> list[tuple[str, TensorType]]:
    out = []
    for item in manifest["signature"][kind]:
        shape = tuple(Sym(d) if isinstance(d, str) else int(d) for d in item["shape"])
        out.append((item["name"], TensorType(shape, DType(item["dtype"]))))
    return out


def order_inputs(signature: list[tuple[str, TensorType]], args: tuple, kwargs: dict) -> list[Any]:
    """Positional/keyword inputs in signature order, checking the names only."""
    names = [n for n, _ in signature]
    if len(args) > len(names):
        raise InputError(f"the model takes {len(names)} inputs ({', '.join(names)}), got {len(args)} positional")
    given: dict[str, Any] = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise InputError(f"unknown input '{key}'; the model's inputs are: {', '.join(names)}")
        if key in given:
            raise InputError(f"input '{key}' given twice")
        given[key] = value
    missing = [n for n in names if n not in given]
    if missing:
        raise InputError(f"missing input{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}")
    return [given[n] for n in names]


def check_inputs(signature: list[tuple[str, TensorType]], args: tuple, kwargs: dict) -> list[np.ndarray]:
    """Arrange positional/keyword inputs in signature order, checking names, dtypes and shapes."""
    arrays, bindings = [], {}
    for (name, ttype), value in zip(signature, order_inputs(signature, args, kwargs)):
        array = np.asarray(value)
        want = ttype.dtype.to_numpy()
        if array.dtype != want:
            raise InputError(f"input '{name}': expected dtype {want}, got {array.dtype}")
        try:
            bind_symbols(ttype.shape, array.shape, bindings, f"input '{name}'")
        except ValueError as error:
            raise InputError(str(error)) from None
        arrays.append(np.ascontiguousarray(array))
    return arrays


def describe_shape(ttype: TensorType) -> str:
    return f"{ttype.dtype.value}[{','.join(format_dim(d) for d in ttype.shape)}]"
