"""The TVM peer (`aotc bench --against tvm`; `pip install aotc[peers]`): Apache TVM 0.27's Relax
on the model's ONNX file, built for this host's CPU by LLVM, run by the Relax VirtualMachine.

The only module that imports TVM. The pins (apache-tvm 0.27.0.post1 with apache-tvm-ffi
0.1.14.post1) matter: newer ffi builds crash MetaSchedule's tuner. The model goes through
the steps of `relax.pipeline.static_shape_tuning_pipeline`: decompose, legalize, fuse, then
MetaSchedule tunes into a work dir (`tune`, run by examples/tune_tvm.py), or a build applies the
database found there (`build`; the bench's `--tvm-database DIR`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from compiler.errors import AotcError, ModelError

INSTALL_HINT = "install aotc[peers]: pip install 'aotc[peers]' (apache-tvm==0.27.0.post1)"


def import_tvm():
    try:
        import tvm
        from tvm import relax
    except ImportError as error:
        raise AotcError(f"peer tvm: TVM is not installed in this Python ({INSTALL_HINT}): {error}") from error
    return tvm, relax


def host_target(threads: int):
    """LLVM for this host's CPU (e.g. znver4 on Zen 4), `threads` cores for the tuner's cost model."""
    tvm, _ = import_tvm()
    from tvm.target import codegen
    return tvm.target.Target({"kind": "llvm", "mcpu": codegen.llvm_get_system_cpu(), "num-cores": threads})


def import_onnx(model: Path, shapes: dict[str, tuple[int, ...]] | None = None):
    """The ONNX model as a Relax IRModule, weights bound as constants, every input static: its
    shape from `shapes`, else as declared with symbolic dimensions at 1 (the bench's default
    binding). TVM's static-shape pipeline is what MetaSchedule tunes; with the MLP's symbolic
    batch left in, its tuner failed here (`Check failed: old_rv != nullptr && new_rv != nullptr`)."""
    import_tvm()
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype
    from tvm.relax.frontend.onnx import from_onnx
    try:
        proto = onnx.load(str(model))
    except Exception as error:
        raise ModelError(f"peer tvm: cannot read {model}: {error}") from error
    weights = {t.name for t in proto.graph.initializer}
    shape_dict, dtype_dict = {}, {}
    for value in proto.graph.input:
        if value.name in weights:
            continue
        tensor = value.type.tensor_type
        declared = [d.dim_value if d.HasField("dim_value") else 1 for d in tensor.shape.dim]
        shape_dict[value.name] = list((shapes or {}).get(value.name, declared))
        dtype_dict[value.name] = str(tensor_dtype_to_np_dtype(tensor.elem_type))
    return from_onnx(proto, shape_dict=shape_dict, dtype_dict=dtype_dict, keep_params_in_input=False)


def prepare(mod, target):
    """The steps of TVM's `static_shape_tuning_pipeline` before MetaSchedule: decompose for
    inference, legalize to TIR, fold constants, fuse. Tuning and building both start here, so
    the tuned records match the functions a build looks up."""
    tvm, relax = import_tvm()
    with target:
        return tvm.transform.Sequential([relax.transform.DecomposeOpsForInference(),
                                         relax.transform.CanonicalizeBindings(),
                                         relax.get_pipeline("zero")])(mod)


def tune(model: Path, threads: int, work_dir: Path, trials: int, trials_per_iter: int = 64,
         trials_per_task: int | None = None, seed: int | None = None,
         shapes: dict[str, tuple[int, ...]] | None = None) -> None:
    """MetaSchedule (TVM's defaults: evolutionary search, XGBoost cost model, gradient task
    scheduler) over every fused function of `model`, records appended to `work_dir`'s JSON
    database as they are measured (a tuning stopped early leaves a usable database)."""
    import_tvm()
    from tvm.s_tir import meta_schedule as ms
    target = host_target(threads)
    ms.relax_integration.tune_relax(prepare(import_onnx(model, shapes), target), params={}, target=target,
                                    work_dir=str(work_dir), max_trials_global=trials,
                                    max_trials_per_task=trials_per_task, num_trials_per_iter=trials_per_iter,
                                    seed=seed)


def build(model: Path, threads: int, database: Path | None, shapes: dict[str, tuple[int, ...]] | None = None):
    """The compiled Relax executable for `model`, with `database`'s schedules where it has them
    (functions without a record keep TVM's default schedule)."""
    tvm, relax = import_tvm()
    target = host_target(threads)
    mod = prepare(import_onnx(model, shapes), target)
    if database is not None:
        if not (Path(database) / "database_tuning_record.json").is_file():
            raise AotcError(f"--tvm-database {database}: no MetaSchedule database there "
                            f"(database_tuning_record.json); examples/tune_tvm.py writes one")
        with target:
            mod = relax.transform.MetaScheduleApplyDatabase(str(database))(mod)
    return tvm.compile(mod, target=target)


def set_threads(threads: int) -> None:
    """TVM's runtime thread pool to `threads` workers (affinity mode 0: big cores, as default)."""
    tvm, _ = import_tvm()
    tvm.get_global_func("runtime.config_threadpool")(0, threads)


def tvm_contender(model: Path, threads: int, inputs: dict[str, np.ndarray],
                  database: str | None = None) -> Callable[[], object]:
    tvm, relax = import_tvm()
    set_threads(threads)
    executable = build(model, threads, Path(database) if database else None,
                       {name: value.shape for name, value in inputs.items()})
    device = tvm.cpu()
    vm = relax.VirtualMachine(executable, device)
    # Inputs copied to TVM tensors once, outside the timing, as the other peers keep theirs.
    arguments = [tvm.runtime.tensor(np.ascontiguousarray(value), device) for value in inputs.values()]
    main = vm["main"]
    return lambda: main(*arguments)
