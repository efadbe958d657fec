"""Every AWS call the deployed code makes is allowed by the role it runs as.

The calls are read from the source (:mod:`tests.fixtures.aws_calls`), the
permissions from the synthesised templates (:mod:`tests.fixtures.iam_walk`). On
top of the code's own calls come those AWS makes with a workload's roles: ECS
reading the task's secrets and pulling its image, Lambda and ECS writing logs,
AgentCore pulling the agent image, the Gateway invoking the bridge, and the KMS
decrypts behind every encrypted table, bucket, secret and log group.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import strands

from centralops import settings
from tests.fixtures.aws_calls import PACKAGES, REPO, AwsCall, aws_calls, module_closure, table_uses
from tests.fixtures.iam_walk import Walk, allows
from tests.fixtures.infra_cdk import Synthesized, deployment_config, synthesized

CONFIG = deployment_config()

STRANDS = Path(strands.__file__).parent
TABLE = "AWS::DynamoDB::Table"

# Where the source names an operation without calling AWS (a receiver that is not a boto3 client).
NOT_AWS_CALLS = frozenset(
    {
        ("bot/auth_routes.py", "query"),  # aiohttp's request.query
        ("bot/auth_routes.py", "verify"),  # the JWT verifier's verify()
        ("bridge/handler.py", "query"),  # the bridge's own query tool
        ("agent/runner.py", "query"),  # a PendingCall of the bridge's query tool (a Logs Insights poll)
    }
)

# The library modules that call AWS on a deployable's behalf, with the methods it uses: the
# agent's model is Strands' BedrockModel (streaming Converse, no native token counting).
LIBRARY_CALLS: dict[str, list[tuple[Path, dict[str, set[str]]]]] = {
    "agent": [(STRANDS / "models" / "bedrock.py", {"bedrock-runtime": {"converse_stream"}})]
}
# Actions one call needs besides its own: the bridge names the person (SourceIdentity) and
# tags the session in every AssumeRole (bridge/credentials.py).
DEPENDENT_ACTIONS = {"sts:AssumeRole": ("sts:SetSourceIdentity", "sts:TagSession")}
ECR_PULL = ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage")

# Roles no deployed code of ours runs as, and why the walk leaves them to their owners.
NOT_WALKED = {
    "CustomVpcRestrictDefaultSGCustomResourceProviderRole": "CDK's own custom resource; CDK grants it",
    "TargetRole": "member-account role: the person's AWS CLI commands, bounded by ReadOnlyAccess",
    "WriteRole": "member-account role: approved commands, bounded by WritePolicyArn",
    "AccessTokenClaimsRole": "Cognito's pre token generation trigger: inline code that calls no AWS API, "
    "and may only write its own logs (test_cdk_security)",
}


@dataclass(frozen=True)
class Need:
    """One permission a role must have: ``action`` on any one of ``resources``."""

    role: str
    action: str
    resources: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Workload:
    """Something that runs our code with a role: a Lambda function, the agent Runtime, the bot task.

    Attributes:
        entry: The module it runs (a Lambda's handler module, an image's ``python -m`` module).
        resource: Its logical id in ``stack``.
    """

    entry: str
    stack: str
    resource: str
    role: str
    environment: dict[str, Any]
    execution_role: str | None = None

    @property
    def deployable(self) -> str:
        """The package its code lives in: ``bridge``, ``agent`` or ``bot``."""
        return self.entry.split(".")[0]


@pytest.fixture(scope="module")
def synth() -> Synthesized:
    return synthesized()


@pytest.fixture(scope="module")
def walk(synth: Synthesized) -> Walk:
    # An environment-agnostic synthesis leaves AWS::Region/AccountId to deploy time: any value will do.
    return Walk(synth, CONFIG.region or "us-east-1", CONFIG.account or "123456789012")


def calls_of(entry: str) -> list[AwsCall]:
    """The AWS calls of the code ``entry`` reaches, and of the library code it drives."""
    calls = aws_calls(module_closure(entry), not_calls=NOT_AWS_CALLS)
    for path, methods in LIBRARY_CALLS.get(entry.split(".")[0], []):
        library = aws_calls([path], only=methods)
        missing = (
            {m for ms in methods.values() for m in ms}
            - {c.operation for c in library}
            - {_snake(c.operation) for c in library}
        )
        assert not missing, f"{path} no longer calls {missing}: update LIBRARY_CALLS"
        calls.extend(library)
    return calls


def _snake(operation: str) -> str:
    from botocore import xform_name

    return str(xform_name(operation))


def image_entry(walk: Walk, stack: str, image: Any) -> str:
    """The module an image runs: its repository is ``<prefix>-<folder>``, built from ``<folder>/Dockerfile``."""
    (repository,) = walk.of_type(walk.references(stack, image), "AWS::ECR::Repository")
    folder = str((walk.resource(repository) or {})["Properties"]["RepositoryName"]).rsplit("-", 1)[1]
    # The agent's image runs under the AWS Distro for OpenTelemetry's launcher: the module is the same.
    command = re.search(
        r'^CMD \[(?:"opentelemetry-instrument", )?"python", "-m", "([\w.]+)"\]',
        (REPO / folder / "Dockerfile").read_text(),
        re.M,
    )
    assert command, f'{folder}/Dockerfile does not end with CMD ["python", "-m", ...]'
    return f"{command.group(1)}.__main__"


def workloads(walk: Walk) -> list[Workload]:
    """Every Lambda function of our code, AgentCore Runtime and ECS task definition of the deployment."""
    found: list[Workload] = []
    for stack, logical_id, function in walk.synth.all_resources("AWS::Lambda::Function"):
        properties = function["Properties"]
        entry = str(properties.get("Handler", "")).rpartition(".")[0]
        if entry.split(".")[0] not in PACKAGES:
            continue  # CDK's own provider functions
        (role,) = walk.references(stack, properties["Role"])
        environment = properties.get("Environment", {}).get("Variables", {})
        found.append(Workload(entry, stack, logical_id, role, environment))
    for stack, logical_id, runtime in walk.synth.all_resources("AWS::BedrockAgentCore::Runtime"):
        properties = runtime["Properties"]
        (role,) = walk.references(stack, properties["RoleArn"])
        uri = properties["AgentRuntimeArtifact"]["ContainerConfiguration"]["ContainerUri"]
        entry = image_entry(walk, stack, uri)
        found.append(Workload(entry, stack, logical_id, role, properties["EnvironmentVariables"]))
    for stack, logical_id, task in walk.synth.all_resources("AWS::ECS::TaskDefinition"):
        properties = task["Properties"]
        (container,) = properties["ContainerDefinitions"]
        environment = {item["Name"]: item["Value"] for item in container["Environment"]}
        (role,) = walk.references(stack, properties["TaskRoleArn"])
        (execution,) = walk.references(stack, properties["ExecutionRoleArn"])
        entry = image_entry(walk, stack, container["Image"])
        found.append(Workload(entry, stack, logical_id, role, environment, execution))
    return found


def _encryption_key(walk: Walk, symbol: str) -> str | None:
    """The KMS key a table, bucket, secret or log group is encrypted with, if it is a CMK."""
    resource = walk.resource(symbol) or {}
    properties = resource.get("Properties", {})
    stack = symbol.partition("/")[0]
    candidates: list[Any] = [
        properties.get("SSESpecification", {}).get("KMSMasterKeyId"),
        properties.get("KmsKeyId"),
        *[
            rule.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID")
            for rule in properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        ],
    ]
    for candidate in candidates:
        if candidate is not None:
            (key,) = walk.of_type(walk.references(stack, candidate), "AWS::KMS::Key")
            return key
    return None


def code_needs(walk: Walk, workload: Workload) -> Iterator[Need]:
    """What the workload's code calls, on the resources its environment names."""
    refs = walk.references(workload.stack, workload.environment)
    tables = sorted(walk.of_type(refs, TABLE))
    keys = sorted(walk.of_type(refs, "AWS::KMS::Key"))
    buckets = sorted(walk.of_type(refs, "AWS::S3::Bucket"))
    pools = sorted(walk.of_type(refs, "AWS::Cognito::UserPool"))
    secrets = sorted(walk.of_type(refs, "AWS::SecretsManager::Secret"))
    for use in table_uses(module_closure(workload.entry)):
        assert use.setting in workload.environment, f"{use.owner} needs {use.setting}, which is not set"
        (table,) = walk.of_type(walk.references(workload.stack, workload.environment[use.setting]), TABLE)
        for action in use.actions:
            yield Need(workload.role, action, (table,), f"{use.owner} calls it on the table of {use.setting}")
    for call in calls_of(workload.entry):
        for action in (*call.actions, *DEPENDENT_ACTIONS.get(call.actions[0], ())):
            why = f"{workload.deployable} calls {call.service}.{call.operation} ({call.where})"
            service = action.split(":")[0]
            if service == "dynamodb":
                assert tables, f"{why}, but its environment names no table"
                yield Need(workload.role, action, tuple(tables), why)
                for table in tables:
                    key = _encryption_key(walk, table)
                    if key:
                        yield Need(workload.role, "kms:Decrypt", (key,), f"{why}: {table} uses a CMK")
            elif service == "kms":
                for key in keys:
                    yield Need(workload.role, action, (key,), why)
            elif service == "s3":
                for bucket in buckets:
                    resource = bucket if action == "s3:ListBucket" else f"{bucket}/results/x.json"
                    yield Need(workload.role, action, (resource,), why)
                    key = _encryption_key(walk, bucket)
                    if key and action in {"s3:GetObject", "s3:PutObject"}:
                        kms = "kms:GenerateDataKey" if action == "s3:PutObject" else "kms:Decrypt"
                        yield Need(workload.role, kms, (key,), f"{why}: {bucket} uses a CMK")
            elif service == "sts":
                role_name = workload.environment[settings.TARGET_ROLE_NAME]
                for member in CONFIG.member_account_ids:
                    arn = f"arn:aws:iam::{member}:role/{role_name}"
                    yield Need(workload.role, action, (arn,), why)
            elif service == "cognito-idp":
                # Token exchange (GetDerivedToken) and reading its own client's secret, in the pool it names.
                assert pools, f"{why}, but its environment names no user pool"
                yield Need(workload.role, action, tuple(pools), why)
            elif service == "secretsmanager":
                # The secrets the environment names by ARN (the agent's client secret). A value ECS
                # injects is not in the environment, and no code reads it from Secrets Manager.
                for secret in secrets:
                    yield Need(workload.role, action, (secret,), why)
                    key = _encryption_key(walk, secret)
                    if key:
                        yield Need(workload.role, "kms:Decrypt", (key,), f"{why}: {secret} uses a CMK")
            elif service == "bedrock":
                model_id = workload.environment[settings.MODEL_ID]
                model = model_id.split(".", 1)[1] if model_id.split(".", 1)[0] in _GEOGRAPHIES else model_id
                region = walk.region
                if model != model_id:
                    profile = f"arn:aws:bedrock:{region}:{walk.account}:inference-profile/{model_id}"
                    yield Need(workload.role, action, (profile,), why)
                yield Need(
                    workload.role, action, (f"arn:aws:bedrock:{region}::foundation-model/{model}",), why
                )
            else:
                raise AssertionError(f"{why}: the walk has no resource rule for {action}; add one")


