"""scripts/apt-install: the README's set-up works as root (no sudo) and as a user with sudo.

The script is run with a PATH whose `id`, `sudo` and `apt-get` are stand-ins that record how
they were called, so the test checks which commands the script runs without installing anything."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "apt-install"


def fake_path(tmp_path: Path, uid: int, with_sudo: bool) -> dict:
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "calls"
    tools = {"id": f'echo {uid}', "apt-get": f'echo "apt-get $*" >> {log}'}
    if with_sudo:
        tools["sudo"] = f'echo "sudo $1" >> {log}; "$@"'
    for name, body in tools.items():
        (bin_ / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_ / name).chmod(0o755)
    return {"PATH": f"{bin_}:/usr/bin:/bin"}


def run(tmp_path, uid, with_sudo):
    env = fake_path(tmp_path, uid, with_sudo)
    # the stand-ins come first on PATH; /usr/bin:/bin give the shell its echo and friends
    proc = subprocess.run(["/bin/sh", str(SCRIPT), "gcc", "sqlite3"], env=env, capture_output=True, text=True)
    calls = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
    return proc, calls


def test_as_root_no_sudo_is_needed(tmp_path):
    proc, calls = run(tmp_path, 0, with_sudo=False)
    assert proc.returncode == 0, proc.stderr
    assert calls == ["apt-get -qq update", "apt-get -qq install -y gcc sqlite3"]


def test_as_a_user_it_goes_through_sudo(tmp_path):
    proc, calls = run(tmp_path, 1000, with_sudo=True)
    assert proc.returncode == 0, proc.stderr
    assert calls == ["sudo apt-get", "apt-get -qq update", "sudo apt-get", "apt-get -qq install -y gcc sqlite3"]


def test_as_a_user_without_sudo_it_says_what_to_do(tmp_path):
    if Path("/usr/bin/sudo").exists() or Path("/bin/sudo").exists():
        pytest.skip("this machine has a real sudo on the PATH the script needs")
    proc, calls = run(tmp_path, 1000, with_sudo=False)
    assert proc.returncode == 2 and calls == []
    assert proc.stderr.strip() == "scripts/apt-install: not root and no sudo: run it as root, or install sudo"
