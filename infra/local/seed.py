"""Seed a fresh moto server with the demo organisation of :mod:`infra.local.org`.

The central account gets the registry tables, the KMS key, the results bucket
and the Cognito user pool with the demo people; each member account gets the
CentralOps roles and its own buckets, instances and functions, created with
credentials assumed into that account (so moto files them under it).
"""

import asyncio
import io
import logging
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
from boto3.dynamodb.types import TypeSerializer

from centralops.accounts import AccountItem
from infra import tables
from infra.local import org

logger = logging.getLogger("centralops.local.seed")

TRUST_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:TagSession"]}]}'
)
READ_ONLY_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:List*","s3:Get*","ec2:Describe*",'
    '"lambda:List*","lambda:Get*"],"Resource":"*"}]}'
)
PUBLIC_READ_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*",'
    '"Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*"}]}'
)
LAMBDA_TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)


@dataclass(frozen=True)
class ServiceClient:
    """A confidential app client that exchanges tokens and acts for the person."""

    client_id: str
    client_secret: str = field(repr=False)
    secret_arn: str = ""  # the Secrets Manager secret holding it, as CDK keeps it in AWS


@dataclass(frozen=True)
class ExchangeClients:
    """The token-exchange side of the pool: the bot's and the agent's app clients."""

    bot: ServiceClient
    agent: ServiceClient


@dataclass
class Seeded:
    """Ids created while seeding that the stack's processes need."""

    user_pool_id: str
    client_id: str
    kms_key_id: str
    tables: dict[str, str]
    refresh_tokens: dict[str, str]
    exchange: ExchangeClients


def create_exchange_clients(idp: Any, pool: str) -> ExchangeClients:
    """Resource servers for the Runtime and Gateway hops, and the bot's and agent's app clients.

    Each service client has a secret, the client-credentials grant for its actor token,
    and ``ALLOW_TOKEN_EXCHANGE_DELEGATION`` to exchange a person's token with itself as actor,
    as ``infra/stacks/cognito.py`` configures them in AWS.
    """
    for identifier, name in ((org.RUNTIME_AUDIENCE, "agent runtime"), (org.GATEWAY_AUDIENCE, "tool gateway")):
        idp.create_resource_server(
            UserPoolId=pool,
            Identifier=identifier,
            Name=f"CentralOps {name}",
            Scopes=[{"ScopeName": "invoke", "ScopeDescription": f"Call the {name} for a person"}],
        )

    def service(name: str, audience: str) -> ServiceClient:
        created = idp.create_user_pool_client(
            UserPoolId=pool,
            ClientName=name,
            GenerateSecret=True,
            ExplicitAuthFlows=["ALLOW_TOKEN_EXCHANGE_DELEGATION", "ALLOW_REFRESH_TOKEN_AUTH"],
            AllowedOAuthFlows=["client_credentials"],
            AllowedOAuthScopes=[f"{audience}/invoke"],
            AllowedOAuthFlowsUserPoolClient=True,
            AccessTokenValidity=60,
            TokenValidityUnits={"AccessToken": "minutes"},
        )["UserPoolClient"]
        return ServiceClient(created["ClientId"], created["ClientSecret"])

    return ExchangeClients(
        bot=service("centralops-bot-service", org.RUNTIME_AUDIENCE),
        agent=service("centralops-agent-service", org.GATEWAY_AUDIENCE),
    )


def store_client_secrets(sm: Any, clients: ExchangeClients) -> ExchangeClients:
    """Each service client's secret in a Secrets Manager secret of its own, as ``infra/stacks/cognito.py`` keeps them."""

    def stored(name: str, client: ServiceClient) -> ServiceClient:
        arn = sm.create_secret(Name=f"centralops/cognito/{name}", SecretString=client.client_secret)["ARN"]
        return ServiceClient(client.client_id, client.client_secret, str(arn))

    return ExchangeClients(
        bot=stored("bot-service", clients.bot), agent=stored("agent-service", clients.agent)
    )


def _session(endpoint: str, credentials: dict[str, str] | None = None) -> boto3.Session:
    if credentials:
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=org.REGION,
        )
    return boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=org.REGION)  # noqa: S106


