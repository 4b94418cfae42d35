"""Admin CLI: `python -m functions.cli --help`.

It opens the same store as the server, chosen by the same environment variables
(`LICENSE_STORE`, `LICENSE_DATA_DIR`, `GOOGLE_CLOUD_PROJECT`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sqlite3
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from functions import app as app_module
from functions.admin import (
    DEFAULT_HEARTBEAT_INTERVAL_SECONDS,
    DEFAULT_LEASE_LIFETIME_SECONDS,
    Admin,
    AdminError,
    SeatTerms,
)
from functions.billing.cli import add_billing_commands
from functions.billing.records import BillingError
from functions.config import ConfigError, Settings, StoreKind
from functions.errors import ServiceUnavailable
from functions.models import Lease, License, LicenseStatus, SeatScope
from functions.store.sqlite import DATABASE_FILENAME
from functions.sweep import sweep_expired
from functions.tables import cell, print_table


def _aware_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 datetime such as 2027-01-31T00:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no time zone; append Z for UTC")
    return parsed


def _license_json(license: License) -> dict[str, Any]:
    return {
        "id": license.id,
        "customer": license.customer,
        "product": license.product_slug,
        "policy_id": license.policy_id,
        "seats": license.seats,
        "heartbeat_interval_seconds": license.heartbeat_interval_seconds,
        "lease_lifetime_seconds": license.lease_lifetime_seconds,
        "seat_scope": license.seat_scope.value,
        "status": license.status.value,
        "expires_at": license.expires_at.isoformat() if license.expires_at else None,
        "created_at": license.created_at.isoformat(),
    }


def _lease_json(lease: Lease) -> dict[str, Any]:
    return {
        "id": lease.id,
        "license_id": lease.license_id,
        "hardware_id": lease.hardware_id,
        "user_email": lease.user_email,
        "acquired_at": lease.acquired_at.isoformat(),
        "last_heartbeat_at": lease.last_heartbeat_at.isoformat(),
        "expires_at": lease.expires_at.isoformat(),
        "released_at": lease.released_at.isoformat() if lease.released_at else None,
        "close_reason": lease.close_reason.value if lease.close_reason else None,
    }


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _terms(args: argparse.Namespace) -> SeatTerms:
    return SeatTerms(
        seats=args.seats,
        heartbeat_interval_seconds=args.heartbeat_interval,
        lease_lifetime_seconds=args.lease_lifetime,
        seat_scope=SeatScope(args.seat_scope),
    )


def _add_terms_arguments(parser: argparse.ArgumentParser, *, seats_required: bool) -> None:
    parser.add_argument("--seats", type=int, required=seats_required, help="number of seats")
    parser.add_argument(
        "--heartbeat-interval",
        type=int,
        default=None if not seats_required else DEFAULT_HEARTBEAT_INTERVAL_SECONDS,
        help=f"seconds between client heartbeats (default {DEFAULT_HEARTBEAT_INTERVAL_SECONDS})",
    )
    parser.add_argument(
        "--lease-lifetime",
        type=int,
        default=None if not seats_required else DEFAULT_LEASE_LIFETIME_SECONDS,
        help="seconds a lease survives without a heartbeat "
        f"(default {DEFAULT_LEASE_LIFETIME_SECONDS})",
    )
    parser.add_argument(
        "--seat-scope",
        choices=[scope.value for scope in SeatScope],
        default=None if not seats_required else SeatScope.DEVICE_AND_USER.value,
        help="what one seat counts (default: one per hardware_id and user_email pair)",
    )


def _cmd_products_create(admin: Admin, args: argparse.Namespace) -> int:
    product = admin.create_product(args.slug, args.name)
    if args.json:
        print(json.dumps({"id": product.id, "slug": product.slug, "name": product.name}))
    else:
        print(f"Created product {product.slug} ({product.id}).")
    return 0


def _cmd_products_list(admin: Admin, args: argparse.Namespace) -> int:
    rows = [{"id": p.id, "slug": p.slug, "name": p.name} for p in admin.store.list_products()]
    if args.json:
        print(json.dumps(rows))
    else:
        print_table(rows, ["slug", "name", "id"])
    return 0


def _cmd_policies_create(admin: Admin, args: argparse.Namespace) -> int:
    policy = admin.create_policy(args.name, _terms(args))
    if args.json:
        print(json.dumps({"id": policy.id, "name": policy.name, "seats": policy.seats}))
    else:
        print(f"Created policy {policy.name} ({policy.id}) with {policy.seats} seats.")
    return 0


def _cmd_policies_list(admin: Admin, args: argparse.Namespace) -> int:
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "seats": p.seats,
            "heartbeat_interval_seconds": p.heartbeat_interval_seconds,
            "lease_lifetime_seconds": p.lease_lifetime_seconds,
            "seat_scope": p.seat_scope.value,
        }
        for p in admin.store.list_policies()
    ]
    if args.json:
        print(json.dumps(rows))
    else:
        print_table(
            rows,
            ["name", "seats", "heartbeat_interval_seconds", "lease_lifetime_seconds", "seat_scope"],
        )
    return 0


def _given(value: int | None, default: int) -> int:
    # Only an absent option falls back; an explicit 0 must reach SeatTerms and be rejected.
    return default if value is None else value


def _license_terms(admin: Admin, args: argparse.Namespace) -> tuple[SeatTerms, str | None]:
    """Combine a named policy's terms with any explicit overrides from the command line."""
    if args.policy is None:
        if args.seats is None:
            raise AdminError("Give --seats or --policy.")
        return (
            SeatTerms(
                seats=args.seats,
                heartbeat_interval_seconds=_given(
                    args.heartbeat_interval, DEFAULT_HEARTBEAT_INTERVAL_SECONDS
                ),
                lease_lifetime_seconds=_given(args.lease_lifetime, DEFAULT_LEASE_LIFETIME_SECONDS),
                seat_scope=SeatScope(args.seat_scope or SeatScope.DEVICE_AND_USER.value),
            ),
            None,
        )
    policy = admin.store.policy_by_name(args.policy)
    if policy is None:
        raise AdminError(f"No policy is named {args.policy!r}; list them with `policies list`.")
    return (
        SeatTerms(
            seats=_given(args.seats, policy.seats),
            heartbeat_interval_seconds=_given(
                args.heartbeat_interval, policy.heartbeat_interval_seconds
            ),
            lease_lifetime_seconds=_given(args.lease_lifetime, policy.lease_lifetime_seconds),
            seat_scope=SeatScope(args.seat_scope) if args.seat_scope else policy.seat_scope,
        ),
        policy.id,
    )


