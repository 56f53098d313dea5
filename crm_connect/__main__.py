"""``python -m crm_connect``: the ``crm-connect`` command (the run's fan-out starts its
sync processes this way, with the interpreter it runs on)."""

from crm_connect.cli import main

main()