_GEOGRAPHIES = {"us", "eu", "apac", "jp", "au", "ca", "global", "us-gov"}


def platform_needs(walk: Walk, workload: Workload) -> Iterator[Need]:
    """What AWS does with the workload's roles: secrets, image pulls, logs."""
    resource = walk.synth.template(workload.stack)["Resources"][workload.resource]
    properties = resource["Properties"]
    if workload.execution_role:
        (container,) = properties["ContainerDefinitions"]
        for item in container.get("Secrets", []):
            (secret,) = walk.references(workload.stack, item["ValueFrom"])
            why = f"ECS reads {item['Name']} from {secret} for the {workload.deployable} task"
            yield Need(workload.execution_role, "secretsmanager:GetSecretValue", (secret,), why)
            key = _encryption_key(walk, secret)
            if key:
                yield Need(
                    workload.execution_role, "kms:Decrypt", (key,), f"{why}; it is encrypted with {key}"
                )
        yield from _pull(walk, workload.execution_role, workload.stack, container["Image"], "ECS")
        options = container["LogConfiguration"]["Options"]
        (group,) = walk.references(workload.stack, options["awslogs-group"])
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            yield Need(workload.execution_role, action, (group,), f"ECS writes the task's logs to {group}")
    if resource["Type"] == "AWS::Lambda::Function":
        logging = properties.get("LoggingConfig", {}).get("LogGroup")
        name = properties.get("FunctionName", workload.resource)
        group = (
            next(iter(walk.references(workload.stack, logging)))
            if logging
            else f"arn:aws:logs:{walk.region}:{walk.account}:log-group:/aws/lambda/{walk.text(workload.stack, name)}"
        )
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            yield Need(workload.role, action, (group,), f"Lambda writes {workload.entry}'s logs to {group}")
    if resource["Type"] == "AWS::BedrockAgentCore::Runtime":
        uri = properties["AgentRuntimeArtifact"]["ContainerConfiguration"]["ContainerUri"]
        yield from _pull(walk, workload.role, workload.stack, uri, "AgentCore Runtime")
        group = f"arn:aws:logs:{walk.region}:{walk.account}:log-group:/aws/bedrock-agentcore/runtimes/x"
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            yield Need(workload.role, action, (f"{group}:log-stream:y",), "AgentCore writes the agent's logs")


