"""A measuring process with injected faults, for the runner's tests only: by the candidate's
MR it crashes (6: SIGSEGV), hangs (14), or returns wrong outputs (12); else it measures."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from compiler.tuning import measure_main


def main(argv: list[str]) -> int:
    artifacts = [a for a in argv if not a.startswith("--") and Path(a).is_dir()]
    options = [a for a in argv if a not in artifacts]
    for artifact in artifacts:
        manifest = json.loads((Path(artifact) / "manifest.json").read_text())
        mr = next(r["value"] for r in manifest["kernels"][0]["config"] if r.get("name") == "MR")
        if mr == 6:
            os.kill(os.getpid(), signal.SIGSEGV)
        if mr == 14:
            time.sleep(3600)
        if mr != 12:
            measure_main([artifact, *options])
            continue
        line = io.StringIO()     # the outputs are spoiled before the runner reads the line
        with contextlib.redirect_stdout(line):
            measure_main([artifact, *options])
        path = f"{artifact}.outputs.npz"
        with np.load(path) as saved:
            arrays = [saved[name] * 1.5 for name in saved.files]
        np.savez(path, *arrays)
        print(line.getvalue(), end="", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
