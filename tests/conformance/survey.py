"""Run every ONNX node case through aotc and tabulate why cases fail.

    .venv/bin/python tests/conformance/survey.py            # passed/total and a table of causes
    .venv/bin/python tests/conformance/survey.py --write    # also rewrite expected_failures.py

The pytest tier (test_onnx_node_cases.py) is the check; this is the tool that keeps its one
list of expected failures in step (each with the error that case fails with today).
"""
from __future__ import annotations

import argparse
import collections
import multiprocessing
import re
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from conformance_harness import node_cases, run_case  # noqa: E402

CASE_SECONDS = 120


def _timeout(signum, frame):
    raise TimeoutError(f"the case took over {CASE_SECONDS} s")


def reason_of(error: BaseException) -> str:
    """One line: the error without the model's name and the target suffix."""
    text = (str(error).strip().splitlines() or [""])[0]
    text = re.sub(r"^model '[^']*': ", "", text)
    text = re.sub(r" \(compiling for target [^)]*\)$", "", text)
    if isinstance(error, AssertionError):
        return f"wrong result: {text.strip() or 'values differ beyond the tolerance'}"[:200]
    return f"{type(error).__name__}: {text}"[:200]


def _run(name: str) -> tuple[str, str | None]:
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(CASE_SECONDS)
    try:
        run_case(node_cases()[name])
        return name, None
    except Exception as error:   # every failure is data here
        return name, reason_of(error)
    finally:
        signal.alarm(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite expected_failures.py")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    names = sorted(node_cases())
    with multiprocessing.Pool(args.jobs, maxtasksperchild=100) as pool:
        results = dict(pool.imap_unordered(_run, names, chunksize=4))
    failures = {name: reason for name, reason in sorted(results.items()) if reason is not None}
    print(f"passed {len(names) - len(failures)} / {len(names)}")
    causes = collections.Counter(re.sub(r"'[^']*'", "'…'", r) for r in failures.values())
    for cause, count in causes.most_common(40):
        print(f"{count:5d}  {cause}")
    if args.write:
        lines = ['"""ONNX node cases aotc fails today, each with the error it fails with (regenerate with',
                 '`tests/conformance/survey.py --write`). They run as strict xfails: a case that starts',
                 'passing fails the tier until it leaves this list."""', "", "EXPECTED_FAILURES = {"]
        lines += [f"    {name!r}: {reason!r}," for name, reason in failures.items()]
        lines.append("}")
        (HERE / "expected_failures.py").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
