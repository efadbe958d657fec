"""Public exposure of S3 buckets: three read-only checks per bucket, one verdict per bucket.

A bucket is reported public when its bucket policy is public (``get-bucket-policy-status``)
and its public access block does not restrict public buckets, or when its ACL grants
``AllUsers`` / ``AuthenticatedUsers`` and the block does not ignore public ACLs. The
account-level public access block (``s3control``) is not read; the answer says so.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

from agent.answers import AccountResult, table
from agent.resources import Column

CHECKS = (
    "aws s3api get-public-access-block --bucket {bucket}",
    "aws s3api get-bucket-policy-status --bucket {bucket}",
    "aws s3api get-bucket-acl --bucket {bucket}",
)
_PUBLIC_GRANTEES = ("AllUsers", "AuthenticatedUsers")
_BUCKET = re.compile(r"--bucket\s+(\S+)")
_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _check(command: str) -> str:
    return command.split()[2] if len(command.split()) > 2 else ""


def _block(r: AccountResult) -> tuple[str, dict[str, bool]]:
    if not r.ok:
        return ("not set", {}) if "NoSuchPublicAccessBlock" in r.error else (f"error: {r.error[:60]}", {})
    config = r.payload.get("PublicAccessBlockConfiguration", {}) if isinstance(r.payload, Mapping) else {}
    flags = {f: bool(config.get(f)) for f in _FLAGS}
    on = sum(flags.values())
    return ("all on" if on == 4 else f"{on} of 4 on"), flags


def _policy(r: AccountResult) -> tuple[str, bool]:
    if not r.ok:
        return ("no policy", False) if "NoSuchBucketPolicy" in r.error else (f"error: {r.error[:60]}", False)
    public = (
        bool((r.payload or {}).get("PolicyStatus", {}).get("IsPublic"))
        if isinstance(r.payload, Mapping)
        else False
    )
    return ("public" if public else "not public"), public


def _acl(r: AccountResult) -> tuple[str, bool]:
    if not r.ok:
        return f"error: {r.error[:60]}", False
    grants = r.payload.get("Grants", []) if isinstance(r.payload, Mapping) else []
    public = any(
        isinstance(g, Mapping)
        and any(p in str((g.get("Grantee") or {}).get("URI", "")) for p in _PUBLIC_GRANTEES)
        for g in grants
    )
    return ("grants everyone" if public else "private"), public


def compose(
    listed: Sequence[AccountResult],
    checks: Sequence[tuple[str, AccountResult]],
    names: Mapping[str, str],
) -> str:
    """The exposure table (one row per bucket) and a one-line verdict."""
    by_bucket: dict[tuple[str, str], dict[str, AccountResult]] = {}
    for command, r in checks:
        m = _BUCKET.search(command)
        if m:
            by_bucket.setdefault((r.account_id, m.group(1)), {})[_check(command)] = r
    rows: list[dict[str, Any]] = []
    public: list[str] = []
    for (account_id, bucket), found in by_bucket.items():
        block_text, flags = (
            _block(found["get-public-access-block"]) if "get-public-access-block" in found else ("—", {})
        )
        policy_text, policy_public = (
            _policy(found["get-bucket-policy-status"])
            if "get-bucket-policy-status" in found
            else ("—", False)
        )
        acl_text, acl_public = _acl(found["get-bucket-acl"]) if "get-bucket-acl" in found else ("—", False)
        exposed = (policy_public and not flags.get("RestrictPublicBuckets")) or (
            acl_public and not flags.get("IgnorePublicAcls")
        )
        account = names.get(account_id, account_id)
        if exposed:
            public.append(f"{bucket} ({account})")
        rows.append(
            {
                "account": account,
                "bucket": bucket,
                "block": block_text,
                "policy": policy_text,
                "acl": acl_text,
                "public": "PUBLIC" if exposed else "no",
            }
        )
    columns = (
        Column("Account", "account"),
        Column("Bucket", "bucket"),
        Column("Public access block", "block"),
        Column("Bucket policy", "policy"),
        Column("ACL", "acl"),
        Column("Public", "public"),
    )
    parts = []
    if not rows:
        parts.append("There are no buckets to look at.")
    else:
        if public:
            parts.append(f"**{len(public)}** of {len(rows)} bucket(s) public: {', '.join(public)}.")
        else:
            parts.append(f"No public bucket among {len(rows)} bucket(s).")
        parts.append(table(columns, rows))
        parts.append("_(the account-level public access block is not read)_")
    for r in listed:
        if not r.ok:
            parts.append(
                f"**{names.get(r.account_id, r.account_id)}** ({r.account_id}) — failed: {r.error} (`{r.error_code}`)"
            )
    return "\n\n".join(parts)
