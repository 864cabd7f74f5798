"""The TVM peer (`aotc bench --against tvm`; `pip install aotc[peers]`): Apache TVM 0.27's Relax
on the model's ONNX file, built for this host's CPU by LLVM, run by the Relax VirtualMachine.

The only module that imports TVM. The pins (apache-tvm 0.27.0.post1 with apache-tvm-ffi
0.1.14.post1) matter: newer ffi builds crash MetaSchedule's tuner. The model goes through
`relax.pipeline.static_shape_tuning_pipeline` (decompose, legalize, fuse, then MetaSchedule):
with a tuning budget it tunes into a work dir; with none it only applies the database found
there (functions without a record keep TVM's default schedule). Building with a database and
tuning into it use the same pipeline, so the tuned records match the functions they describe.
examples/tune_tvm.py tunes; the bench builds with a finished database (`--tvm-database DIR`).
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


def import_onnx(model: Path):
    """The ONNX model as a Relax IRModule, weights bound as constants (static shapes)."""
    _, relax = import_tvm()
    import onnx
    from tvm.relax.frontend.onnx import from_onnx
    try:
        proto = onnx.load(str(model))
    except Exception as error:
        raise ModelError(f"peer tvm: cannot read {model}: {error}") from error
    return relax.transform.BindParams("main", {})(from_onnx(proto, keep_params_in_input=False))


def tuning_pipeline(target, work_dir: Path, trials: int, trials_per_task: int | None = None):
    """TVM's static-shape pipeline: tunes `trials` into `work_dir` (0: applies what is there)."""
    _, relax = import_tvm()
    return relax.pipeline.static_shape_tuning_pipeline(total_trials=trials, target=target, work_dir=str(work_dir),
                                                       max_trials_per_task=trials_per_task)


def build(model: Path, threads: int, database: Path | None):
    """The compiled Relax executable for `model`, with `database`'s schedules where it has them."""
    tvm, relax = import_tvm()
    target = host_target(threads)
    mod = import_onnx(model)
    if database is not None:
        if not (Path(database) / "database_tuning_record.json").is_file():
            raise AotcError(f"--tvm-database {database}: no MetaSchedule database there "
                            f"(database_tuning_record.json); examples/tune_tvm.py writes one")
        mod = tuning_pipeline(target, Path(database), 0)(mod)
    else:   # the same pipeline's steps, less MetaSchedule
        with target:
            mod = tvm.transform.Sequential([relax.transform.DecomposeOpsForInference(),
                                            relax.transform.CanonicalizeBindings(),
                                            relax.get_pipeline("zero")])(mod)
    return tvm.compile(mod, target=target)


def set_threads(threads: int) -> None:
    """TVM's runtime thread pool to `threads` workers (affinity mode 0: big cores, as default)."""
    tvm, _ = import_tvm()
    tvm.get_global_func("runtime.config_threadpool")(0, threads)


def tvm_contender(model: Path, threads: int, inputs: dict[str, np.ndarray],
                  database: str | None = None) -> Callable[[], object]:
    tvm, relax = import_tvm()
    set_threads(threads)
    executable = build(model, threads, Path(database) if database else None)
    device = tvm.cpu()
    vm = relax.VirtualMachine(executable, device)
    # Inputs copied to TVM tensors once, outside the timing, as the other peers keep theirs.
    arguments = [tvm.runtime.tensor(np.ascontiguousarray(value), device) for value in inputs.values()]
    main = vm["main"]
    return lambda: main(*arguments)
