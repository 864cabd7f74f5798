"""A benchmark worker process: builds one contender, saves its first output (for the parent's
correctness check), then answers `run N` on stdin with the N per-iteration times (ms) as one
JSON line. Run by compiler/bench/runner.py, not by hand."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> int:
    spec = json.loads(sys.stdin.readline())
    import numpy as np
    from compiler.artifact import read_manifest, signature_types
    from compiler.bench.contenders import CONTENDERS, first_output, make_inputs, pick_model
    try:
        manifest = read_manifest(Path(spec["artifact"]))
        inputs = make_inputs(signature_types(manifest, "inputs"), spec["bindings"], spec["seed"])
        model = pick_model(spec["contender"], [Path(m) for m in spec["models"]])
        run = CONTENDERS[spec["contender"]].build(Path(spec["artifact"]), model, spec["threads"], inputs,
                                                  spec["options"])
        output = first_output(run())
        for _ in range(spec["warmup"]):
            run()
        np.save(spec["output"], output)
    except Exception as error:  # reported to the parent as data, one line
        print(json.dumps({"error": f"{type(error).__name__}: {error}".splitlines()[0]}), flush=True)
        return 1
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] != "run":
            break
        times = []
        for _ in range(int(command[1])):
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) * 1e3)
        print(json.dumps({"times_ms": times}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
