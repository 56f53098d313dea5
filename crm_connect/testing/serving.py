"""Run a loopback sandbox from the command line: print how to reach it, serve until told to stop.

A vendor plugin's ``python -m crm_connect_<vendor>.sandbox`` starts its sandbox, prints its
details with :func:`print_details` and hands over to :func:`serve_until_interrupted`, which
returns once Ctrl-C or ``SIGTERM`` arrives, after the sandbox has been stopped::

    sandbox = TinySandbox(port=args.port).start()
    print_details("Tiny CRM sandbox running (Ctrl-C to stop)", {"base_url": sandbox.url})
    serve_until_interrupted(sandbox.stop)
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping

__all__ = ["print_details", "serve_until_interrupted"]


def print_details(title: str, details: Mapping[str, object]) -> None:
    """Print ``title`` and one aligned ``key  value`` line per detail."""
    width = max((len(key) for key in details), default=0)
    print(title)
    for key, value in details.items():
        print(f"  {key.ljust(width)}  {value}")


def serve_until_interrupted(stop: Callable[[], None]) -> None:
    """Wait until Ctrl-C (``SIGINT``) or ``SIGTERM``, then call ``stop``; ``stop`` is called
    whatever ends the wait.  Call it from the main thread (it installs a ``SIGTERM`` handler)."""
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
