"""``pid_alive``: whether the process a file or directory is named after still runs. A number
read from a file may be anything: 0 or a negative one names a process group (0: this process's
own), a huge one is past what ``kill`` takes; neither is a process that runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from accord.core.processes import pid_alive


def test_this_process_and_a_running_one_are_alive_a_finished_one_is_not():
    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert pid_alive(child.pid)
    finally:
        child.communicate(b"")
    assert not pid_alive(child.pid)   # reaped: no such process


@pytest.mark.parametrize("pid", [0, -1, pytest.param(-os.getpid(), id="minus-own-pid"),  # a stable id: pytest-xdist
                                 4194304, 2**31, 2**63, 2**64 + 1])  # workers must collect the same names
def test_a_number_no_process_has_is_not_alive(pid):
    """0 and -N ask ``kill`` about a process group (0: this one's; -1: every process), and a
    number past a C int overflows: each counted as alive, or raised, where it was named."""
    assert not pid_alive(pid)


def test_another_users_process_is_alive():
    """``kill`` says EPERM for a process this user may not signal: it runs all the same."""
    if os.geteuid() != 0:
        assert pid_alive(1)   # init: root's
        return
    parent = os.getpid()
    child = os.fork()
    if child == 0:   # as another user, ask about this (root's) process
        try:
            os.setgid(54321)
            os.setuid(54321)
            os._exit(0 if pid_alive(parent) else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
