"""HubSpot connector plugin for crm-connect."""