def _ensure_product(admin: Admin, slug: str) -> None:
    """Create the product for the first license of a new store; elsewhere a missing product
    is more likely a typo, so it is an error."""
    if admin.store.product_by_slug(slug) is not None:
        return
    known = sorted(product.slug for product in admin.store.list_products())
    if known:
        raise AdminError(
            f"No product has the slug {slug!r}; known products: {', '.join(known)}. "
            f"Create it first with `products create {slug}`."
        )
    admin.create_product(slug)
    print(f"Created product {slug}, the first product of this store.", file=sys.stderr)


def _cmd_licenses_create(admin: Admin, args: argparse.Namespace) -> int:
    terms, policy_id = _license_terms(admin, args)
    if args.expires_at is not None and args.expires_at <= admin.clock.now():
        raise AdminError(
            f"--expires-at {args.expires_at.isoformat()} is in the past; "
            "give a future time or leave it out for a license that does not expire."
        )
    _ensure_product(admin, args.product)
    created = admin.create_license(
        args.product, args.customer, terms, policy_id=policy_id, expires_at=args.expires_at
    )
    if args.json:
        print(json.dumps({**_license_json(created.license), "key": created.key}))
    else:
        print(f"Created license {created.license.id} with {terms.seats} seats.")
        print(f"License key (shown only now): {created.key}")
    return 0


