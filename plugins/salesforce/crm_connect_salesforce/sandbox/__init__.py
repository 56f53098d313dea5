"""A loopback Salesforce org for demos, connector tests, cassette recording and resilience tests.

::

    from crm_connect_salesforce.sandbox import SalesforceSandbox, FaultKind

    with SalesforceSandbox(records=20_000, seed=7) as sf:
        session = sf.session()                     # trusts the throwaway TLS certificate
        client = Salesforce(instance_url=sf.instance_url, session_id=sf.access_token,
                            session=session)
        client.query_all("SELECT Id, Name FROM Account")
        sf.inject(FaultKind.RATE_LIMITED, path="/query", count=2, retry_after=1)
        sf.update(sf.id_of("Account", 3), Name="Renamed")   # bumps SystemModstamp

See the plugin README for the endpoints, the objects and their custom fields, and the fault kinds.
"""

from crm_connect.testing.faultbook import LoggedRequest, QueuedFault

from .auth import Credentials
from .faults import FaultKind
from .org import DEFAULT_NOW, Org, SandboxError
from .server import DEFAULT_API_VERSION, SalesforceSandbox, sf_datetime

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_NOW",
    "Credentials",
    "FaultKind",
    "LoggedRequest",
    "Org",
    "QueuedFault",
    "SalesforceSandbox",
    "SandboxError",
    "sf_datetime",
]
