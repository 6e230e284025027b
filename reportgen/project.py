"""Where the project's parts live on disk (no hidden global state: pass a Project around)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Project:
    root: Path

    @classmethod
    def locate(cls, root: str | os.PathLike | None = None) -> "Project":
        """The checkout this package runs from (an editable install), or REPORTGEN_ROOT."""
        if root is None:
            root = os.environ.get("REPORTGEN_ROOT") or Path(__file__).resolve().parent.parent
        return cls(Path(root).resolve())

    @property
    def native_dir(self) -> Path:
        return self.root / "native"

    @property
    def build_dir(self) -> Path:
        """Cache of compiled libraries, keyed by hash(sources, flags)."""
        return Path(os.environ.get("REPORTGEN_BUILD_DIR") or self.root / "build" / "native")

    @property
    def phases_dir(self) -> Path:
        return self.root / "phases"

    @property
    def results_dir(self) -> Path:
        return Path(os.environ.get("REPORTGEN_RESULTS_DIR") or self.root / "results")

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def docs_dir(self) -> Path:
        return self.root / "docs"

    @property
    def site_dir(self) -> Path:
        return self.root / "site"
