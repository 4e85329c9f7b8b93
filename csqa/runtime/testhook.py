"""Named points where a test can make a csqa process pause, die or fail (tests only).

`CSQA_TEST_HOOK` lists ACTION@POINT items, comma-separated, e.g.
`pause@outputs:before-swap` or `enospc@write:findings.csv`. Actions:

- pause: write the process id to `$CSQA_TEST_HOOK_DIR/<point>` (":" and "/" as "_") and wait
  there until killed — the test then kills whichever process it likes with os.kill;
- mark: write that file and go on (the test learns that the point was reached);
- die: SIGKILL this process at once;
- enospc, eacces, erofs, einval: raise that OSError (naming the path given at the point).

Unset, as it always is outside the tests, a point costs one environment lookup. Standard
library only.
"""
from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

ENV = "CSQA_TEST_HOOK"
ERRNOS = {"enospc": errno.ENOSPC, "eacces": errno.EACCES, "erofs": errno.EROFS, "einval": errno.EINVAL}


def marker(directory: str | Path, name: str) -> Path:
    """Where `pause` at point `name` writes its process id."""
    return Path(directory) / name.replace(":", "_").replace("/", "_")


def point(name: str, path: str | Path | None = None) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    for item in spec.split(","):
        action, _, where = item.strip().partition("@")
        if where != name:
            continue
        if action in ("pause", "mark"):
            mark = marker(os.environ.get("CSQA_TEST_HOOK_DIR", "."), name)
            tmp = mark.with_name(mark.name + f".{os.getpid()}.tmp")
            tmp.write_text(str(os.getpid()), encoding="utf-8")
            os.replace(tmp, mark)
            while action == "pause":
                time.sleep(0.2)
        elif action == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action in ERRNOS:
            code = ERRNOS[action]
            raise OSError(code, os.strerror(code), None if path is None else str(path))
