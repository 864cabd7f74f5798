"""Read a DLPack tensor's address, shape, strides, dtype and device without copying it.

Any object with `__dlpack__` / `__dlpack_device__` (torch tensors, cupy arrays, numpy arrays,
jax arrays) hands over a "dltensor" capsule; its DLTensor struct is read with ctypes. The
capsule is read, never consumed (its name stays "dltensor"), so when it is dropped its own
destructor releases the producer's reference: the consumer keeps it alive while the memory is
in use. Only the legacy (unversioned) capsule is asked for, which every producer still gives.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

from compiler.errors import InputError
from compiler.ir.dtypes import DType

# DLDeviceType values (dlpack.h).
CPU, CUDA, CUDA_HOST, CUDA_MANAGED = 1, 2, 3, 13
DEVICE_NAMES = {CPU: "cpu", CUDA: "cuda", CUDA_HOST: "cuda_host", CUDA_MANAGED: "cuda_managed", 4: "opencl",
                7: "vulkan", 8: "metal", 10: "rocm", 14: "oneapi", 15: "webgpu"}

# (DLDataTypeCode, bits) -> DType. Codes: 0 int, 1 uint, 2 float, 4 bfloat, 6 bool.
_DTYPES = {(0, 8): DType.int8, (0, 16): DType.int16, (0, 32): DType.int32, (0, 64): DType.int64,
           (1, 8): DType.uint8, (1, 16): DType.uint16, (1, 32): DType.uint32, (1, 64): DType.uint64,
           (2, 16): DType.float16, (2, 32): DType.float32, (2, 64): DType.float64,
           (4, 16): DType.bfloat16, (6, 8): DType.bool}


class _Device(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _Device), ("ndim", ctypes.c_int32),
                ("dtype", _DataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


@dataclass(frozen=True)
class TensorView:
    """What a DLPack capsule says about one tensor; `capsule` keeps the producer's memory alive."""
    address: int
    shape: tuple[int, ...]
    strides: tuple[int, ...] | None      # in elements; None means dense row-major
    dtype: DType | None                  # None: a type aotc has no name for
    dtype_text: str
    device_type: int
    device_id: int
    capsule: object

    @property
    def device(self) -> str:
        return f"{DEVICE_NAMES.get(self.device_type, f'device type {self.device_type}')}:{self.device_id}"

    @property
    def contiguous(self) -> bool:
        if self.strides is None:
            return True
        expected = 1
        for size, stride in zip(reversed(self.shape), reversed(self.strides)):
            if size != 1 and stride != expected:
                return False
            expected *= size
        return True


def device_of(obj) -> tuple[int, int] | None:
    """(DLDeviceType, id) of a DLPack producer, or None for objects that are not one."""
    probe = getattr(obj, "__dlpack_device__", None)
    if probe is None or not hasattr(obj, "__dlpack__"):
        return None
    device_type, device_id = probe()
    return int(device_type), int(device_id)


def view(obj, what: str, stream: int | None = None) -> TensorView:
    """Describe `obj` (a DLPack producer). `stream`: the CUDA stream the consumer will use, so
    the producer orders its pending work before it (1 is the legacy default stream)."""
    device = device_of(obj)
    if device is None:
        raise InputError(f"{what}: a {type(obj).__name__} is not a DLPack tensor (no __dlpack__)")
    capsule = obj.__dlpack__(stream=stream) if device[0] in (CUDA, CUDA_MANAGED) else obj.__dlpack__()
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    try:
        address = get_pointer(capsule, b"dltensor")
    except ValueError:
        raise InputError(f"{what}: {type(obj).__name__}.__dlpack__ gave no 'dltensor' capsule") from None
    # DLManagedTensor starts with its DLTensor, so the capsule's pointer is the tensor's.
    tensor = _Tensor.from_address(address)
    shape = tuple(tensor.shape[i] for i in range(tensor.ndim))
    strides = tuple(tensor.strides[i] for i in range(tensor.ndim)) if tensor.strides else None
    code, bits, lanes = tensor.dtype.code, tensor.dtype.bits, tensor.dtype.lanes
    dtype = _DTYPES.get((code, bits)) if lanes == 1 else None
    text = dtype.value if dtype else f"DLPack type code {code}, {bits} bits x{lanes}"
    return TensorView(address=(tensor.data or 0) + tensor.byte_offset, shape=shape, strides=strides,
                      dtype=dtype, dtype_text=text, device_type=tensor.device.device_type,
                      device_id=tensor.device.device_id, capsule=capsule)
