"""Test tools for crm-connect and its plugins.

``crm_connect.testing.faults`` holds a loopback HTTP server that injects the failures vendors
produce (429 storms, 5xx, dropped connections, slow and truncated responses, expired tokens);
``pytest_plugins = ["crm_connect.testing.faults"]`` gives a test suite its ``fault_server``
fixture.
"""