def _function_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buf.getvalue()


def _create_tables(central: boto3.Session, endpoint: str) -> dict[str, str]:
    ddb = central.client("dynamodb", endpoint_url=endpoint)
    names: dict[str, str] = {}
    for spec in tables.ALL_TABLES:
        name = tables.table_name(spec)
        attrs = [{"AttributeName": spec.partition_key, "AttributeType": "S"}]
        extra: dict[str, Any] = {}
        if spec.index_name and spec.index_key:
            attrs.append({"AttributeName": spec.index_key, "AttributeType": "S"})
            extra["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": spec.index_name,
                    "KeySchema": [{"AttributeName": spec.index_key, "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ]
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=attrs,
            KeySchema=[{"AttributeName": spec.partition_key, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            **extra,
        )
        if spec.ttl_attribute:
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
            )
        names[spec.setting] = name
    return names


def registry_item(acct: org.Account) -> dict[str, Any]:
    """The accounts-table item of one account (plain values, in the kernel's one item shape)."""
    return AccountItem(
        account_id=acct.account_id,
        name=acct.name,
        environment=acct.environment,
        aliases=acct.aliases,
        enabled=acct.enabled,
        allowed_groups=acct.allowed_groups,
        default_region=org.REGION,
        role_name="CentralOpsTargetRole",
        write_role_name=acct.write_role_name,
        regions=tuple(acct.regions),
        payer=acct.payer,
    ).to_item()


def register_accounts(dynamodb: Any, table: str) -> None:
    """Write the organisation's accounts with a boto3 DynamoDB *client* (typed attribute values)."""
    serialize = TypeSerializer().serialize
    for acct in org.ACCOUNTS:
        item = {k: serialize(v) for k, v in registry_item(acct).items()}
        dynamodb.put_item(TableName=table, Item=item)


def _seed_member(central: boto3.Session, endpoint: str, acct: org.Account) -> None:
    sts = central.client("sts", endpoint_url=endpoint)
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{acct.account_id}:role/OrganizationAccountAccessRole",
        RoleSessionName="centralops-seed",
    )["Credentials"]
    member = _session(endpoint, creds)
    iam = member.client("iam", endpoint_url=endpoint)
    iam.create_role(RoleName="CentralOpsTargetRole", AssumeRolePolicyDocument=TRUST_POLICY)
    # moto does not load AWS managed policies (ReadOnlyAccess) unless asked to, slowly; an inline
    # read-only policy stands in for it. moto does not evaluate policies either: the bridge is the boundary.
    iam.put_role_policy(
        RoleName="CentralOpsTargetRole", PolicyName="ReadOnly", PolicyDocument=READ_ONLY_POLICY
    )
    if acct.write_role_name:
        iam.create_role(RoleName=acct.write_role_name, AssumeRolePolicyDocument=TRUST_POLICY)
    role_arn = iam.create_role(RoleName="app-lambda-role", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"][
        "Arn"
    ]

    s3 = member.client("s3", endpoint_url=endpoint)
    for bucket in acct.buckets:
        s3.create_bucket(Bucket=bucket)
        tags = [{"Key": "environment", "Value": acct.environment}]
        if bucket in org.TEAM_TAGS:
            tags.append({"Key": "team", "Value": org.TEAM_TAGS[bucket]})
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
        if bucket in acct.public_buckets:
            s3.put_bucket_policy(Bucket=bucket, Policy=PUBLIC_READ_POLICY.replace("BUCKET", bucket))
        elif bucket.endswith("-logs"):
            s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration=dict.fromkeys(
                    ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
                    True,
                ),
            )
    lam = member.client("lambda", endpoint_url=endpoint)
    code = _function_zip()
    for region, fn in acct.regional_functions:
        member.client("lambda", endpoint_url=endpoint, region_name=region).create_function(
            FunctionName=fn,
            Runtime="python3.12",
            Role=role_arn,
            Handler="index.handler",
            Code={"ZipFile": code},
        )
    for fn in acct.functions:
        lam.create_function(
            FunctionName=fn,
            Runtime="python3.12",
            Role=role_arn,
            Handler="index.handler",
            Code={"ZipFile": code},
            Tags={
                "environment": acct.environment,
                **({"team": org.TEAM_TAGS[fn]} if fn in org.TEAM_TAGS else {}),
            },
        )
    if acct.instances:
        ec2 = member.client("ec2", endpoint_url=endpoint)
        instances = ec2.run_instances(
            ImageId="ami-03cf127a",
            InstanceType="t3.micro",
            MinCount=acct.instances,
            MaxCount=acct.instances,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "Name", "Value": f"{acct.name}-app"},
                        {"Key": "environment", "Value": acct.environment},
                        *(
                            [{"Key": "team", "Value": org.TEAM_TAGS[f"{acct.name}-app"]}]
                            if f"{acct.name}-app" in org.TEAM_TAGS
                            else []
                        ),
                    ],
                }
            ],
        )["Instances"]
        if acct.stopped:
            ec2.stop_instances(InstanceIds=[i["InstanceId"] for i in instances[: acct.stopped]])
    _seed_alarms_and_logs(member, endpoint, acct)


