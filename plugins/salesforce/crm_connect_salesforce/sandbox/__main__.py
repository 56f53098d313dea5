"""``python -m crm_connect_salesforce.sandbox --port 8443 --records 20000 --seed 7``."""

from __future__ import annotations

import argparse
import json

from crm_connect.testing.serving import print_details, serve_until_interrupted

from .server import DEFAULT_API_VERSION, SalesforceSandbox


def connection_recipe(name: str, instance_url: str, cert_path: str, username: str,
                      password: str, security_token: str, as_of: str) -> str:
    """What a user pastes to point crm-connect at this sandbox (its throwaway credentials)."""
    prefix = f"CRM_CONNECT_{name.upper()}_"
    return "\n".join([
        "# crm-connect.toml",
        f"[connections.{name}]",
        'connector = "salesforce"',
        f"username = {json.dumps(username)}",
        f"login_url = {json.dumps(instance_url)}",
        f"ca_bundle = {json.dumps(cert_path)}",
        "",
        "# the sandbox's throwaway secrets, in the environment",
        f"export {prefix}PASSWORD='{password}'",
        f"export {prefix}SECURITY_TOKEN='{security_token}'",
        "",
        f"# check it: crm-connect conformance {name}",
        f"# its data ends at {as_of}: crm-connect kpis --as-of {as_of}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crm_connect_salesforce.sandbox",
        description="Serve a synthetic Salesforce org over TLS on 127.0.0.1 until interrupted.",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: any free port)"
    )
    parser.add_argument(
        "--records", type=int, default=2000, help="approximate number of records (default 2000)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the synthetic data (default 0)"
    )
    parser.add_argument(
        "--api-version", default=DEFAULT_API_VERSION, help="API version in printed URLs"
    )
    parser.add_argument("--daily-api-limit", type=int, default=15000, help="DailyApiRequests Max")
    parser.add_argument(
        "--json", action="store_true", help="print the connection details as one JSON line"
    )
    parser.add_argument(
        "--connection", default="sandbox",
        help="connection name used in the printed configuration (default: sandbox)",
    )
    args = parser.parse_args(argv)

    sandbox = SalesforceSandbox(
        records=args.records,
        seed=args.seed,
        port=args.port,
        api_version=args.api_version,
        daily_api_limit=args.daily_api_limit,
    )
    sandbox.start()
    creds = sandbox.credentials
    as_of = sandbox.org.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    details = {
        "instance_url": sandbox.instance_url,
        "token_url": sandbox.token_url,
        "soap_login_url": f"{sandbox.instance_url}/services/Soap/u/{args.api_version}",
        "cert_path": str(sandbox.cert_path),
        "access_token": sandbox.access_token,
        "username": creds.username,
        "password": creds.password,
        "security_token": creds.security_token,
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "refresh_token": creds.refresh_token,
        "jwt_private_key_path": creds.jwt_private_key_path,
        "records": sum(sandbox.counts(include_deleted=True).values()),
        "data_as_of": as_of,
    }
    if args.json:
        print(json.dumps(details), flush=True)
    else:
        print_details("Salesforce sandbox running (Ctrl-C to stop)", details)
        print("  trust the certificate with:")
        print(f"    export REQUESTS_CA_BUNDLE={sandbox.cert_path}")
        print()
        print(connection_recipe(args.connection, sandbox.instance_url, str(sandbox.cert_path),
                                creds.username, creds.password, creds.security_token,
                                as_of), flush=True)
    serve_until_interrupted(sandbox.stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
