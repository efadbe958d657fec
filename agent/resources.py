"""The AWS resources CentralOps knows by name: how to list, describe and show each.

One catalogue serves the offline planner (which command answers "list
buckets"), the answer formatter (which fields make a table) and the
follow-up suggestions.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    """One column of an answer table: a header, a dotted path into an item, a format.

    Path segments that are integers index lists (``Datapoints.0.Average``);
    ``fmt="bytes"`` renders a number of bytes for people; ``fmt="tags"`` a tag list as ``k=v, k=v``.
    """

    header: str
    path: str
    fmt: str | None = None


@dataclass(frozen=True)
class Resource:
    """A kind of resource.

    Attributes:
        key: Stable identifier (``buckets``).
        label: Plural words for people (``S3 buckets``).
        words: Phrases people use for it, longest first when matched.
        list_command: The read-only CLI command that lists it in one account and region.
        items: Path to the list in the command's JSON output; ``[]`` flattens a nested list.
        columns: What a table shows; an empty path means the item itself (a list of strings).
        describe_command: Template (``{name}``) that describes one named resource.
        per_bucket: A second stage run once per bucket listed by the first (``{bucket}``,
            ``{start}``, ``{end}``); ``columns`` then read its output.
        followups: ``(label, prompt)`` pairs offered after an answer (``{targets}``).
        changes: ``(change, command template)`` pairs (``{name}``): the exact command a request
            such as "delete bucket x" maps to; it always waits for approval.
    """

    key: str
    label: str
    words: tuple[str, ...]
    list_command: str
    items: str
    columns: tuple[Column, ...]
    describe_command: str | None = None
    per_bucket: str | None = None
    followups: tuple[tuple[str, str], ...] = field(default=())
    changes: tuple[tuple[str, str], ...] = field(default=())


RESOURCES: tuple[Resource, ...] = (
    Resource(
        "buckets",
        "S3 buckets",
        ("s3 buckets", "s3 bucket", "buckets", "bucket", "s3"),
        "aws s3api list-buckets",
        "Buckets",
        (Column("Bucket", "Name"), Column("Created", "CreationDate")),
        "aws s3api get-bucket-location --bucket {name}",
        followups=(
            ("Public access status", "show bucket public access in {targets}"),
            ("Bucket regions", "show bucket regions in {targets}"),
            ("Bucket sizes", "show bucket sizes in {targets}"),
        ),
        changes=(
            ("delete", "aws s3api delete-bucket --bucket {name}"),
            ("create", "aws s3api create-bucket --bucket {name}"),
        ),
    ),
    Resource(
        "bucket_regions",
        "bucket regions",
        ("bucket regions", "bucket region", "regions of buckets", "regions of the buckets"),
        "aws s3api list-buckets",
        "Buckets",
        (Column("Bucket", "Name"), Column("Region", "BucketRegion")),
    ),
    Resource(
        "public_access",
        "bucket public access settings",
        (
            "bucket public access",
            "public access settings",
            "public access status",
            "public access block",
            "public access",
        ),
        "aws s3api list-buckets",
        "Buckets",
        (
            Column("Block public ACLs", "PublicAccessBlockConfiguration.BlockPublicAcls"),
            Column("Ignore public ACLs", "PublicAccessBlockConfiguration.IgnorePublicAcls"),
            Column("Block public policy", "PublicAccessBlockConfiguration.BlockPublicPolicy"),
            Column("Restrict public buckets", "PublicAccessBlockConfiguration.RestrictPublicBuckets"),
        ),
        per_bucket="aws s3api get-public-access-block --bucket {bucket}",
    ),
    Resource(
        "public_buckets",
        "public buckets",
        (),
        "aws s3api list-buckets",
        "Buckets",
        (Column("Bucket", "Name"),),
        per_bucket="aws s3api get-public-access-block --bucket {bucket}",
    ),
    Resource(
        "bucket_sizes",
        "bucket sizes",
        ("bucket sizes", "bucket size", "sizes of buckets", "sizes of the buckets", "size of buckets"),
        "aws s3api list-buckets",
        "Buckets",
        (Column("Size (daily CloudWatch metric)", "Datapoints.0.Average", fmt="bytes"),),
        per_bucket=(
            "aws cloudwatch get-metric-statistics --namespace AWS/S3 --metric-name BucketSizeBytes "
            "--dimensions Name=BucketName,Value={bucket} Name=StorageType,Value=StandardStorage "
            "--start-time {start} --end-time {end} --period 86400 --statistics Average"
        ),
    ),
    Resource(
        "instances",
        "EC2 instances",
        ("ec2 instances", "ec2 instance", "instances", "instance", "servers", "server", "vms", "ec2"),
        "aws ec2 describe-instances",
        "Reservations[].Instances",
        (
            Column("Instance", "InstanceId"),
            Column("Type", "InstanceType"),
            Column("State", "State.Name"),
            Column("Launched", "LaunchTime"),
        ),
        "aws ec2 describe-instances --instance-ids {name}",
        followups=(
            ("Instance states in every account", "list ec2 instances in all accounts"),
            ("VPCs", "list vpcs in {targets}"),
            ("CloudWatch alarms", "list alarms in {targets}"),
        ),
        changes=(
            ("stop", "aws ec2 stop-instances --instance-ids {name}"),
            ("start", "aws ec2 start-instances --instance-ids {name}"),
            ("reboot", "aws ec2 reboot-instances --instance-ids {name}"),
            ("terminate", "aws ec2 terminate-instances --instance-ids {name}"),
            ("delete", "aws ec2 terminate-instances --instance-ids {name}"),
        ),
    ),
    Resource(
        "functions",
        "Lambda functions",
        ("lambda functions", "lambda function", "lambdas", "lambda", "functions", "function"),
        "aws lambda list-functions",
        "Functions",
        (
            Column("Function", "FunctionName"),
            Column("Runtime", "Runtime"),
            Column("Modified", "LastModified"),
        ),
        "aws lambda get-function --function-name {name}",
        followups=(
            ("Function counts in every account", "count lambda functions in all accounts"),
            ("CloudWatch alarms", "list alarms in {targets}"),
            ("SQS queues", "list sqs queues in {targets}"),
        ),
        changes=(("delete", "aws lambda delete-function --function-name {name}"),),
    ),
    Resource(
        "tables",
        "DynamoDB tables",
        ("dynamodb tables", "dynamodb table", "dynamo tables", "tables", "table", "dynamodb"),
        "aws dynamodb list-tables",
        "TableNames",
        (Column("Table", ""),),
        "aws dynamodb describe-table --table-name {name}",
        changes=(("delete", "aws dynamodb delete-table --table-name {name}"),),
    ),
    Resource(
        "roles",
        "IAM roles",
        ("iam roles", "iam role", "roles", "role"),
        "aws iam list-roles",
        "Roles",
        (Column("Role", "RoleName"), Column("Created", "CreateDate")),
        "aws iam get-role --role-name {name}",
        changes=(("delete", "aws iam delete-role --role-name {name}"),),
    ),
    Resource(
        "vpcs",
        "VPCs",
        ("vpcs", "vpc", "networks"),
        "aws ec2 describe-vpcs",
        "Vpcs",
        (Column("VPC", "VpcId"), Column("CIDR", "CidrBlock"), Column("Default", "IsDefault")),
        "aws ec2 describe-vpcs --vpc-ids {name}",
        changes=(("delete", "aws ec2 delete-vpc --vpc-id {name}"),),
    ),
    Resource(
        "databases",
        "RDS instances",
        ("rds instances", "rds instance", "rds databases", "db instances", "databases", "database", "rds"),
        "aws rds describe-db-instances",
        "DBInstances",
        (
            Column("DB instance", "DBInstanceIdentifier"),
            Column("Engine", "Engine"),
            Column("Status", "DBInstanceStatus"),
        ),
        "aws rds describe-db-instances --db-instance-identifier {name}",
        changes=(
            ("stop", "aws rds stop-db-instance --db-instance-identifier {name}"),
            ("start", "aws rds start-db-instance --db-instance-identifier {name}"),
            ("reboot", "aws rds reboot-db-instance --db-instance-identifier {name}"),
        ),
    ),
    Resource(
        "queues",
        "SQS queues",
        ("sqs queues", "sqs queue", "queues", "queue", "sqs"),
        "aws sqs list-queues",
        "QueueUrls",
        (Column("Queue URL", ""),),
        "aws sqs get-queue-url --queue-name {name}",
        changes=(("delete", "aws sqs delete-queue --queue-url {name}"),),
    ),
    Resource(
        "topics",
        "SNS topics",
        ("sns topics", "sns topic", "topics", "topic", "sns"),
        "aws sns list-topics",
        "Topics",
        (Column("Topic", "TopicArn"),),
        "aws sns get-topic-attributes --topic-arn {name}",
        changes=(("delete", "aws sns delete-topic --topic-arn {name}"),),
    ),
    Resource(
        "stacks",
        "CloudFormation stacks",
        ("cloudformation stacks", "cloudformation stack", "cfn stacks", "stacks", "stack", "cloudformation"),
        "aws cloudformation describe-stacks",
        "Stacks",
        (Column("Stack", "StackName"), Column("Status", "StackStatus")),
        "aws cloudformation describe-stacks --stack-name {name}",
        changes=(("delete", "aws cloudformation delete-stack --stack-name {name}"),),
    ),
    Resource(
        "alarms",
        "CloudWatch alarms",
        ("cloudwatch alarms", "cloudwatch alarm", "alarms", "alarm"),
        "aws cloudwatch describe-alarms",
        "MetricAlarms",
        (Column("Alarm", "AlarmName"), Column("State", "StateValue")),
        "aws cloudwatch describe-alarms --alarm-names {name}",
        changes=(("delete", "aws cloudwatch delete-alarms --alarm-names {name}"),),
    ),
)

BY_KEY = {r.key: r for r in RESOURCES}


def for_command(cli_command: str) -> Resource | None:
    """The resource whose list command this is, to render its output as a table."""
    normalized = " ".join(cli_command.split()[:3])
    for r in RESOURCES:
        if (
            r.per_bucket is None
            and r.key != "bucket_regions"
            and " ".join(r.list_command.split()[:3]) == normalized
        ):
            return r
    return None