def _cmd_licenses_list(admin: Admin, args: argparse.Namespace) -> int:
    now = admin.clock.now()
    rows = [
        {**_license_json(license), "expired": license.is_expired(now)}
        for license in admin.store.list_licenses()
    ]
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        # An active license past its expiry date grants no seats, so the table says so.
        if row["expired"] and row["status"] == LicenseStatus.ACTIVE.value:
            row["status"] = "expired"
    print_table(rows, ["id", "customer", "product", "seats", "status", "expires_at"])
    return 0


def _cmd_licenses_show(admin: Admin, args: argparse.Namespace) -> int:
    license = _find_license(admin, args.license_id)
    leases = admin.store.list_open_leases(license.id)
    row = {
        **_license_json(license),
        "expired": license.is_expired(admin.clock.now()),
        "open_leases": len(leases),
    }
    if args.json:
        print(json.dumps(row))
    else:
        for name, value in row.items():
            print(f"{name}: {cell(value)}")
    return 0


def _cmd_licenses_extend(admin: Admin, args: argparse.Namespace) -> int:
    license = admin.extend_license(args.license_id, None if args.never else args.expires_at)
    if args.json:
        print(json.dumps(_license_json(license)))
    else:
        until = license.expires_at.isoformat() if license.expires_at else "never"
        print(f"License {license.id} now expires {until}.")
    return 0


def _find_license(admin: Admin, license_id: str) -> License:
    for license in admin.store.list_licenses():
        if license.id == license_id:
            return license
    raise AdminError(f"No license has the id {license_id!r}; list them with `licenses list`.")


def _status_command(status: LicenseStatus) -> Any:
    def command(admin: Admin, args: argparse.Namespace) -> int:
        previous = _find_license(admin, args.license_id).status
        license, closed = admin.set_status(args.license_id, status)
        if args.json:
            print(json.dumps({**_license_json(license), "leases_closed": closed}))
        elif previous is status:
            print(f"License {license.id} was already {status.value}; nothing changed.")
        else:
            print(
                f"License {license.id} is now {status.value}; "
                f"{_plural(closed, 'open lease')} closed."
            )
        return 0

    return command


def _cmd_leases_list(admin: Admin, args: argparse.Namespace) -> int:
    if args.license is not None:
        _find_license(admin, args.license)
    now = admin.clock.now()
    rows = [
        # An open lease past its expiry holds no seat; the next acquire or sweep closes it.
        {**_lease_json(lease), "state": "live" if lease.is_live(now) else "expired"}
        for lease in admin.store.list_open_leases(args.license)
    ]
    if args.json:
        print(json.dumps(rows))
    else:
        print_table(rows, ["id", "license_id", "hardware_id", "user_email", "expires_at", "state"])
    return 0


def _cmd_leases_release(admin: Admin, args: argparse.Namespace) -> int:
    result = admin.release_lease(args.lease_id)
    lease = result.lease
    if args.json:
        print(json.dumps({**_lease_json(lease), "already_closed": result.already_closed}))
    elif result.already_closed:
        print(f"Lease {lease.id} was already closed ({lease.close_reason}); nothing changed.")
    else:
        print(f"Lease {lease.id} is closed ({lease.close_reason}).")
    return 0


