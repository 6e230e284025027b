"""The external tools the evidence kinds run (valgrind, gcov, perf): found on PATH, or named by an
environment variable, or a UserError in one line saying what to install."""
from __future__ import annotations

import os
import shutil

from ..errors import UserError


def tool_path(name: str, env: str, missing: str) -> str:
    """`name`'s executable (the environment variable `env` names another), or UserError(`missing`)."""
    path = shutil.which(os.environ.get(env) or name)
    if path is None:
        raise UserError(missing)
    return path
