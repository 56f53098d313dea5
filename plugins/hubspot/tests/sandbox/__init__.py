"""Tests of the HubSpot loopback sandbox (crm_connect_hubspot.sandbox)."""
