"""Scanner findings that are accepted on purpose, attached to the resource they concern.

Each justification is written into the synthesised template as checkov skip
metadata, so the scanner run in the test suite stays clean, and is listed one
line each in ``docs/security-findings.md``.
"""

from aws_cdk import CfnResource
from constructs import IConstruct


def accept(construct: IConstruct, check_id: str, reason: str) -> None:
    """Record that ``check_id`` does not apply to ``construct``'s CloudFormation resource, and why.

    Args:
        construct: An L2 construct (its default child is used) or a ``CfnResource``.
        check_id: The checkov check, e.g. ``CKV_AWS_116``.
        reason: One sentence a reviewer can judge.
    """
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    metadata = resource.get_metadata("checkov") or {"skip": []}
    metadata["skip"] = [*metadata["skip"], {"id": check_id, "comment": reason}]
    resource.add_metadata("checkov", metadata)