def _pull(walk: Walk, role: str, stack: str, image: Any, who: str) -> Iterator[Need]:
    (repository,) = walk.of_type(walk.references(stack, image), "AWS::ECR::Repository")
    yield Need(role, "ecr:GetAuthorizationToken", ("*",), f"{who} logs in to ECR")
    for action in ECR_PULL:
        yield Need(role, action, (repository,), f"{who} pulls the image from {repository}")


def _missing(walk: Walk, needs: Iterator[Need]) -> list[str]:
    missing = []
    for need in needs:
        statements = walk.role_statements(need.role)
        if not any(allows(statements, need.action, resource) for resource in need.resources):
            missing.append(f"{need.role} lacks {need.action} on {' or '.join(need.resources)}: {need.why}")
    return sorted(set(missing))


def test_the_code_of_each_deployable_is_found_calling_aws() -> None:
    entries = {"bridge": "bridge.handler", "bot": "bot.__main__", "agent": "agent.__main__"}
    actions = {name: {a for c in calls_of(entry) for a in c.actions} for name, entry in entries.items()}
    # A scan that finds nothing proves nothing: each deployable's known calls must show up.
    assert {"sts:AssumeRole", "dynamodb:GetItem", "dynamodb:UpdateItem", "s3:PutObject"} <= actions["bridge"]
    assert {"kms:Encrypt", "kms:Decrypt", "dynamodb:PutItem", "dynamodb:DeleteItem"} <= actions["bot"]
    assert "s3:GetObject" in actions["bot"]
    assert {"bedrock:InvokeModelWithResponseStream", "dynamodb:GetItem"} <= actions["agent"]