def _seed_alarms_and_logs(member: boto3.Session, endpoint: str, acct: org.Account) -> None:
    """CloudWatch alarms in their states, and Lambda log lines for Logs Insights."""
    cloudwatch = member.client("cloudwatch", endpoint_url=endpoint)
    for name, state in acct.alarms:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="Errors",
            Namespace="AWS/Lambda",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="seeded")
    logs = member.client("logs", endpoint_url=endpoint)
    now_ms = int(time.time() * 1000)
    groups: dict[str, list[str]] = {}
    for function, message in acct.log_lines:
        groups.setdefault(f"/aws/lambda/{function}", []).append(message)
    for group, messages in groups.items():
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="seed")
        events = [
            {"timestamp": now_ms - 60_000 * (len(messages) - i), "message": m} for i, m in enumerate(messages)
        ]
        logs.put_log_events(logGroupName=group, logStreamName="seed", logEvents=events)


def _seed_payer(central: boto3.Session, endpoint: str, accounts_table: str) -> None:
    """Register the management (payer) account, give it the read-only role, and queue its cost data."""
    serialize = TypeSerializer().serialize
    item = {k: serialize(v) for k, v in registry_item(org.MANAGEMENT).items()}
    central.client("dynamodb", endpoint_url=endpoint).put_item(TableName=accounts_table, Item=item)
    iam = central.client("iam", endpoint_url=endpoint)
    iam.create_role(RoleName="CentralOpsTargetRole", AssumeRolePolicyDocument=TRUST_POLICY)
    iam.put_role_policy(
        RoleName="CentralOpsTargetRole", PolicyName="ReadOnly", PolicyDocument=READ_ONLY_POLICY
    )
    # moto's Cost Explorer answers each distinct request with the next queued result, whatever
    # its filter or grouping; every question gets one month of per-service costs.
    month = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-01-01", "End": "2026-02-01"},
                "Total": {},
                "Groups": [
                    {"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}
                    for service, amount in org.SERVICE_COSTS
                ],
                "Estimated": False,
            }
        ],
        "DimensionValueAttributes": [],
    }
    httpx.post(
        f"{endpoint}/moto-api/static/ce/cost-and-usage-results",
        json={"account_id": org.CENTRAL_ACCOUNT_ID, "results": [month] * 200},
        timeout=10,
    ).raise_for_status()


