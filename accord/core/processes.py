"""Whether a process still runs, for files and directories named by the PID of their writer
(``serve.lock``, ``serve-metrics/<PID>/``, a file set's ``….<PID>-….accord-partial``)."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether a process with PID ``pid`` runs (another user's too; this process always).

    A number no process can have — 0, a negative one, one past what ``kill`` takes — is not
    alive: ``kill(0, …)`` and ``kill(-N, …)`` would ask about a process group (this process's
    own, for 0) instead, and a number read from a file may be anything."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:  # another user's
        return True
    except (ProcessLookupError, OverflowError):  # gone, or a number no process has
        return False
    return True