def test_every_dynamodb_call_is_traced_to_the_table_it_is_made_on() -> None:
    # Otherwise the walk could only say "some table", and a grant on the wrong table would pass.
    for entry in ("bridge.handler", "bot.__main__", "agent.__main__"):
        traced = {action for use in table_uses(module_closure(entry)) for action in use.actions}
        calls = {a for c in calls_of(entry) for a in c.actions if a.startswith("dynamodb:")}
        assert calls <= traced, f"{entry}: {calls - traced} made on no table the scan can name"
    bridge = {use.setting: set(use.actions) for use in table_uses(module_closure("bridge.handler"))}
    assert bridge[settings.AUDIT_TABLE] == {"dynamodb:BatchWriteItem"}
    assert bridge[settings.APPROVALS_TABLE] == {"dynamodb:GetItem", "dynamodb:UpdateItem"}


def test_every_workload_of_the_deployment_is_walked(walk: Walk) -> None:
    found = {(w.entry, w.stack) for w in workloads(walk)}
    bot = {("bot.__main__", "Bot")} if CONFIG.certificate_arn else set()
    assert {("bridge.handler", "Bridge"), ("agent.__main__", "Runtime"), *bot} <= found


def test_every_role_is_walked_or_excluded_with_a_reason(walk: Walk) -> None:
    walked = {w.role for w in workloads(walk)} | {
        w.execution_role for w in workloads(walk) if w.execution_role
    }
    walked |= {role for role, _ in _service_roles(walk)}
    for stack, logical_id, _ in walk.synth.all_resources("AWS::IAM::Role"):
        symbol = f"{stack}/{logical_id}"
        if symbol in walked:
            continue
        assert any(logical_id.startswith(name) for name in NOT_WALKED), f"{symbol} is not walked"