def _cmd_leases_sweep(admin: Admin, args: argparse.Namespace) -> int:
    result = sweep_expired(admin.store, admin.clock)
    if args.json:
        print(json.dumps(dataclasses.asdict(result)))
    else:
        more = "" if result.complete else " More remain; run it again."
        print(f"Closed {_plural(result.closed, 'expired lease')}.{more}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m functions.cli",
        description="Administer products, policies, licenses, leases and billing.",
    )
    groups = parser.add_subparsers(dest="group", required=True)

    def command(group: Any, name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(name, help=help_text)
        sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
        sub.set_defaults(handler=handler, creates_store=False)
        return sub

    products = groups.add_parser("products", help="products").add_subparsers(required=True)
    sub = command(products, "create", _cmd_products_create, "create a product")
    sub.set_defaults(creates_store=True)
    sub.add_argument("slug", help="short name, used as the token audience")
    sub.add_argument("--name", help="display name (default: the slug)")
    command(products, "list", _cmd_products_list, "list products")

    policies = groups.add_parser("policies", help="policies").add_subparsers(required=True)
    sub = command(policies, "create", _cmd_policies_create, "create a policy")
    sub.set_defaults(creates_store=True)
    sub.add_argument("name")
    _add_terms_arguments(sub, seats_required=True)
    command(policies, "list", _cmd_policies_list, "list policies")

    licenses = groups.add_parser("licenses", help="licenses").add_subparsers(required=True)
    sub = command(licenses, "create", _cmd_licenses_create, "create a license and print its key")
    sub.set_defaults(creates_store=True)
    sub.add_argument(
        "--product",
        required=True,
        help="product slug; created only for the first license of a new store",
    )
    sub.add_argument("--customer", default="default", help="customer name or id")
    sub.add_argument("--policy", help="policy name whose terms the license copies")
    sub.add_argument(
        "--expires-at", type=_aware_datetime, help="ISO 8601 expiry, e.g. 2027-01-31T00:00:00Z"
    )
    _add_terms_arguments(sub, seats_required=False)
    command(licenses, "list", _cmd_licenses_list, "list licenses")
    sub = command(licenses, "show", _cmd_licenses_show, "show one license")
    sub.add_argument("license_id")
    sub = command(licenses, "extend", _cmd_licenses_extend, "move a license's expiry later")
    sub.add_argument("license_id")
    until = sub.add_mutually_exclusive_group(required=True)
    until.add_argument(
        "--expires-at", type=_aware_datetime, help="new ISO 8601 expiry, later than the current one"
    )
    until.add_argument("--never", action="store_true", help="remove the expiry")
    for name, status, help_text in (
        ("suspend", LicenseStatus.SUSPENDED, "suspend a license and close its leases"),
        ("revoke", LicenseStatus.REVOKED, "revoke a license for good and close its leases"),
        ("reinstate", LicenseStatus.ACTIVE, "reinstate a suspended license"),
    ):
        sub = command(licenses, name, _status_command(status), help_text)
        sub.add_argument("license_id")

    leases = groups.add_parser("leases", help="leases").add_subparsers(required=True)
    sub = command(leases, "list", _cmd_leases_list, "list open leases")
    sub.add_argument("--license", help="only the leases of this license id")
    sub = command(leases, "release", _cmd_leases_release, "force-release a lease")
    sub.add_argument("lease_id")
    command(leases, "sweep", _cmd_leases_sweep, "close every expired lease now")

    add_billing_commands(groups, command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if (
            settings.store is StoreKind.EMBEDDED
            and not args.creates_store
            and not (settings.data_dir / DATABASE_FILENAME).exists()
        ):
            # A mistyped LICENSE_DATA_DIR would otherwise show an empty store.
            print(
                f"error: no store in the data folder {settings.data_dir} (LICENSE_DATA_DIR); "
                "check the variable, or create a license first with `licenses create`.",
                file=sys.stderr,
            )
            return 1
        try:
            admin = app_module.build_admin(settings)
        except (OSError, sqlite3.Error) as error:
            print(
                f"error: cannot open the store in the data folder {settings.data_dir} "
                f"(LICENSE_DATA_DIR): {error}",
                file=sys.stderr,
            )
            return 1
        try:
            result: int = args.handler(admin, args)
        finally:
            admin.store.close()
        return result
    except (AdminError, BillingError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ServiceUnavailable as error:
        # Secret Manager could not be read; the logged line names the secret and the status.
        print(f"error: {error.detail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
