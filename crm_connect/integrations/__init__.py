"""Orchestrator integrations: Dagster assets and an Airflow TaskGroup around ``crm-connect run``.

Each lives in its own module behind an optional extra (``crm-connect[dagster]``,
``crm-connect[airflow]``); the core never imports them.
"""
