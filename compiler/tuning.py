"""`aotc tune`'s wiring: a model's tasks, candidate artifacts, the measuring process, the job.

autotune/ holds the job, search, runner and database and never imports a concrete backend;
this module gives it what needs one: building a candidate (a one-kernel artifact through
the normal pipeline and backend build) and the process that measures it:

    python -m compiler.tuning DIR... --repeats 5 --warmup 2 --seed 0 --save-outputs
    -> a line {"artifact": DIR, "runs": [seconds, ...]} per candidate, its outputs in DIR.outputs.npz
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from compiler.ir.config import KernelConfig
from compiler.ir.types import Sym
from compiler.options import CompileOptions
from compiler.target import Target

CANDIDATE_MODEL_NAME = "tuning-candidate"


@dataclass(frozen=True)
class _CandidateModel:
    """The `model` part of a candidate's manifest (compiler.api.ImportedModel's fields)."""
    name: str
    sha256: str
    path: None = None
    source_nodes: int = 1
    specialised: tuple = ()


def build_candidate(task, config: KernelConfig, out_dir: Path, *, target: Target, options: CompileOptions) -> None:
    """Write the one-kernel artifact of `task` with `config` to `out_dir` (the same Tile,
    prepare, print and build as a whole model; the build cache shared with compiles)."""
    from compiler.artifact import artifact_files, build_manifest, sha256_bytes, write_directory
    from compiler.ir.printer import print_graph
    from compiler.pipeline import LoweredGraph, TunedConfigs, backend_for, compile_program
    program = task.program()
    lowered = LoweredGraph(target, backend_for(target, options), program.graph, program, program.graph.outputs, ())
    compiled = compile_program(lowered, TunedConfigs({task.name: config}), replace(options, profile=False),
                               schedule=False)
    files = artifact_files(compiled, print_graph(compiled.graph))
    manifest = build_manifest(compiled, _CandidateModel(CANDIDATE_MODEL_NAME, task.kernel_hash),
                              options.manifest_fields(), {n: sha256_bytes(d) for n, d in files.items()})
    write_directory(files, manifest, Path(out_dir))


def candidate_outputs(directory: Path, seed: int) -> list[np.ndarray]:
    """Run a candidate artifact once on the benchmark inputs of `seed`."""
    from backends.base import benchmark_inputs
    from compiler.runtime import Artifact
    artifact = Artifact(directory)
    types = [(t.dtype, tuple(1 if isinstance(d, Sym) else d for d in t.shape)) for _, t in artifact.inputs]
    return [np.asarray(a) for a in artifact.run_list(*benchmark_inputs(types, seed))]


def measure_main(argv: list[str] | None = None) -> int:
    """The measuring process: for each artifact in turn, its outputs (for the correctness
    check, saved beside it as ARTIFACT.outputs.npz) then the backend's timing, printed as
    one JSON line as soon as known. The runner starts it on a batch of candidates and, if it
    dies or hangs on one, charges that one and restarts it on the rest."""
    from compiler.artifact import read_manifest
    from compiler.pipeline import backend_for
    from compiler.target import resolve_target
    parser = argparse.ArgumentParser(prog="python -m compiler.tuning")
    parser.add_argument("artifacts", nargs="+")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-outputs", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="CPU: time with this many threads (default: all)")
    parser.add_argument("--flush-bytes", type=int, default=0, help="CPU: evict the caches before each timed run")
    args = parser.parse_args(argv)
    for artifact in args.artifacts:
        directory = Path(artifact)
        if args.save_outputs:
            np.savez(f"{directory}.outputs.npz", *candidate_outputs(directory, args.seed))
        runs: list[float] = []
        if args.repeats > 0:
            target = resolve_target(read_manifest(directory)["target"]["name"])
            backend = backend_for(target, CompileOptions())
            if args.threads and hasattr(backend, "bench_threads"):
                backend = replace(backend, bench_threads=args.threads)
            if args.flush_bytes and hasattr(backend, "bench_flush_bytes"):
                backend = replace(backend, bench_flush_bytes=args.flush_bytes)
            runs = backend.benchmark(directory, repeats=args.repeats, warmup=args.warmup, seed=args.seed)
        print(json.dumps({"artifact": artifact, "runs": runs}), flush=True)
    return 0


def measure_command() -> tuple[str, ...]:
    return (sys.executable, "-m", "compiler.tuning")


if __name__ == "__main__":
    sys.exit(measure_main())


@dataclass(frozen=True)
class TuneRequest:
    model: str | None
    target: str
    db: Path
    trials: int
    strategy: str = "evolutionary"
    seed: int = 0
    time_budget: float | None = None
    merge: tuple[str, ...] = ()
    import_lines: tuple[str, ...] = ()
    export: str | None = None
    work_dir: Path | None = None          # candidates are built here (default: a temporary directory)
    measure_command: tuple[str, ...] = ()  # default: measure_command()
    build_workers: int = 2
    threads: int | None = None             # CPU timing threads (None: every core)
    cache_flush: str = "auto"              # CPU: time candidates cache-cold: on, off, or auto
                                           # (on when the model's weights outgrow the last-level cache)


def weight_bytes(lowered) -> int:
    """Bytes of the constant operands of the model's contractions (what its kernels stream each
    call; an embedding table, of which a call reads a few rows, does not count)."""
    graph = lowered.graph
    read = {name for node in graph.nodes if node.op in ("Conv", "Gemm", "MatMul")
            for name in node.inputs if name in graph.constants}
    return sum(int(graph.constants[name].nbytes) for name in read)


def flush_bytes(policy: str, target, weights: int) -> int:
    """Bytes to write between timed runs (twice the last-level cache; 0: time warm), for a
    model whose contractions read `weights` bytes of constants. A kernel timed alone runs again
    and again on weights the caches keep; inside a model whose weights outgrow the last-level
    cache they arrive from memory every call, and the configs that win differ (ResNet-50 tuned
    warm ran 15% slower than untuned). CPU targets only."""
    if policy not in ("auto", "on", "off"):
        raise ValueError(f"cache flush policy must be auto, on or off, got {policy!r}")
    if target.kind != "cpu" or policy == "off":
        return 0
    llc = target.cache_bytes[-1]
    return 2 * llc if policy == "on" or weights > llc else 0


def tune(request: TuneRequest, options: CompileOptions, say=print, progress_stream=None):
    """`aotc tune`: merge/import into the database, tune the model's tasks, export. Returns
    the per-task results of the job (empty when no model was given)."""
    import functools
    import tempfile
    from autotune.database import TuningDatabase
    from autotune.jobs import JobSettings, Progress, estimated_seconds, model_speedup, run_job
    from autotune.measure import LocalRunner, RunnerSettings
    from autotune.space import extract_tasks, tunable, tuning_key
    from compiler.api import _import
    from compiler.errors import TuningError
    from compiler.pipeline import lower_graph
    from compiler.target import resolve_target
    results = []
    with TuningDatabase.open(request.db) as db:
        for other in request.merge:
            with TuningDatabase.open_existing(other) as source:
                say(f"merged {db.merge(source)} new records from {other}")
        for lines in request.import_lines:
            say(f"imported {db.import_lines(lines)} new records from {lines}")
        if request.model is not None and request.trials > 0:
            target = resolve_target(request.target)
            lowered = lower_graph(_import(request.model, None).graph, target, options)
            if not tunable(lowered.backend):
                raise TuningError(f"target {target.name}: the {lowered.backend.name} backend cannot measure "
                                  f"candidates in this aotc yet (no benchmark hook)")
            tasks = extract_tasks(lowered.program, lowered.backend, lowered.target)
            fingerprint = lowered.backend.fingerprint(lowered.target)
            keys = [tuning_key(lowered.backend, lowered.target, t.kernel_hash, fingerprint) for t in tasks]
            shares = [t.weight * estimated_seconds(t, lowered.backend, lowered.target) for t in tasks]
            say(f"{len(tasks)} tasks ({sum(t.weight for t in tasks)} calls) on {fingerprint}")
            build = functools.partial(build_candidate, target=lowered.target, options=options)
            settings = JobSettings(request.trials, request.strategy, request.seed, request.time_budget)
            with tempfile.TemporaryDirectory(prefix="aotc-tune-") as tmp:
                weights = weight_bytes(lowered)
                flush = flush_bytes(request.cache_flush, lowered.target, weights)
                if flush:
                    say(f"timing candidates cache-cold (model weights {weights / 1e6:.0f} MB, "
                        f"last-level cache {lowered.target.cache_bytes[-1] / 1e6:.0f} MB)")
                runner = LocalRunner(build, request.measure_command or measure_command(),
                                     request.work_dir or Path(tmp), RunnerSettings(build_workers=request.build_workers,
                                                                                   threads=request.threads, flush_bytes=flush))
                try:
                    results = run_job(tasks, keys, runner, db, settings, shares=shares,
                                      cost_model_for=_cost_models(request.strategy, lowered),
                                      progress=Progress(len(tasks), 0, progress_stream))
                finally:
                    runner.close()
            gain = model_speedup(results)
            say(f"tuned {len(results)} tasks, {sum(r.trials for r in results)} configs measured; "
                f"estimated speed-up of the tuned kernels x{gain:.3f}" if gain else
                f"tuned {len(results)} tasks; no speed-up measured yet")
        if request.export:
            say(f"exported {db.export_lines(request.export)} records to {request.export}")
    return results


def _cost_models(strategy: str, lowered):
    """The model strategy's prior per task: the backend's analytic estimate when it has one
    (else the search's learned model starts alone)."""
    estimate = getattr(lowered.backend, "estimate_seconds", None)
    if strategy != "model" or estimate is None:
        return None
    from autotune.cost_model import RooflineModel
    return lambda task: RooflineModel(lambda config: estimate(task.kernel, config, lowered.target))
