"""Scanner findings that are accepted on purpose, attached to the resource they concern.

Each justification is written into the synthesised template as checkov skip
metadata (:func:`accept`) or as a cdk-nag acknowledgement (:func:`acknowledge`),
so the scanners run in the test suite stay clean, and is listed one line each in
``docs/security-findings.md``.
"""

from aws_cdk import Acknowledgment, CfnResource, Validations
from constructs import IConstruct

NAG_PACK = "AwsSolutions"


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Record that cdk-nag's ``rule`` (or one finding of it) does not apply to ``construct``, and why.

    Args:
        construct: The construct the finding is reported on, or one of its parents.
        rule: ``AwsSolutions-EC23``, or one finding such as ``AwsSolutions-IAM5[Resource::*]``.
        reason: One sentence a reviewer can judge.
    """
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{NAG_PACK}::{rule}", reason=reason))


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
