"""aotc as an `onnx.backend.base.Backend`: what onnx's own backend tests drive.

    from compiler.onnx_backend import AotcBackend
    rep = AotcBackend.prepare(model, "CPU")
    outputs = rep.run([x, shape])          # compiles, then runs the generated code

`prepare` checks the model imports; `run` compiles it for the target and runs the artifact.
Inputs that determine shapes (a Reshape's shape input, a Slice's starts, a TopK's k) are
specialised to the values `run` receives, so one compiled artifact serves each distinct set of
those values; every other input stays a run-time input of the compiled code.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from compiler.api import compile as compile_model, default_options
from compiler.options import CompileOptions
from compiler.runtime import Artifact

# onnx device strings -> aotc target kinds ("CPU" and "CPU:0" alike).
DEVICES = {"CPU": "cpu"}


def _target_of(device: str) -> str:
    kind = device.split(":")[0].upper()
    if kind not in DEVICES:
        raise ValueError(f"aotc's ONNX backend runs on {', '.join(DEVICES)}, not '{device}'")
    return DEVICES[kind]


@dataclass
class AotcRep(BackendRep):
    """A prepared model: compiled on the first `run` for each distinct set of shape-determining
    input values (a model without such inputs is compiled once)."""
    model: onnx.ModelProto
    target: str
    options: CompileOptions
    _artifacts: dict[bytes, tuple[Artifact, frozenset[str]]] = field(default_factory=dict)

    @property
    def input_names(self) -> list[str]:
        initializers = {t.name for t in self.model.graph.initializer}
        return [i.name for i in self.model.graph.input if i.name not in initializers]

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        feeds = _as_feeds(self.input_names, inputs)
        artifact = self.artifact_for(feeds)
        outputs = artifact.run(**{name: feeds[name] for name in artifact.input_names})
        names = [o.name for o in self.model.graph.output]
        return tuple(outputs[name] for name in names)

    def artifact_for(self, feeds: dict[str, np.ndarray]) -> Artifact:
        """The compiled artifact for these inputs: compiled with every input as a candidate
        shape value, then cached under the values of the inputs it actually specialised."""
        for key, (artifact, specialised) in self._artifacts.items():
            if key == _key(feeds, specialised):
                return artifact
        artifact = compile_model(self.model, self.target, options=self.options, shape_values=feeds)
        specialised = frozenset(artifact.manifest["model"].get("specialised_inputs", ()))
        self._artifacts[_key(feeds, specialised)] = (artifact, specialised)
        return artifact


def _key(feeds: dict[str, np.ndarray], names: frozenset[str]) -> bytes:
    return b"".join(n.encode() + b"\0" + str(feeds[n].dtype).encode() + str(feeds[n].shape).encode()
                    + feeds[n].tobytes() for n in sorted(names))


def _as_feeds(names: Sequence[str], inputs: Any) -> dict[str, np.ndarray]:
    if isinstance(inputs, dict):
        return {n: np.asarray(inputs[n]) for n in names}
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if len(inputs) != len(names):
        raise ValueError(f"the model takes {len(names)} inputs ({', '.join(names)}), got {len(inputs)}")
    return {n: np.asarray(x) for n, x in zip(names, inputs)}


class AotcBackend(Backend):
    """onnx's Backend interface over aotc (CPU today; other targets plug in through DEVICES)."""

    options: CompileOptions | None = None   # subclass to change (the conformance tests do)

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> AotcRep:
        super().prepare(model, device, **kwargs)
        options = cls.options or default_options()
        return AotcRep(model, _target_of(device), options)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU",
                  **kwargs: Any) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU",
                 outputs_info=None, **kwargs: Any) -> tuple[np.ndarray, ...]:
        raise NotImplementedError("aotc compiles whole models; wrap the node in a ModelProto")

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.split(":")[0].upper() in DEVICES


def conformance_options(base: CompileOptions | None = None) -> CompileOptions:
    """What the conformance tier compiles with: correctness is measured, not speed (-O1, the
    greedy memory planner)."""
    return replace(base or default_options(), c_opt_level=1, memory_planner="greedy")


__all__ = ["AotcBackend", "AotcRep", "conformance_options"]
