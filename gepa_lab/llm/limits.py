"""File-descriptor limits, which cap how many HTTP calls can be in flight at once."""

from __future__ import annotations

import atexit
import contextlib
import resource

# Module state so the atexit restore hook is registered once per process: later calls must not
# stack hooks that would "restore" an already raised limit.
_restore_registered = False


def max_concurrency_from_fd_limit() -> int:
    """Concurrency the descriptor limit can sustain.

    Each in-flight HTTP call holds a socket, so a tenth of the soft limit goes to calls and 90%
    of descriptors stay free for everything else (files, pipes, the notebook kernel). The result
    is clamped to [64, 2048]: below 64 the optimizer crawls, above 2048 APIs rate-limit anyway.
    """
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 2048
    return max(64, min(soft // 10, 2048))


def _restore_soft_limit(original_soft: int) -> None:
    """Put back the soft limit the process started with, so we leave no side effect behind."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # The process is exiting; a failed restore must not mask its real exit status.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (original_soft, hard))


def raise_fd_limit(target: int = 4096) -> int:
    """Raise the soft RLIMIT_NOFILE toward ``target`` and return the soft limit now in force.

    Default soft limits (often 256 or 1024) are too low for hundreds of concurrent calls, while
    the hard limit usually allows more without privileges. The limit is never lowered, and a
    failing setrlimit is tolerated because running with fewer sockets beats not running.
    """
    global _restore_registered
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if not _restore_registered:
        _restore_registered = True
        atexit.register(_restore_soft_limit, soft)
    if soft == resource.RLIM_INFINITY:
        return soft
    wanted = target if hard == resource.RLIM_INFINITY else min(target, hard)
    if wanted <= soft:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError):
        return soft
    return wanted
