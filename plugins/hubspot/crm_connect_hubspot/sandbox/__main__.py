"""``python -m crm_connect_hubspot.sandbox --records 20000 --seed 7 [--tier free] [--oauth]``:
serve a synthetic HubSpot portal on 127.0.0.1 until interrupted, and print how to point
crm-connect at it."""

from __future__ import annotations

import argparse
import contextlib
import json

from crm_connect.testing.serving import print_details, serve_until_interrupted

from .demo import CUSTOM_MAPPING
from .limits import TIERS
from .portal import iso_ms, ms_of
from .server import HubSpotSandbox


def connection_recipe(name: str, base_url: str, *, oauth: bool, client_id: str,
                      secrets: dict[str, str], as_of: str) -> str:
    """What a user pastes to point crm-connect at this sandbox (its throwaway secrets)."""
    prefix = f"CRM_CONNECT_{name.upper()}_"
    lines = ["# crm-connect.toml", "[reporting]", 'currency = "USD"',
             "rates = { EUR = 1.08, GBP = 1.27 }  # the portal's deals come in three currencies",
             "", f"[connections.{name}]", 'connector = "hubspot"',
             f"base_url = {json.dumps(base_url)}"]
    if oauth:
        lines += ['auth = "oauth"', f"client_id = {json.dumps(client_id)}"]
    lines.append('deal_types = { renewal = "renewal" }')
    for stream, fields in CUSTOM_MAPPING.items():
        pairs = ", ".join(f"{field} = {json.dumps(source)}" for field, source in fields.items())
        lines.append(f"mapping.{stream} = {{ {pairs} }}")
    lines += ["", "# the sandbox's throwaway secrets, in the environment"]
    lines += [f"export {prefix}{field.upper()}='{value}'" for field, value in secrets.items()]
    lines += ["", f"# then: crm-connect connections test {name} && crm-connect sync {name}",
              f"# its data ends at {as_of}: crm-connect kpis --as-of {as_of}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crm_connect_hubspot.sandbox",
        description="Serve a synthetic HubSpot portal on 127.0.0.1 until interrupted.")
    parser.add_argument("--port", type=int, default=0,
                        help="port to listen on (default: any free port)")
    parser.add_argument("--records", type=int, default=2000,
                        help="approximate number of CRM records (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--tier", choices=sorted(TIERS), default="free",
                        help="the published limits to enforce (default: free)")
    parser.add_argument("--no-limits", action="store_true",
                        help="report the limits in headers but never answer 429")
    parser.add_argument("--daily-limit", type=int, default=None,
                        help="override the tier's daily limit")
    parser.add_argument("--oauth", action="store_true",
                        help="print an OAuth recipe (client id, refresh token) instead of a "
                        "private app token")
    parser.add_argument("--tls", action="store_true",
                        help="serve HTTPS with a throwaway certificate (its path is printed)")
    parser.add_argument("--json", action="store_true",
                        help="print the connection details as one JSON line")
    parser.add_argument("--connection", default="hubspot_sandbox",
                        help="connection name in the printed configuration")
    args = parser.parse_args(argv)

    sandbox = HubSpotSandbox(records=args.records, seed=args.seed, tier=args.tier,
                             enforce_limits=not args.no_limits, daily_limit=args.daily_limit,
                             port=args.port, tls=args.tls)
    sandbox.start()
    creds = sandbox.credentials
    as_of = iso_ms(ms_of(sandbox.portal.now))[:19] + "Z"
    details = {
        "base_url": sandbox.base_url, "token_url": sandbox.token_url,
        "access_token": creds.access_token, "client_id": creds.client_id,
        "client_secret": creds.client_secret, "refresh_token": creds.refresh_token,
        "portal_id": sandbox.portal.portal_id, "tier": args.tier,
        "records": sum(sandbox.portal.counts(include_archived=True).values()),
        "cert_path": str(sandbox.cert_path) if sandbox.cert_path else None,
        "data_as_of": as_of,
    }
    secrets = ({"client_secret": creds.client_secret, "refresh_token": creds.refresh_token}
               if args.oauth else {"access_token": creds.access_token})
    if args.json:
        print(json.dumps(details), flush=True)
    else:
        print_details("HubSpot sandbox running (Ctrl-C to stop)", details)
        print()
        print(connection_recipe(args.connection, sandbox.base_url, oauth=args.oauth,
                                client_id=creds.client_id, secrets=secrets, as_of=as_of),
              flush=True)
    serve_until_interrupted(sandbox.stop)
    if args.json:  # what a benchmark reports: requests by endpoint, 429s by policy
        with contextlib.suppress(BrokenPipeError):  # whoever read the start has gone
            print(json.dumps({"served": dict(sandbox.api.served),
                              "refused": dict(sandbox.limits.refused)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
