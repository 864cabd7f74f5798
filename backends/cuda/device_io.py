"""Device tensors in and out of a CUDA artifact, without copies.

Inputs are DLPack producers on CUDA device 0 (torch CUDA tensors, cupy arrays, ...); each is
checked (device, dtype, rank, dense row-major layout, alignment) with a one-line error naming
it. Outputs are the caller's tensors (`out=`), checked the same way plus their shape and that
they overlap no input, or else new tensors of the inputs' own library (torch or cupy), so a
torch caller gets torch tensors back. The stream is the caller's, or the inputs' library's
current stream, so aotc's kernels are ordered with the caller's own work on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from compiler.errors import InputError
from compiler.ir.dtypes import DType
from backends.cuda.dlpack import CUDA, TensorView, device_of, view
from backends.cuda.host import DEVICE_ALIGN

LEGACY_DEFAULT_STREAM = 1   # DLPack's name for CUDA's NULL stream (0 is reserved there)


@dataclass(frozen=True)
class Slot:
    """One signature entry: what a tensor given for it must be."""
    name: str
    kind: str            # "input" or "output"
    dtype: DType
    rank: int


def is_device_tensor(obj) -> bool:
    """A DLPack producer whose memory is not on the host (numpy arrays are host memory)."""
    device = device_of(obj)
    return device is not None and device[0] != 1


def _library(obj) -> str:
    return type(obj).__module__.split(".")[0]


def stream_handle(stream, template) -> int:
    """A CUstream as an int: `stream` itself (an int, a torch.cuda.Stream or a cupy Stream),
    or else the current stream of `template`'s library (0, the NULL stream, elsewhere)."""
    if stream is None:
        if _library(template) == "torch":
            import torch
            return int(torch.cuda.current_stream(template.device).cuda_stream)
        if _library(template) == "cupy":
            import cupy
            return int(cupy.cuda.get_current_stream().ptr)
        return 0
    for attribute in ("cuda_stream", "ptr"):   # torch.cuda.Stream, cupy.cuda.Stream
        if hasattr(stream, attribute):
            return int(getattr(stream, attribute))
    if isinstance(stream, int):
        return stream
    raise InputError(f"stream: expected an int CUstream, a torch.cuda.Stream or a cupy Stream, got {type(stream).__name__}")


def check(obj, slot: Slot, stream: int) -> TensorView:
    what = f"{slot.kind} '{slot.name}'"
    tensor = view(obj, what, stream or LEGACY_DEFAULT_STREAM)
    if tensor.device_type != CUDA or tensor.device_id != 0:
        raise InputError(f"{what} is on {tensor.device}; this artifact runs on cuda:0 (GPU 0)")
    if tensor.dtype != slot.dtype:
        raise InputError(f"{what}: expected dtype {slot.dtype.value}, got {tensor.dtype_text}")
    if len(tensor.shape) != slot.rank:
        raise InputError(f"{what}: expected rank {slot.rank}, got shape {tensor.shape}")
    if not tensor.contiguous:
        raise InputError(f"{what}: strides {tensor.strides} are not dense row-major; pass a contiguous "
                         f"tensor (torch: .contiguous(), cupy: ascontiguousarray)")
    if tensor.address % DEVICE_ALIGN:
        raise InputError(f"{what}: device address {tensor.address:#x} is not {DEVICE_ALIGN}-byte aligned "
                         f"(a view into another tensor? pass a fresh or .clone()d one)")
    return tensor


def allocate(template, shape: tuple[int, ...], dtype: DType):
    """An uninitialised tensor of `template`'s library on its device."""
    library = _library(template)
    if library == "torch":
        import torch
        names = {DType.bool: "bool", DType.bfloat16: "bfloat16"}
        torch_dtype = getattr(torch, names.get(dtype, dtype.to_numpy().name))
        return torch.empty(shape, dtype=torch_dtype, device=template.device)
    if library == "cupy":
        import cupy
        with cupy.cuda.Device(template.device.id):
            return cupy.empty(shape, dtype=dtype.to_numpy())
    raise InputError(f"outputs for inputs of type {type(template).__name__}: aotc allocates torch and cupy "
                     f"tensors only; pass out=[...] device tensors")


def check_outputs(out: Sequence, slots: Sequence[Slot], shapes: Sequence[tuple[int, ...]],
                  inputs: Sequence[TensorView], stream: int) -> list[TensorView]:
    if len(out) != len(slots):
        raise InputError(f"out: the model has {len(slots)} outputs ({', '.join(s.name for s in slots)}), got {len(out)}")
    views = []
    for obj, slot, shape in zip(out, slots, shapes):
        tensor = check(obj, slot, stream)
        if tensor.shape != tuple(shape):
            raise InputError(f"output '{slot.name}': expected shape {tuple(shape)}, got {tensor.shape}")
        nbytes = _nbytes(tensor)
        for other in [*inputs, *views]:
            if tensor.address < other.address + _nbytes(other) and other.address < tensor.address + nbytes:
                raise InputError(f"output '{slot.name}' overlaps another input or output; aotc writes outputs "
                                 f"while reading inputs, so pass separate buffers")
        views.append(tensor)
    return views


def _nbytes(tensor: TensorView) -> int:
    count = 1
    for size in tensor.shape:
        count *= size
    return count * (tensor.dtype.itemsize if tensor.dtype else 1)
