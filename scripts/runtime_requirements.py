#!/usr/bin/env python3
"""The run-time part of requirements.lock, as a hash-pinned requirements file on stdout.

    python scripts/runtime_requirements.py > runtime.txt
    pip install --require-hashes --no-deps -r runtime.txt

The Docker image's builder stage runs it with a venv that holds the whole lock: the
closure is the one a release bundle carries (scripts/make_release.py: install_requires
plus the MIS drivers' and PostgreSQL's extras, walked through the installed metadata), so
the image runs exactly the pinned, hash-checked code a bundle does, without the dev tools.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_release import REPO, closure, read_lock  # noqa: E402


def runtime_requirements(src: Path = REPO) -> str:
    pins = read_lock(src / "requirements.lock")
    lines = []
    for name in closure(src, pins):
        version, hashes = pins[name]
        lines.append(
            " \\\n".join(
                [f"{name}=={version}", *(f"    --hash=sha256:{h}" for h in sorted(hashes))]
            )
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(runtime_requirements())