def test_every_call_of_the_code_is_allowed_for_its_role(walk: Walk) -> None:
    missing = [m for w in workloads(walk) for m in _missing(walk, code_needs(walk, w))]
    assert missing == []


def test_what_aws_does_with_each_workload_role_is_allowed(walk: Walk) -> None:
    missing = [m for w in workloads(walk) for m in _missing(walk, platform_needs(walk, w))]
    assert missing == []


def _service_roles(walk: Walk) -> Iterator[tuple[str, Need]]:
    """Roles AWS services assume for us: the Gateway (invokes its Lambda targets), flow logs."""
    for stack, _, target in walk.synth.all_resources("AWS::BedrockAgentCore::GatewayTarget"):
        lambda_arn = target["Properties"]["TargetConfiguration"]["Mcp"]["Lambda"]["LambdaArn"]
        (function,) = walk.references(stack, lambda_arn)
        for _, _, gateway in walk.synth.all_resources("AWS::BedrockAgentCore::Gateway"):
            (role,) = walk.references(stack, gateway["Properties"]["RoleArn"])
            yield role, Need(role, "lambda:InvokeFunction", (function,), "the Gateway invokes its target")
    for stack, _, flow_log in walk.synth.all_resources("AWS::EC2::FlowLog"):
        properties = flow_log["Properties"]
        (role,) = walk.references(stack, properties["DeliverLogsPermissionArn"])
        (group,) = walk.references(stack, properties["LogGroupName"])
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            yield role, Need(role, action, (group,), "VPC flow logs write to their log group")


def test_what_services_do_with_their_roles_is_allowed(walk: Walk) -> None:
    assert _missing(walk, (need for _, need in _service_roles(walk))) == []


def test_cloudwatch_logs_may_use_the_key_of_every_encrypted_log_group(walk: Walk) -> None:
    principal = f"logs.{walk.region}.amazonaws.com"
    checked = 0
    for stack, logical_id, _ in walk.synth.all_resources("AWS::Logs::LogGroup"):
        key = _encryption_key(walk, f"{stack}/{logical_id}")
        assert key, f"{stack}/{logical_id} is not encrypted with the CMK"
        statements = [
            s
            for s in walk.key_policy_statements(key)
            if principal in [walk.text(key.partition("/")[0], p) for p in _service_principals(s)]
        ]
        for action in ("kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"):
            assert allows(statements, action, "*"), f"{key} does not let CloudWatch Logs {action}"
        checked += 1
    assert checked >= 3


def _service_principals(statement: dict[str, Any]) -> list[Any]:
    principal = statement.get("Principal", {})
    service = principal.get("Service", []) if isinstance(principal, dict) else []
    return service if isinstance(service, list) else [service]


def test_the_scan_finds_calls_however_they_are_spelled_and_ignores_words(tmp_path: Path) -> None:
    source = tmp_path / "store.py"
    source.write_text(
        "import asyncio, boto3\n"
        "VERBS = ('scan', 'query')\n"  # CLI words in a tuple are not calls
        "class Store:\n"
        "    def __init__(self, factory):\n"
        "        self._kms = boto3.client(service_name='kms')\n"
        "        self._db = factory('dynamodb')\n"
        "    async def seal(self, op):\n"
        "        await asyncio.to_thread(getattr(self._kms, 'encrypt'), KeyId='k', Plaintext=b'x')\n"
        "        await asyncio.to_thread(self._kms.decrypt, CiphertextBlob=b'x')\n"
        "        self._db.batch_write_item(RequestItems={})\n"
        "        boto3.client('cognito-idp').initiate_auth(AuthFlow='REFRESH_TOKEN_AUTH')\n"
        "        return request.query\n"
    )
    calls = aws_calls([source])
    assert {a for c in calls for a in c.actions} == {"kms:Encrypt", "kms:Decrypt", "dynamodb:BatchWriteItem"}
    # InitiateAuth is unsigned, so it needs no IAM permission.
    assert all(c.service != "cognito-idp" for c in calls)
    where = {c.operation: c.where for c in calls}
    assert where["BatchWriteItem"].endswith("store.py:10")
