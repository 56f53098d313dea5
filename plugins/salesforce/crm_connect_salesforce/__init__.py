"""crm-connect plugin for Salesforce: the connector (``plugin``) and a loopback ``sandbox`` org."""

__version__ = "0.1.0"
