"""Secrets are redacted before a result leaves the bridge; big results are cut with a marker."""

import json

from bridge.config import BridgeConfig
from bridge.redact import REDACTED, cap, redact, redact_text
from tests.bridge.conftest import STAGING, Org, event
from tests.fixtures.bridge_stack import member

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SESSION_KEY = "ASIAY34FZKBOKMUTVV7A"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6" + "A" * 120
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----"
)


def test_known_fields_are_redacted_wherever_they_are() -> None:
    create_access_key = {
        "AccessKey": {
            "UserName": "deploy",
            "AccessKeyId": ACCESS_KEY,
            "Status": "Active",
            "SecretAccessKey": SECRET_KEY,
        }
    }
    out = redact(create_access_key)
    assert out["AccessKey"]["SecretAccessKey"] == REDACTED
    assert out["AccessKey"]["AccessKeyId"] == "[REDACTED ACCESS KEY ID]"
    assert out["AccessKey"]["UserName"] == "deploy"
    creds = redact(
        {"Credentials": {"AccessKeyId": SESSION_KEY, "SessionToken": SESSION_TOKEN, "Expiration": "x"}}
    )
    assert creds["Credentials"]["SessionToken"] == REDACTED
    assert SESSION_KEY not in json.dumps(creds)
    rds = redact({"DBInstances": [{"MasterUsername": "admin", "MasterUserPassword": "hunter2!"}]})
    assert rds["DBInstances"][0] == {"MasterUsername": "admin", "MasterUserPassword": REDACTED}
    env = redact({"Environment": {"Variables": {"DB_PASSWORD": "s3cr3t", "LOG_LEVEL": "info"}}})
    assert env["Environment"]["Variables"] == {"DB_PASSWORD": REDACTED, "LOG_LEVEL": "info"}
    assert redact({"NextToken": "abc", "KeyMaterial": PEM})["NextToken"] == "abc"


def test_secret_shapes_in_free_text_are_redacted() -> None:
    text = (
        f"export AWS_ACCESS_KEY_ID={ACCESS_KEY}\n"
        f"aws_secret_access_key = {SECRET_KEY}\n"
        f"aws_session_token={SESSION_TOKEN}\n"
        f"db password: hunter2 and url postgres://x\n{PEM}\nend"
    )
    out = redact_text(text)
    for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, "hunter2", "MIIEowIBAAKCAQEA"):
        assert secret not in out
    assert "[REDACTED PRIVATE KEY]" in out and out.endswith("end")
    assert redact_text("i-0123456789abcdef0 running") == "i-0123456789abcdef0 running"


def test_cap_marks_truncation_explicitly() -> None:
    value, cut = cap({"Items": list(range(1000))}, 100)
    assert cut is True and value.endswith("characters shown; narrow the command]")
    assert cap({"a": 1}, 100) == ({"a": 1}, False)


async def test_secrets_in_a_real_result_never_leave_the_bridge(
    make_bridge, config: BridgeConfig, requester: str, org: Org
) -> None:
    ssm = member(org.moto_url, STAGING, "ssm")
    ssm.put_parameter(Name="/app/deploy-key", Value=PEM, Type="String")
    ssm.put_parameter(
        Name="/app/bootstrap", Value=f"key={ACCESS_KEY} secret_access_key={SECRET_KEY}", Type="String"
    )
    bridge = make_bridge(config)
    key = await bridge.query(event("aws ssm get-parameter --name /app/deploy-key", STAGING, requester))
    boot = await bridge.query(event("aws ssm get-parameter --name /app/bootstrap", STAGING, requester))
    assert key["ok"] and boot["ok"]
    assert key["result"]["Parameter"]["Value"] == "[REDACTED PRIVATE KEY]"
    dumped = json.dumps([key, boot])
    for secret in (ACCESS_KEY, SECRET_KEY, "MIIEowIBAAKCAQEA"):
        assert secret not in dumped
    assert key["result"]["Parameter"]["Name"] == "/app/deploy-key"


def test_secret_option_values_are_removed_from_echoed_commands() -> None:
    from bridge.redact import redact_command

    assert redact_command("aws iam create-login-profile --user-name bob --password Hunter2!") == (
        "aws iam create-login-profile --user-name bob --password [REDACTED]"
    )
    assert redact_command(
        "aws rds modify-db-instance --master-user-password 'p w' --db-instance-identifier d"
    ) == ("aws rds modify-db-instance --master-user-password [REDACTED] --db-instance-identifier d")
    assert redact_command(f"aws configure set aws_secret_access_key {SECRET_KEY}").endswith(REDACTED)
    unchanged = "aws secretsmanager describe-secret --secret-id prod/db --starting-token abc"
    assert redact_command(unchanged) == unchanged
    assert len(redact_command("aws s3 ls " + "x" * 5000)) < 600


async def test_a_refused_command_with_a_password_is_audited_without_it(
    make_bridge, config: BridgeConfig, requester: str, org: Org
) -> None:
    from tests.fixtures.bridge_stack import audit_records

    command = "aws iam create-login-profile --user-name bob --password Hunter2!"
    out = await make_bridge(config).query(event(command, STAGING, requester))
    assert out["error"]["code"] == "denied_operation"
    [record] = audit_records(org.moto_url, org.tables, requester)
    assert "Hunter2!" not in json.dumps(out) and "Hunter2!" not in json.dumps(record)
    assert record["command"].endswith("--password [REDACTED]")


JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhYmMxMjMiLCJleHAiOjE3MDB9.c2lnbmF0dXJlLWJ5dGVz"


def test_secret_looking_names_are_redacted_in_any_case_and_separator() -> None:
    names = [
        "DB_PASSWORD",
        "db-password",
        "dbPassword",
        "API_KEY",
        "apiKey",
        "x-api-key",
        "PRIVATE_KEY",
        "GoogleCredentials",
        "client_secret",
        "SLACK_TOKEN",
        "githubToken",
        "Passphrase",
        "pwd",
    ]
    out = redact({"Variables": {n: "value-1" for n in names}})
    assert set(out["Variables"].values()) == {REDACTED}
    kept = [
        "NextToken",
        "next_token",
        "ClientToken",
        "ContinuationToken",
        "SecretArn",
        "TokenType",
        "PasswordLastUsed",
        "MinimumPasswordLength",
        "KeyName",
        "SecretId",
        "TokenEndpoint",
        "Name",
    ]
    out = redact({n: "value-1" for n in kept})
    assert set(out.values()) == {"value-1"}


def test_name_value_entries_are_redacted_by_their_name() -> None:
    ecs = {"environment": [{"name": "STRIPE_SECRET", "value": "v1"}, {"name": "PORT", "value": "80"}]}
    assert redact(ecs)["environment"] == [
        {"name": "STRIPE_SECRET", "value": REDACTED},
        {"name": "PORT", "value": "80"},
    ]
    tags = [{"Key": "Name", "Value": "web"}, {"Key": "db_password", "Value": "x"}]
    assert redact(tags) == [{"Key": "Name", "Value": "web"}, {"Key": "db_password", "Value": REDACTED}]
    cfn = {"Parameters": [{"ParameterKey": "DbPassword", "ParameterValue": "p"}]}
    assert redact(cfn)["Parameters"][0]["ParameterValue"] == REDACTED
    ssm = {"Parameter": {"Name": "/app/db/password", "Value": "hunter2", "Type": "String"}}
    assert redact(ssm)["Parameter"] == {"Name": "/app/db/password", "Value": REDACTED, "Type": "String"}


def test_values_are_redacted_wherever_they_stand() -> None:
    value = {
        "Url": "postgres://admin:hunter2@db.example:5432/app",
        "Note": f"session {SESSION_TOKEN} and {JWT}",
        "Header": "Authorization: Bearer abcdefghijklmnop",
        "Code": {"Location": "https://b.s3.amazonaws.com/f.zip?X-Amz-Algorithm=AWS4&X-Amz-Signature=abcdef"},
        "Misc": "ghp_" + "a" * 36 + " xoxb-1234567890-abcdef sk_live_" + "b" * 24 + " AIza" + "c" * 35,
    }
    dumped = json.dumps(redact(value))
    for secret in (
        "hunter2",
        SESSION_TOKEN[:30],
        JWT[:20],
        "abcdefghijklmnop",
        "X-Amz-Signature",
        "ghp_a",
        "xoxb-",
        "sk_live_",
        "AIzac",
    ):
        assert secret not in dumped, secret
    assert "db.example:5432/app" in dumped and "https://b.s3.amazonaws.com/f.zip" in dumped


def test_ids_arns_and_pagination_tokens_are_left_alone() -> None:
    value = {
        "NextToken": "eyJuZXh0IjoxfQ==",
        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db_password-AbCdEf",
        "InstanceId": "i-0123456789abcdef0",
        "ETag": "d41d8cd98f00b204e9800998ecf8427ed41d8cd9",
        "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "MaxTokens": 100,
        "PasswordResetRequired": True,
    }
    assert redact(value) == value


def test_text_and_table_output_are_redacted_like_json() -> None:
    text = (
        f"ACCESSKEY\t{ACCESS_KEY}\t2020-01-01T00:00:00Z\t{SECRET_KEY}\tActive\tbob\n"
        "VARIABLES\tDB_PASSWORD\ts3cr3t\n"
        "SECRETARN\tarn:aws:secretsmanager:us-east-1:1:secret:prod/db_password-AbCd\n"
    )
    out = redact_text(text)
    assert ACCESS_KEY not in out and SECRET_KEY not in out and "s3cr3t" not in out
    assert "prod/db_password-AbCd" in out and "bob" in out
    table = (
        "-------------------------------\n"
        "|      GetFunctionConfiguration |\n"
        "+--------------+--------------+\n"
        "|  API_KEY     |  k-123456    |\n"
        "|  LOG_LEVEL   |  info        |\n"
        f"||  SecretAccessKey |  {SECRET_KEY}  ||\n"
    )
    out = redact_text(table)
    assert "k-123456" not in out and SECRET_KEY not in out and "info" in out
    assert redact_text("export API_KEY=abc123 NextToken=keep") == f"export API_KEY={REDACTED} NextToken=keep"
