"""Fan a question out over several regions: "in all regions", "in eu-west-1 and us-east-1".

The regions of an account are its registry item's ``regions`` (which also limit
where it may be queried), else what ``aws ec2 describe-regions`` says are its
enabled regions. One bridge call goes out per region (over every account that has
it), each with its own progress; the answer has one section per account and region.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from agent.answers import AccountResult, counted, items_of, table
from agent.resources import Column, Resource

ALL = "*"
DESCRIBE_REGIONS = "aws ec2 describe-regions"
# Resources whose list is the same in every region (S3 lists every bucket; IAM is global).
GLOBAL = frozenset({"buckets", "bucket_regions", "public_access", "public_buckets", "bucket_sizes", "roles"})


def enabled_regions(payload: Any) -> list[str]:
    """Region names in the output of ``aws ec2 describe-regions``."""
    regions = payload.get("Regions", []) if isinstance(payload, Mapping) else []
    return sorted(str(r["RegionName"]) for r in regions if isinstance(r, Mapping) and r.get("RegionName"))


def plan(
    asked: Sequence[str], accounts: Sequence[Mapping[str, Any]], discovered: Mapping[str, list[str]]
) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """Which accounts to call in which region.

    Args:
        asked: The regions named, or ``("*",)`` for every enabled region.
        accounts: The resolved accounts (``account_id``, ``name``, optional ``regions``).
        discovered: Enabled regions read with ``describe-regions``, per account id.

    Returns:
        ``({region: [account ids]}, account ids whose regions must be discovered first, notes)``.
    """
    by_region: dict[str, list[str]] = {}
    undiscovered: list[str] = []
    notes: list[str] = []
    for a in accounts:
        account_id = str(a["account_id"])
        known = list(a.get("regions") or []) or discovered.get(account_id, [])
        if ALL in asked:
            if not known:
                undiscovered.append(account_id)
                continue
            wanted = known
        else:
            wanted = [r for r in asked if not known or r in known]
            skipped = [r for r in asked if r not in wanted]
            if skipped:
                notes.append(
                    f"{a.get('name', account_id)} is not enabled in {', '.join(skipped)} "
                    f"(its regions: {', '.join(known)}); nothing was run there."
                )
        for region in wanted:
            by_region.setdefault(region, []).append(account_id)
    return dict(sorted(by_region.items())), undiscovered, notes


def compose(
    action: str,
    resource: Resource,
    results: Sequence[tuple[str, AccountResult]],
    names: Mapping[str, str],
) -> str:
    """One section per account and region, a count table for counts, and the total."""
    parts: list[str] = []
    ok = [(region, r) for region, r in results if r.ok]
    failed = [(region, r) for region, r in results if not r.ok]
    ordered = sorted(ok, key=lambda x: (names.get(x[1].account_id, x[1].account_id), x[0]))
    total = sum(len(items_of(resource, r.payload)) for _, r in ok)
    regions = sorted({region for region, _ in results})
    if action == "count":
        rows = [
            {
                "account": names.get(r.account_id, r.account_id),
                "region": region,
                "count": len(items_of(resource, r.payload)),
            }
            for region, r in ordered
        ]
        noun = counted(total, resource.label).split(" ", 1)[1]
        parts.append(f"**{total}** {noun} across {len(regions)} region(s):")
        parts.append(
            table(
                (Column("Account", "account"), Column("Region", "region"), Column(resource.label, "count")),
                rows,
            )
        )
    else:
        for region, r in ordered:
            rows = items_of(resource, r.payload)
            header = f"**{names.get(r.account_id, r.account_id)}** ({r.account_id}) · {region}"
            if rows:
                parts.append(
                    f"{header} — {counted(len(rows), resource.label)}:\n\n{table(resource.columns, rows)}"
                )
            else:
                parts.append(f"{header} — no {resource.label}.")
        parts.append(
            f"Total: **{total}** {resource.label} in {len(regions)} region(s): {', '.join(regions)}."
        )
    for region, r in failed:
        parts.append(
            f"**{names.get(r.account_id, r.account_id)}** ({r.account_id}) · {region} — failed: {r.error} (`{r.error_code}`)"
        )
    return "\n\n".join(parts)
