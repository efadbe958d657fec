"""Security properties of the synthesised CloudFormation: who may assume what, who may call what."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from centralops import settings
from infra import tables
from tests.fixtures.infra_cdk import (
    CENTRAL,
    CERTIFICATE_ARN,
    DOMAIN,
    MEMBERS,
    ORG_ID,
    Synthesized,
    arn_text,
    as_list,
    policy_statements,
    role_statements,
    synthesized,
)

SETTING_NAMES = {value for name, value in vars(settings).items() if name.isupper() and isinstance(value, str)}
IAM_POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::Role", "AWS::IAM::ManagedPolicy")
TLS_POLICIES = {
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
}


@pytest.fixture(scope="module")
def synth() -> Synthesized:
    return synthesized()


def _role_id(synth: Synthesized, stack: str, role_name: str) -> str:
    for logical_id, role in synth.resources(stack, "AWS::IAM::Role").items():
        if role["Properties"].get("RoleName") == role_name:
            return logical_id
    raise AssertionError(f"no role named {role_name} in {stack}")


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {action for statement in statements for action in as_list(statement["Action"])}


def _imports(value: Any) -> str:
    """The JSON text of a template value, to find which exports it references."""
    return json.dumps(value)


def test_every_assume_role_names_an_explicit_account_and_role(synth: Synthesized) -> None:
    found = []
    for policy_type in IAM_POLICY_TYPES:
        for stack, logical_id, resource in synth.all_resources(policy_type):
            for statement in policy_statements(resource):
                if "sts:AssumeRole" not in as_list(statement["Action"]):
                    continue
                for resource_arn in as_list(statement["Resource"]):
                    arn = arn_text(resource_arn)
                    found.append(arn)
                    assert isinstance(arn, str), f"{stack}/{logical_id}: computed AssumeRole resource {arn}"
                    assert "*" not in arn, f"{stack}/{logical_id} may assume {arn}"
                    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/CentralOps(Target|Write)Role", arn), arn
    assert found, "no sts:AssumeRole statement at all: the bridge could reach no account"


def test_bridge_may_assume_only_the_target_role_of_each_member_account(synth: Synthesized) -> None:
    statements = role_statements(synth, "Bridge", _role_id(synth, "Bridge", "centralops-bridge"))
    assume = [s for s in statements if any(a.startswith("sts:") for a in as_list(s["Action"]))]
    assert len(assume) == 1
    assert set(as_list(assume[0]["Action"])) == {"sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"}
    assert {arn_text(arn) for arn in assume[0]["Resource"]} == {
        f"arn:aws:iam::{m}:role/CentralOpsTargetRole" for m in MEMBERS
    }
    assert assume[0]["Condition"] == {"StringEquals": {"aws:ResourceOrgID": ORG_ID}}


def test_write_roles_and_read_write_tool_only_when_enabled(synth: Synthesized) -> None:
    actions = _actions(role_statements(synth, "Bridge", _role_id(synth, "Bridge", "centralops-bridge")))
    # The bridge signs AWS MCP Server requests only with a member role's credentials.
    assert not {action for action in actions if action.startswith("aws-mcp:")}
    target = synth.resources("MemberRoles", "AWS::IAM::Role")["TargetRole"]
    target_actions = _actions(list(policy_statements(target)))
    assert target_actions == {"aws-mcp:InvokeMcp", "aws-mcp:CallReadOnlyTool"}
    write = synth.resources("MemberRoles", "AWS::IAM::Role")["WriteRole"]
    assert write["Condition"] == "WriteEnabled"
    assert synth.template("MemberRoles")["Parameters"]["EnableWriteRole"]["Default"] == "false"


def test_member_role_trusts_only_the_bridge_role_with_external_id_and_org(synth: Synthesized) -> None:
    template = synth.template("MemberRoles")
    parameters = template["Parameters"]
    assert parameters["BridgeRoleArn"]["Default"] == f"arn:aws:iam::{CENTRAL}:role/centralops-bridge"
    assert parameters["OrgId"]["Default"] == ORG_ID
    assert parameters["ExternalId"]["NoEcho"] is True
    # NoEcho hides the value passed, not the default: the configured ExternalId must not be one.
    assert parameters["ExternalId"]["Default"] == ""
    assert "centralops-test-external-id" not in json.dumps(template)
    target = template["Resources"]["TargetRole"]["Properties"]
    assert target["RoleName"] == "CentralOpsTargetRole"
    assert target["ManagedPolicyArns"] == [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/ReadOnlyAccess"]]}
    ]
    statements = target["AssumeRolePolicyDocument"]["Statement"]
    assert {json.dumps(s["Principal"]) for s in statements} == {json.dumps({"AWS": {"Ref": "BridgeRoleArn"}})}
    assume = next(s for s in statements if s["Action"] == "sts:AssumeRole")
    with_external_id = assume["Condition"]["Fn::If"][1]["StringEquals"]
    assert with_external_id["sts:ExternalId"] == {"Ref": "ExternalId"}
    assert assume["Condition"]["Fn::If"][0] == "HasExternalId"
    session = next(s for s in statements if s is not assume)
    assert set(session["Action"]) == {"sts:SetSourceIdentity", "sts:TagSession"}
    # Ready for a StackSet: no bootstrap version parameter, no rule, no asset.
    assert "BootstrapVersion" not in parameters
    assert "Rules" not in template


def test_runtime_requires_a_cognito_jwt_for_its_own_audience_and_forwards_authorization(
    synth: Synthesized,
) -> None:
    (runtime,) = synth.resources("Runtime", "AWS::BedrockAgentCore::Runtime").values()
    properties = runtime["Properties"]
    jwt = properties["AuthorizerConfiguration"]["CustomJWTAuthorizer"]
    assert "RuntimeAudience" in _imports(jwt["AllowedAudience"])
    assert "BotClient" not in _imports(jwt["AllowedAudience"]), "a person's own ID token must not get in"
    assert "/.well-known/openid-configuration" in _imports(jwt["DiscoveryUrl"])
    assert "https://cognito-idp.eu-west-1.amazonaws.com/" in _imports(jwt["DiscoveryUrl"])
    assert properties["RequestHeaderConfiguration"]["RequestHeaderAllowlist"] == ["Authorization"]
    environment = properties["EnvironmentVariables"]
    assert "GatewayUrl" in _imports(environment[settings.GATEWAY_URL])
    assert set(environment) <= SETTING_NAMES


def test_gateway_requires_a_jwt_for_its_own_audience_and_serves_the_bridge_tool_schema(
    synth: Synthesized,
) -> None:
    (gateway,) = synth.resources("Gateway", "AWS::BedrockAgentCore::Gateway").values()
    properties = gateway["Properties"]
    assert properties["AuthorizerType"] == "CUSTOM_JWT"
    jwt = properties["AuthorizerConfiguration"]["CustomJWTAuthorizer"]
    assert "GatewayAudience" in _imports(jwt["AllowedAudience"])
    assert "RuntimeAudience" not in _imports(jwt["AllowedAudience"])
    assert "BotClient" not in _imports(jwt["AllowedAudience"])
    (target,) = synth.resources("Gateway", "AWS::BedrockAgentCore::GatewayTarget").values()
    assert target["Properties"]["Name"] == "bridge-lambda"
    payload = target["Properties"]["TargetConfiguration"]["Mcp"]["Lambda"]["ToolSchema"]["InlinePayload"]
    schema = json.loads((Path(__file__).parents[2] / "bridge" / "tool_schema.json").read_text())
    assert [tool["Name"] for tool in payload] == [tool["name"] for tool in schema]
    for tool, source in zip(payload, schema, strict=True):
        assert tool["InputSchema"]["Required"] == source["inputSchema"]["required"]
        assert set(tool["InputSchema"]["Properties"]) == set(source["inputSchema"]["properties"])


def test_tables_are_encrypted_with_the_cmk_recoverable_and_keyed_as_the_local_stack(
    synth: Synthesized,
) -> None:
    resources = synth.resources("Registry", "AWS::DynamoDB::Table")
    (key_id,) = synth.resources("Registry", "AWS::KMS::Key")
    assert synth.template("Registry")["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True
    by_name = {r["Properties"]["TableName"]: r["Properties"] for r in resources.values()}
    assert set(by_name) == {tables.table_name(spec) for spec in tables.ALL_TABLES}
    for spec in tables.ALL_TABLES:
        table = by_name[tables.table_name(spec)]
        assert table["KeySchema"] == [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
        assert table["SSESpecification"] == {
            "KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
            "SSEEnabled": True,
            "SSEType": "KMS",
        }
        assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        if spec.ttl_attribute:
            assert table["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
        if spec.index_name:
            (index,) = table["GlobalSecondaryIndexes"]
            assert index["IndexName"] == spec.index_name
            _, (expected,) = tables.index_definition(spec)
            assert index["KeySchema"] == expected["KeySchema"]
            assert index["Projection"] == {"ProjectionType": "ALL"}
    # The audit's open intents are listed from a sparse index (only intents carry its key).
    audit = by_name[tables.table_name(tables.AUDIT)]
    (pending,) = audit["GlobalSecondaryIndexes"]
    assert pending["KeySchema"] == [
        {"AttributeName": "pending_account", "KeyType": "HASH"},
        {"AttributeName": "time", "KeyType": "RANGE"},
    ]


def test_secrets_logs_images_and_results_are_encrypted_with_the_cmk(synth: Synthesized) -> None:
    secrets = list(synth.resources("Bot", "AWS::SecretsManager::Secret").values())
    assert len(secrets) == 2
    for secret in secrets:
        # No fixed name (a retried first deploy would collide with the failed one's), and removed
        # when the first creation rolls back.
        assert "Name" not in secret["Properties"]
        assert secret["DeletionPolicy"] == "RetainExceptOnCreate"
        assert "ExportsOutputFnGetAttKey" in _imports(secret["Properties"]["KmsKeyId"])
        # Created empty (the platform stays off), never with a literal value CloudFormation would rewrite.
        assert "SecretString" not in secret["Properties"]
        template = json.loads(secret["Properties"]["GenerateSecretString"]["SecretStringTemplate"])
        assert set(template.values()) == {""}
    for stack, logical_id, group in synth.all_resources("AWS::Logs::LogGroup"):
        assert "KmsKeyId" in group["Properties"], f"{stack}/{logical_id} is not encrypted with the CMK"
        assert group["DeletionPolicy"] == "RetainExceptOnCreate", f"{stack}/{logical_id} would block a retry"
    for _, _, repository in synth.all_resources("AWS::ECR::Repository"):
        assert repository["Properties"]["EncryptionConfiguration"]["EncryptionType"] == "KMS"
        assert repository["Properties"]["ImageTagMutability"] == "IMMUTABLE"
        assert repository["DeletionPolicy"] == "RetainExceptOnCreate", "a retried first deploy would collide"
    assert not synth.resources("Runtime", "AWS::S3::Bucket")  # conversation memory is a DynamoDB table
    (results,) = [
        b
        for logical_id, b in synth.resources("Registry", "AWS::S3::Bucket").items()
        if "Results" in logical_id
    ]
    (rule,) = results["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    (expiry,) = results["Properties"]["LifecycleConfiguration"]["Rules"]
    assert expiry["ExpirationInDays"] == 7


def test_load_balancer_serves_only_modern_tls_and_redirects_http(synth: Synthesized) -> None:
    listeners = synth.resources("Bot", "AWS::ElasticLoadBalancingV2::Listener").values()
    protocols = sorted(listener["Properties"]["Protocol"] for listener in listeners)
    assert protocols == ["HTTP", "HTTPS"]
    for listener in listeners:
        properties = listener["Properties"]
        if properties["Protocol"] == "HTTPS":
            assert properties["Port"] == 443
            assert properties["SslPolicy"] in TLS_POLICIES
            assert properties["Certificates"] == [{"CertificateArn": CERTIFICATE_ARN}]
        else:
            assert properties["DefaultActions"] == [
                {
                    "RedirectConfig": {"Port": "443", "Protocol": "HTTPS", "StatusCode": "HTTP_301"},
                    "Type": "redirect",
                }
            ]
    (balancer,) = synth.resources("Bot", "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    attributes = {a["Key"]: a["Value"] for a in balancer["Properties"]["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"


def test_bot_service_health_checks_and_scales(synth: Synthesized) -> None:
    (group,) = synth.resources("Bot", "AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert group["Properties"]["HealthCheckPath"] == "/health"
    assert group["Properties"]["HealthCheckPort"] == "3000"
    (target,) = synth.resources("Bot", "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert target["Properties"]["MinCapacity"] == 2
    assert target["Properties"]["MaxCapacity"] > 2
    assert len(synth.resources("Bot", "AWS::ApplicationAutoScaling::ScalingPolicy")) == 2
    (task,) = synth.resources("Bot", "AWS::ECS::TaskDefinition").values()
    (container,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == "bot"]
    assert container["PortMappings"][0]["ContainerPort"] == 3000
    environment = {item["Name"]: item["Value"] for item in container["Environment"]}
    secrets = {item["Name"] for item in container["Secrets"]}
    assert set(environment) | secrets <= SETTING_NAMES
    assert environment[settings.PUBLIC_URL] == f"https://{DOMAIN}"
    assert environment[settings.APPROVER_GROUP] == "ops-approvers"
    assert {settings.SLACK_BOT_TOKEN, settings.SLACK_SIGNING_SECRET, settings.TEAMS_APP_PASSWORD} <= secrets
    assert not set(environment) & secrets, "a secret must never also travel as plain environment"
    assert "%3A" in _imports(environment[settings.RUNTIME_URL]), "the Runtime ARN must be URL-quoted"


def test_no_role_in_the_deployment_has_a_wildcard_action(synth: Synthesized) -> None:
    for policy_type in IAM_POLICY_TYPES:
        for stack, logical_id, resource in synth.all_resources(policy_type):
            for statement in policy_statements(resource):
                if statement.get("Effect") != "Allow":
                    continue
                for action in as_list(statement["Action"]):
                    assert action != "*" and not action.endswith(":*"), f"{stack}/{logical_id}: {action}"


def test_bridge_role_reaches_only_its_three_tables_with_the_calls_it_makes(synth: Synthesized) -> None:
    statements = role_statements(synth, "Bridge", _role_id(synth, "Bridge", "centralops-bridge"))
    dynamodb = [s for s in statements if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    actions = _actions(dynamodb)
    assert actions == {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem",
        "dynamodb:BatchWriteItem",
    }
    resources = _imports([s["Resource"] for s in dynamodb])
    for name in ("Accounts", "Approvals", "Audit"):
        assert f"ExportsOutputFnGetAtt{name}" in resources
    for name in ("IdentityLinks", "OauthStates", "Idempotency"):
        assert f"ExportsOutputFnGetAtt{name}" not in resources
    services = {action.split(":")[0] for action in _actions(statements)}
    assert services == {"logs", "sts", "dynamodb", "kms", "xray", "s3"}
    s3 = [s for s in statements if any(a.startswith("s3:") for a in as_list(s["Action"]))]
    assert _actions(s3) == {"s3:PutObject"}  # full fan-out results, under results/ of the results bucket
    assert all("Results" in _imports(s["Resource"]) and "results/*" in json.dumps(s["Resource"]) for s in s3)


def test_bot_task_role_reaches_only_its_tables_and_the_key(synth: Synthesized) -> None:
    statements = role_statements(synth, "Bot", _role_id(synth, "Bot", "centralops-bot-task"))
    services = {action.split(":")[0] for action in _actions(statements)}
    sqs = [s for s in statements if any(a.startswith("sqs:") for a in as_list(s["Action"]))]
    assert all("CentralOps-Events" in str(s["Resource"]) for s in sqs), "only the alerts queues"
    s3 = [s for s in statements if any(a.startswith("s3:") for a in as_list(s["Action"]))]
    assert _actions(s3) == {"s3:GetObject"}  # only reads the full results it attaches to threads
    assert all("Results" in _imports(s["Resource"]) and "results/*" in json.dumps(s["Resource"]) for s in s3)
    # xray: the ADOT collector beside the bot; s3: full results; sqs: the alerts queues.
    assert services == {"dynamodb", "kms", "cognito-idp", "xray", "s3", "sqs"}
    xray = [s for s in statements if any(a.startswith("xray:") for a in as_list(s["Action"]))]
    assert {a for s in xray for a in as_list(s["Action"])} <= {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    }, "the collector writes traces and nothing else"
    dynamodb = [s for s in statements if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert "dynamodb:DeleteTable" not in _actions(dynamodb)
    assert "ExportsOutputFnGetAttAudit" not in _imports([s["Resource"] for s in dynamodb])
    # The outbox sweepers scan the sparse index of undelivered answers, granted on the index's ARN.
    index = [s for s in dynamodb if f"/index/{tables.OUTBOX.index_name}" in json.dumps(s["Resource"])]
    assert [as_list(s["Action"]) for s in index] == [["dynamodb:Scan"]]
    assert all("Outbox" in json.dumps(s["Resource"]) for s in index)


def test_agent_role_may_invoke_only_the_configured_model(synth: Synthesized) -> None:
    statements = role_statements(synth, "Runtime", _role_id(synth, "Runtime", "centralops-agent"))
    bedrock = [s for s in statements if any(a.startswith("bedrock:") for a in as_list(s["Action"]))]
    resources = [arn for s in bedrock for arn in as_list(s["Resource"])]
    assert resources and all("claude-sonnet-4-5" in _imports(arn) for arn in resources)
    assert "sts:AssumeRole" not in _actions(statements), "the agent must never reach member accounts itself"


def test_bridge_lambda_runs_the_handler_on_arm64_with_known_settings(synth: Synthesized) -> None:
    (function,) = synth.resources("Bridge", "AWS::Lambda::Function").values()
    properties = function["Properties"]
    assert properties["Handler"] == "bridge.handler.handler"
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["arm64"]
    assert "KmsKeyArn" in properties
    variables = properties["Environment"]["Variables"]
    assert set(variables) <= SETTING_NAMES
    assert variables[settings.TARGET_ROLE_NAME] == "CentralOpsTargetRole"
    assert variables[settings.EXTERNAL_ID] == "centralops-test-external-id"


def test_outputs_name_everything_the_next_step_needs(synth: Synthesized) -> None:
    expected = {
        "Cognito": {"UserPoolId", "UserPoolClientId", "UserPoolDomainUrl", "CallbackUrl"},
        "Images": {"AgentRepositoryUri", "BotRepositoryUri"},
        "Bridge": {"BridgeRoleArn", "BridgeFunctionName", "BridgeLogGroup"},
        "Gateway": {"GatewayUrl", "GatewayId"},
        "Runtime": {"RuntimeArn", "InvocationUrl"},
        "Bot": {
            "LoadBalancerDns",
            "SlackRequestUrl",
            "TeamsMessagingEndpoint",
            "SlackSecretArn",
            "TeamsSecretArn",
        },
        "MemberRoles": {"TargetRoleArn"},
        "Registry": {"AccountsTableName", "KmsKeyArn"},
    }
    for stack, outputs in expected.items():
        assert outputs <= set(synth.template(stack)["Outputs"]), stack
    callback = synth.template("Cognito")["Outputs"]["CallbackUrl"]["Value"]
    assert callback == f"https://{DOMAIN}/auth/callback"
    (client,) = [
        c
        for c in synth.resources("Cognito", "AWS::Cognito::UserPoolClient").values()
        if "CallbackURLs" in c["Properties"]
    ]
    assert client["Properties"]["CallbackURLs"] == [callback]
    assert client["Properties"]["AllowedOAuthFlows"] == ["code"]
    assert client["Properties"]["GenerateSecret"] is False
    groups = {
        g["Properties"]["GroupName"]
        for g in synth.resources("Cognito", "AWS::Cognito::UserPoolGroup").values()
    }
    assert groups == {"ops-approvers", "centralops-users"}


def test_people_sign_in_with_their_email_as_username_in_any_case(synth: Synthesized) -> None:
    (pool,) = synth.resources("Cognito", "AWS::Cognito::UserPool").values()
    properties = pool["Properties"]
    # `admin-create-user --username alice@example.com` needs email usernames, not an email alias.
    assert properties["UsernameAttributes"] == ["email"]
    assert "AliasAttributes" not in properties
    assert properties["UsernameConfiguration"] == {"CaseSensitive": False}
    assert properties["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True


def test_token_exchange_pool_audiences_and_service_clients(synth: Synthesized) -> None:
    (pool,) = synth.resources("Cognito", "AWS::Cognito::UserPool").values()
    assert pool["Properties"]["UserPoolTier"] == "ESSENTIALS"  # GetDerivedToken needs Essentials or Plus
    servers = {
        r["Properties"]["Identifier"]: r["Properties"]
        for r in synth.resources("Cognito", "AWS::Cognito::UserPoolResourceServer").values()
    }
    assert set(servers) == {"centralops-runtime", "centralops-gateway"}
    clients = {
        c["Properties"]["ClientName"]: c["Properties"]
        for c in synth.resources("Cognito", "AWS::Cognito::UserPoolClient").values()
    }
    assert "ExplicitAuthFlows" not in clients["centralops-bot"] or not any(
        "TOKEN_EXCHANGE" in f for f in clients["centralops-bot"]["ExplicitAuthFlows"]
    ), "the public sign-in client must not exchange tokens"
    for name, audience in (("centralops-bot-service", "runtime"), ("centralops-agent-service", "gateway")):
        client = clients[name]
        assert client["GenerateSecret"] is True
        assert client["ExplicitAuthFlows"] == ["ALLOW_TOKEN_EXCHANGE_DELEGATION", "ALLOW_REFRESH_TOKEN_AUTH"]
        assert client["AllowedOAuthFlows"] == ["client_credentials"]
        assert f"UserPool{audience.capitalize()}Audience" in _imports(client["AllowedOAuthScopes"])


@pytest.mark.parametrize(
    ("stack", "role_name"), [("Bot", "centralops-bot-task"), ("Runtime", "centralops-agent")]
)
def test_the_bot_and_the_agent_may_exchange_tokens_in_the_pool_only(
    synth: Synthesized, stack: str, role_name: str
) -> None:
    statements = role_statements(synth, stack, _role_id(synth, stack, role_name))
    cognito = [s for s in statements if any(a.startswith("cognito-idp:") for a in as_list(s["Action"]))]
    # Not DescribeUserPoolClient: it cannot be limited to one client, so it would reveal every secret.
    assert _actions(cognito) == {"cognito-idp:GetDerivedToken"}
    assert all("UserPool" in _imports(s["Resource"]) and "*" not in as_list(s["Resource"]) for s in cognito)


def test_each_service_reads_its_own_client_secret_and_no_other(synth: Synthesized) -> None:
    secrets = synth.resources("Cognito", "AWS::SecretsManager::Secret")
    assert {logical_id.rstrip("0123456789ABCDEF") for logical_id in secrets} == {
        "BotServiceSecret",
        "AgentServiceSecret",
    }
    for logical_id, secret in secrets.items():
        # The value is the client's, resolved by CloudFormation: never written in the template.
        client = "BotServiceClient" if logical_id.startswith("Bot") else "AgentServiceClient"
        (attribute,) = secret["Properties"]["SecretString"]["Fn::GetAtt"][1:]
        assert secret["Properties"]["SecretString"]["Fn::GetAtt"][0].startswith(f"UserPool{client}")
        assert attribute == "ClientSecret"
        assert "ExportsOutputFnGetAttKey" in _imports(secret["Properties"]["KmsKeyId"])
    readers: dict[str, set[str]] = {}
    for stack in ("Bot", "Runtime"):
        for role_id in synth.resources(stack, "AWS::IAM::Role"):
            for statement in role_statements(synth, stack, role_id):
                if any(a.startswith("secretsmanager:") for a in as_list(statement["Action"])):
                    for name in ("BotServiceSecret", "AgentServiceSecret"):
                        if name in _imports(statement["Resource"]):
                            readers.setdefault(name, set()).add(f"{stack}/{role_id}")
    agent_role = f"Runtime/{_role_id(synth, 'Runtime', 'centralops-agent')}"
    assert readers["AgentServiceSecret"] == {agent_role}
    # ECS reads the bot's with the task's execution role and hands it to the container only.
    (bot_reader,) = readers["BotServiceSecret"]
    assert bot_reader.startswith("Bot/ServiceTaskDefExecutionRole")


def test_the_bot_and_the_agent_are_configured_for_their_hops(synth: Synthesized) -> None:
    (runtime,) = synth.resources("Runtime", "AWS::BedrockAgentCore::Runtime").values()
    agent_env = runtime["Properties"]["EnvironmentVariables"]
    assert "RuntimeAudience" in _imports(agent_env[settings.RUNTIME_AUDIENCE])
    assert "GatewayAudience" in _imports(agent_env[settings.GATEWAY_AUDIENCE])
    assert "AgentServiceClient" in _imports(agent_env[settings.AGENT_CLIENT_ID])
    assert "BotServiceClient" in _imports(agent_env[settings.BOT_CLIENT_ID])
    assert settings.AGENT_CLIENT_SECRET not in agent_env, "the agent reads its secret from Secrets Manager"
    assert "AgentServiceSecret" in _imports(agent_env[settings.AGENT_CLIENT_SECRET_ARN])
    (task,) = synth.resources("Bot", "AWS::ECS::TaskDefinition").values()
    (container,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == "bot"]
    bot_env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert "RuntimeAudience" in _imports(bot_env[settings.RUNTIME_AUDIENCE])
    assert "BotServiceClient" in _imports(bot_env[settings.BOT_CLIENT_ID])
    assert settings.BOT_CLIENT_SECRET not in bot_env
    injected = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
    assert "BotServiceSecret" in _imports(injected[settings.BOT_CLIENT_SECRET])


def test_access_tokens_carry_the_email_through_a_v2_pre_token_trigger(synth: Synthesized) -> None:
    (pool,) = synth.resources("Cognito", "AWS::Cognito::UserPool").values()
    config = pool["Properties"]["LambdaConfig"]["PreTokenGenerationConfig"]
    assert config["LambdaVersion"] == "V2_0"
    (function_id,) = synth.resources("Cognito", "AWS::Lambda::Function")
    assert function_id in _imports(config["LambdaArn"])


def test_gateway_runs_the_interceptor_on_every_request_with_headers(synth: Synthesized) -> None:
    (gateway,) = synth.resources("Gateway", "AWS::BedrockAgentCore::Gateway").values()
    (interceptor_id,) = [
        logical_id
        for logical_id, function in synth.resources("Gateway", "AWS::Lambda::Function").items()
        if function["Properties"]["Handler"] == "bridge.interceptor.handler"
    ]
    (configuration,) = gateway["Properties"]["InterceptorConfigurations"]
    assert configuration["InterceptionPoints"] == ["REQUEST"]
    assert configuration["InputConfiguration"]["PassRequestHeaders"] is True
    assert configuration["Interceptor"]["Lambda"]["Arn"] == {"Fn::GetAtt": [interceptor_id, "Arn"]}


def test_interceptor_verifies_against_the_gateways_pool_and_audience(synth: Synthesized) -> None:
    (gateway,) = synth.resources("Gateway", "AWS::BedrockAgentCore::Gateway").values()
    audience = gateway["Properties"]["AuthorizerConfiguration"]["CustomJWTAuthorizer"]["AllowedAudience"]
    (function,) = [
        f
        for f in synth.resources("Gateway", "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "bridge.interceptor.handler"
    ]
    properties = function["Properties"]
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["arm64"]
    assert "KmsKeyArn" in properties
    variables = properties["Environment"]["Variables"]
    assert set(variables) <= SETTING_NAMES
    assert [variables[settings.GATEWAY_AUDIENCE]] == audience
    assert "AgentServiceClient" in _imports(variables[settings.GATEWAY_REQUIRED_ACTOR]), (
        "act must name the agent"
    )
    assert "ExportsOutputRefUserPool" in _imports(variables[settings.COGNITO_USER_POOL_ID])
    assert "cognito-idp.eu-west-1.amazonaws.com" in _imports(variables[settings.COGNITO_ISSUER])


def test_interceptor_role_may_only_write_logs_and_read_its_environment(synth: Synthesized) -> None:
    template = synth.template("Gateway")
    (function,) = [
        f
        for f in synth.resources("Gateway", "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "bridge.interceptor.handler"
    ]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in synth.resources("Gateway", "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert _actions(statements) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "kms:Decrypt",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    }
    assert not template["Resources"][role_id]["Properties"].get("ManagedPolicyArns")
