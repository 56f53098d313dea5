"""The sandbox's logins: SOAP, OAuth password, JWT bearer, client credentials and refresh."""

from __future__ import annotations

import pytest
from crm_connect_salesforce.sandbox import SalesforceSandbox
from sandbox_support import VERSION, client
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
)
from simple_salesforce.login import SalesforceLogin, token_login

# --- authentication ---------------------------------------------------------------------------


def test_missing_or_expired_token_is_a_401_invalid_session_id(small: SalesforceSandbox) -> None:
    response = small.session().get(small.instance_url + "/services/data/v60.0/limits", timeout=10)
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    sf = client(small)
    sf.query("SELECT Id FROM User LIMIT 1")
    small.expire_tokens()
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM User LIMIT 1")


def test_soap_login_with_security_token_and_soap_fault(small: SalesforceSandbox) -> None:
    creds = small.credentials
    sf = Salesforce(
        username=creds.username,
        password=creds.password,
        security_token=creds.security_token,
        session=small.session(),
        version=VERSION,
    )
    assert sf.sf_instance == small.instance_url.removeprefix("https://")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        Salesforce(
            username=creds.username,
            password="wrong",
            security_token=creds.security_token,
            session=small.session(),
            version=VERSION,
        )
    assert err.value.code == "INVALID_LOGIN"
    assert (
        "Invalid username, password, security token; or user locked out." in err.value.auth_message
    )


def test_oauth_password_grant_and_invalid_grant(small: SalesforceSandbox) -> None:
    creds = small.credentials
    sf = Salesforce(
        username=creds.username,
        password=creds.password + creds.security_token,
        consumer_key=creds.client_id,
        consumer_secret=creds.client_secret,
        session=small.session(),
        version=VERSION,
    )
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] > 0
    bad = small.session().post(
        small.token_url,
        timeout=10,
        data={
            "grant_type": "password",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "username": creds.username,
            "password": "nope",
        },
    )
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "invalid_grant",
        "error_description": "authentication failure - Invalid Password",
    }
    ok = (
        small.session()
        .post(
            small.token_url,
            timeout=10,
            data={
                "grant_type": "password",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
                "username": creds.username,
                "password": creds.password + creds.security_token,
            },
        )
        .json()
    )
    assert set(ok) == {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert ok["instance_url"] == small.instance_url and ok["access_token"].startswith("00D")


def test_oauth_jwt_bearer_is_verified_against_the_public_key(small: SalesforceSandbox) -> None:
    creds = small.credentials
    sf = Salesforce(
        username=creds.username,
        consumer_key=creds.client_id,
        privatekey=creds.jwt_private_key_pem.decode(),
        session=small.session(),
        version=VERSION,
    )
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] > 0
    from crm_connect.testing.tls import new_rsa_keypair

    other_key, _ = new_rsa_keypair()
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        SalesforceLogin(
            username=creds.username,
            consumer_key=creds.client_id,
            privatekey=other_key.decode(),
            session=small.session(),
        )
    assert (err.value.code, err.value.auth_message) == ("invalid_grant", "invalid assertion")
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        SalesforceLogin(
            username=creds.username,
            consumer_key="someone-else",
            privatekey=creds.jwt_private_key_pem.decode(),
            session=small.session(),
        )
    assert err.value.code == "invalid_client_id"


def test_oauth_client_credentials_and_refresh_token(small: SalesforceSandbox) -> None:
    creds = small.credentials
    session = small.session()
    token, instance = SalesforceLogin(
        consumer_key=creds.client_id,
        consumer_secret=creds.client_secret,
        domain="sandbox-org.my",
        session=session,
    )
    assert instance == small.instance_url.removeprefix("https://")
    assert client(small, token).query("SELECT COUNT() FROM Case")["totalSize"] > 0
    refreshed, _ = token_login(
        small.token_url,
        {
            "grant_type": "refresh_token",
            "refresh_token": creds.refresh_token,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
        "login",
        creds.client_id,
        None,
        None,
        session,
    )
    assert client(small, refreshed).query("SELECT COUNT() FROM Case")["totalSize"] > 0
    small.revoke_refresh_token()
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        token_login(
            small.token_url,
            {
                "grant_type": "refresh_token",
                "refresh_token": creds.refresh_token,
                "client_id": creds.client_id,
            },
            "login",
            creds.client_id,
            None,
            None,
            session,
        )
    assert (err.value.code, err.value.auth_message) == (
        "invalid_grant",
        "expired access/refresh token",
    )
