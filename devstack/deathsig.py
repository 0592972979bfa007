"""Processes that end with their parent, through Linux's PR_SET_PDEATHSIG (prctl(2)).

A supervisor killed with SIGKILL runs no code of its own, so nothing it started would
otherwise be stopped: its servers would run on, each in a session of its own, with no
parent. With a parent-death signal the kernel stops them instead."""
import ctypes
import os
import threading
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
# resolved once here, not in a forked child, which should do as little as it can
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent(signum: int, parent: int) -> None:
    """Have the kernel send `signum` to this process when its parent ends. `parent` is
    the pid the caller knows to be the parent: when getppid() no longer answers it,
    the parent ended before the signal was asked for, and the signal comes now."""
    if _prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signum), ctypes.c_ulong(0),
              ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))
    if os.getppid() != parent:
        os.kill(os.getpid(), signum)


def die_with_this_process(signum: int) -> Callable[[], None] | None:
    """A preexec_fn for subprocess.Popen: the child gets `signum` when this process ends.
    None off the main thread: the kernel sends the signal when the *thread* that forked
    the child ends, which for any other thread may be long before the process does."""
    if threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()
    return lambda: die_with_parent(signum, parent)
