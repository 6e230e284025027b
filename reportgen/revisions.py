"""native/ as it stood at a git revision: what a variant declared with `revision:` is built from.

The revision is resolved to its commit in the project's repository and its native/ tree
extracted (`git archive`) into ``build/sources/<commit>/native/``, once: a commit's content
never changes, so the folder is a cache keyed by the commit.  The build then treats those
files like any source: its hash covers their preprocessed content, not the revision's name,
so two revisions with the same native/ build the same library and a moved tag cannot hide
a code change.  Extraction goes through a temporary folder renamed into place, so a
concurrent process sees a complete tree or none.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from .errors import UserError


def sources_dir(project) -> Path:
    """The cache of extracted source trees, one folder per commit."""
    return Path(project.root) / "build" / "sources"


def _git(project, *args: str, binary: bool = False):
    try:
        # a commit subject need not be UTF-8: text mode with replacement, never a decoding traceback
        return subprocess.run(["git", "-C", str(project.root), *args], capture_output=True, timeout=120,
                              **({} if binary else {"text": True, "encoding": "utf-8", "errors": "replace"}))
    except (OSError, subprocess.SubprocessError) as exc:
        raise UserError(f"git is needed to build from a revision and could not run: {exc}") from None


def resolve(project, revision: str, named: str = "variants.yaml: revision") -> str:
    """The full commit a revision names in the project's repository; a one-line UserError when it
    names none, `named` saying where it was given (a --flag, a spec's field)."""
    if not revision or revision.startswith("-"):
        raise UserError(f"{named} {revision!r} is not a git revision")
    proc = _git(project, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}")
    if proc.returncode != 0 or not proc.stdout.strip():
        why = (proc.stderr or "").strip().splitlines()
        raise UserError(f"{named} {revision!r} is not a commit of the repository at "
                        f"{project.root}" + (f" ({why[-1]})" if why else ""))
    return proc.stdout.strip()


def native_at(project, revision: str) -> Path:
    """The native/ folder of `revision`, extracted into the cache if not there yet."""
    commit = resolve(project, revision)
    dest = sources_dir(project) / commit
    native = dest / "native"
    if native.is_dir():
        return native
    proc = _git(project, "archive", "--format=tar", commit, "--", "native", binary=True)
    if proc.returncode != 0:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UserError(f"variants.yaml: revision {revision!r} ({commit[:10]}) has no native/ folder"
                        + (f" ({why[-1]})" if why else ""))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{commit}.", dir=dest.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
            members = [m for m in tar.getmembers()
                       if (m.isfile() or m.isdir()) and not m.name.startswith("/") and ".." not in Path(m.name).parts]
            tar.extractall(tmp, members=members)
        tmp.chmod(0o755)
        try:
            tmp.rename(dest)
        except OSError:
            if not native.is_dir():   # not a concurrent extraction of the same commit
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return native
