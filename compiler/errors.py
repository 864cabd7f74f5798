"""The errors aotc reports to users. Each carries a one-line message naming what and where;
the CLI prints `aotc: error: <message>` and exits non-zero, never a traceback.

Level 1 (standard library only): every layer may raise these.
"""
from __future__ import annotations


class AotcError(Exception):
    """Base of every error meant for the user."""

    exit_code = 1


class ModelError(AotcError):
    """The model file is missing, truncated, malformed or inconsistent."""


class UnsupportedError(AotcError):
    """An op, attribute, dtype or shape that aotc (or the chosen target) does not support."""


class InputError(AotcError):
    """A run-time input has the wrong name, shape or dtype."""


class ArtifactError(AotcError):
    """An artifact directory is missing a file, fails its checksums, or has a bad manifest."""


class BuildError(AotcError):
    """A backend toolchain (C compiler, nvcc, ...) rejected generated code."""


class TargetError(AotcError):
    """An unknown target, or a host that lacks what the artifact's target needs."""


class TuningError(AotcError):
    """A tuning database that is damaged, foreign or missing, or a tuning job that cannot run."""