def _create_cognito(
    central: boto3.Session, endpoint: str, callback_url: str
) -> tuple[str, str, dict[str, str], ExchangeClients]:
    idp = central.client("cognito-idp", endpoint_url=endpoint)
    pool = idp.create_user_pool(
        PoolName="centralops-users",
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        UserPoolTier="ESSENTIALS",  # token exchange needs Essentials or Plus
    )["UserPool"]["Id"]
    exchange = store_client_secrets(
        central.client("secretsmanager", endpoint_url=endpoint), create_exchange_clients(idp, pool)
    )
    client = idp.create_user_pool_client(
        UserPoolId=pool,
        ClientName="centralops-bot",
        GenerateSecret=False,
        ExplicitAuthFlows=[
            "ALLOW_ADMIN_USER_PASSWORD_AUTH",
            "ALLOW_USER_PASSWORD_AUTH",
            "ALLOW_REFRESH_TOKEN_AUTH",
        ],
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "email", "profile"],
        AllowedOAuthFlowsUserPoolClient=True,
        CallbackURLs=[callback_url],
        SupportedIdentityProviders=["COGNITO"],
        ReadAttributes=["email", "email_verified"],  # ID tokens carry both, as Cognito's defaults do
    )["UserPoolClient"]["ClientId"]
    for group in (org.OPERATOR_GROUP, org.APPROVER_GROUP):
        idp.create_group(UserPoolId=pool, GroupName=group)
    refresh: dict[str, str] = {}
    for person in org.PEOPLE:
        idp.admin_create_user(
            UserPoolId=pool,
            Username=person.username,
            UserAttributes=[
                {"Name": "email", "Value": person.email},
                {"Name": "email_verified", "Value": str(person.email_verified).lower()},
            ],
            MessageAction="SUPPRESS",
        )
        idp.admin_set_user_password(
            UserPoolId=pool, Username=person.username, Password=person.password, Permanent=True
        )
        for group in person.groups:
            idp.admin_add_user_to_group(UserPoolId=pool, Username=person.username, GroupName=group)
        if person.linked:
            auth = idp.admin_initiate_auth(
                UserPoolId=pool,
                ClientId=client,
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": person.username, "PASSWORD": person.password},
            )["AuthenticationResult"]
            refresh[person.username] = auth["RefreshToken"]
    return pool, client, refresh, exchange


def _link_people(endpoint: str, tables_: dict[str, str], kms_key_id: str, refresh: dict[str, str]) -> None:
    from bot.identity import IdentityStore  # the bot's own store writes the links, encrypted as it reads them

    session = _session(endpoint)
    store = IdentityStore(
        tables_[tables.IDENTITY_LINKS.setting],
        kms_key_id,
        dynamodb=session.resource("dynamodb", endpoint_url=endpoint),
        kms=session.client("kms", endpoint_url=endpoint),
    )

    async def link_all() -> None:
        for person in org.PEOPLE:
            if person.username in refresh:
                await store.save(
                    "slack",
                    org.SLACK_TEAM_ID,
                    person.slack_user_id,
                    username=person.username,
                    email=person.email,
                    refresh_token=refresh[person.username],
                )
                if person.teams_aad_id:
                    await store.save(
                        "teams",
                        org.TEAMS_TENANT_ID,
                        person.teams_aad_id,
                        username=person.username,
                        email=person.email,
                        refresh_token=refresh[person.username],
                    )

    asyncio.run(link_all())


def seed(endpoint: str, *, callback_url: str) -> Seeded:
    """Create the demo organisation in the moto server at ``endpoint``."""
    central = _session(endpoint)
    names = _create_tables(central, endpoint)
    register_accounts(central.client("dynamodb", endpoint_url=endpoint), names[tables.ACCOUNTS.setting])
    key_id = central.client("kms", endpoint_url=endpoint).create_key(Description="centralops local")[
        "KeyMetadata"
    ]["KeyId"]
    s3 = central.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=org.RESULTS_BUCKET)
    s3.put_bucket_lifecycle_configuration(  # as in AWS: full fan-out results expire
        Bucket=org.RESULTS_BUCKET,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-results",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "results/"},
                    "Expiration": {"Days": org.RESULTS_EXPIRY_DAYS},
                }
            ]
        },
    )
    for acct in org.ACCOUNTS:
        _seed_member(central, endpoint, acct)
    _seed_payer(central, endpoint, names[tables.ACCOUNTS.setting])
    pool, client, refresh, exchange = _create_cognito(central, endpoint, callback_url)
    _link_people(endpoint, names, key_id, refresh)
    logger.info("organisation seeded", extra={"accounts": len(org.ACCOUNTS), "people": len(org.PEOPLE)})
    return Seeded(pool, client, key_id, names, refresh, exchange)
