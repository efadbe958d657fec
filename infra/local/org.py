"""The organisation the local stack seeds: accounts, their resources, people.

One description, read by the seeder, the demo and the tests, so an assertion
such as "the thread lists staging's buckets and none of production's" is made
against the same data that was created.
"""

from dataclasses import dataclass, field

REGION = "us-east-1"
CENTRAL_ACCOUNT_ID = "123456789012"
SLACK_TEAM_ID = "T0CENTRAL"
TEAMS_TENANT_ID = "00000000-0000-4000-8000-00000000c0de"
APPROVER_GROUP = "centralops-approvers"
OPERATOR_GROUP = "centralops-operators"
RUNTIME_AUDIENCE = "centralops-runtime"  # resource server of the agent's hop (aud of Runtime tokens)
GATEWAY_AUDIENCE = "centralops-gateway"  # resource server of the Gateway's hop (aud of Gateway tokens)
RESULTS_BUCKET = "centralops-results"  # full fan-out results (bridge writes, bot attaches)
RESULTS_EXPIRY_DAYS = 7


@dataclass(frozen=True)
class Account:
    """A member account and what lives in it."""

    account_id: str
    name: str
    environment: str
    aliases: tuple[str, ...]
    buckets: tuple[str, ...]
    functions: tuple[str, ...]
    instances: int
    allowed_groups: tuple[str, ...] = ()
    write_role_name: str | None = None
    enabled: bool = True
    stopped: int = 0  # how many of the instances are stopped
    public_buckets: tuple[str, ...] = ()  # buckets with a public bucket policy and no public access block
    alarms: tuple[tuple[str, str], ...] = ()  # (alarm name, state)
    log_lines: tuple[tuple[str, str], ...] = ()  # (function, log message) in /aws/lambda/<function>
    regions: tuple[str, ...] = ()  # the registry's list of the account's regions (empty: not limited)
    regional_functions: tuple[tuple[str, str], ...] = ()  # (region, function) outside REGION
    payer: bool = False  # the organisation's management (payer) account: Cost Explorer runs there


@dataclass(frozen=True)
class Person:
    """A demo user: a Cognito identity and, when linked, a Slack user."""

    username: str
    email: str
    password: str
    groups: tuple[str, ...]
    slack_user_id: str
    slack_name: str
    linked: bool = True
    teams_aad_id: str | None = None
    email_verified: bool = True


ACCOUNTS: tuple[Account, ...] = (
    Account(
        "222222222222",
        "staging",
        "staging",
        ("stage", "stg", "shop"),
        buckets=("acme-staging-assets", "acme-staging-logs", "acme-staging-uploads"),
        functions=("staging-api", "staging-worker"),
        instances=2,
        write_role_name="CentralOpsWriteRole",
        stopped=1,
        regions=("us-east-1", "eu-west-1"),
        regional_functions=(("eu-west-1", "staging-eu-api"),),
        public_buckets=("acme-staging-uploads",),
        alarms=(("staging-5xx", "ALARM"), ("staging-latency", "OK")),
        log_lines=(
            ("staging-api", "INFO request served in 12 ms"),
            ("staging-api", "ERROR upstream timeout calling payments"),
            ("staging-api", "ERROR database connection refused"),
            ("staging-worker", "INFO job done"),
        ),
    ),
    Account(
        "333333333333",
        "production",
        "production",
        ("prod", "prd", "shop"),
        buckets=("acme-prod-assets", "acme-prod-logs", "acme-prod-backups", "acme-prod-data-lake"),
        functions=("prod-api", "prod-worker", "prod-billing", "prod-reports", "prod-notifier"),
        instances=3,
        allowed_groups=(OPERATOR_GROUP,),
        write_role_name="CentralOpsWriteRole",
        alarms=(("production-5xx", "OK"), ("production-errors", "ALARM"), ("production-latency", "OK")),
        regions=("us-east-1", "eu-west-1", "us-west-2"),
        regional_functions=(("eu-west-1", "prod-eu-api"), ("us-west-2", "prod-dr-api")),
        log_lines=(
            ("prod-api", "ERROR card declined by processor"),
            ("prod-api", "INFO request served in 9 ms"),
        ),
    ),
    Account(
        "444444444444",
        "development",
        "development",
        ("dev",),
        buckets=("acme-dev-sandbox",),
        functions=("dev-playground",),
        instances=1,
    ),
    Account(
        "555555555555",
        "legacy",
        "production",
        ("old-prod",),
        buckets=("acme-legacy-archive",),
        functions=(),
        instances=0,
        enabled=False,
    ),
)

# The central account is also the organisation's payer: registered for Cost Explorer only
# ("all accounts" leaves it out), and only operators may query it.
MANAGEMENT = Account(
    CENTRAL_ACCOUNT_ID,
    "management",
    "management",
    ("payer", "billing"),
    buckets=(),
    functions=(),
    instances=0,
    allowed_groups=(OPERATOR_GROUP,),
    payer=True,
)
# What the local Cost Explorer answers (moto serves queued results and ignores the filter): one
# month of costs per service, in USD.
SERVICE_COSTS: tuple[tuple[str, str], ...] = (
    ("Amazon Elastic Compute Cloud - Compute", "412.37"),
    ("Amazon Simple Storage Service", "86.12"),
    ("AWS Lambda", "23.90"),
    ("Amazon CloudWatch", "14.55"),
    ("Amazon DynamoDB", "9.08"),
)

# Tag ``team`` of seeded resources (buckets, functions; ``<account>-app`` for an account's instances).
TEAM_TAGS: dict[str, str] = {
    "acme-staging-uploads": "payments",
    "acme-prod-backups": "payments",
    "prod-billing": "payments",
    "staging-api": "payments",
    "production-app": "payments",
}

PEOPLE: tuple[Person, ...] = (
    Person(
        "alice@example.com",
        "alice@example.com",
        "Demo-Passw0rd!alice",
        groups=(OPERATOR_GROUP,),
        slack_user_id="U0ALICE",
        slack_name="alice",
        teams_aad_id="aad-alice-0001",
    ),
    Person(
        "bob@example.com",
        "bob@example.com",
        "Demo-Passw0rd!bob",
        groups=(OPERATOR_GROUP, APPROVER_GROUP),
        slack_user_id="U0BOB",
        slack_name="bob",
        teams_aad_id="aad-bob-0002",
    ),
    Person(
        "carol@example.com",
        "carol@example.com",
        "Demo-Passw0rd!carol",
        groups=(),
        slack_user_id="U0CAROL",
        slack_name="carol",
        linked=False,
        teams_aad_id="aad-carol-0003",
    ),
    Person(
        "dave@example.com",
        "dave@example.com",
        "Demo-Passw0rd!dave",
        groups=(),
        slack_user_id="U0DAVE",
        slack_name="dave",
    ),
    # Signed up but never confirmed her address: CentralOps knows her by her Cognito username only.
    Person(
        "erin@example.com",
        "erin@example.com",
        "Demo-Passw0rd!erin",
        groups=(),
        slack_user_id="U0ERIN",
        slack_name="erin",
        linked=False,
        email_verified=False,
    ),
)


def account(name: str) -> Account:
    """The seeded account with this name."""
    return next(a for a in ACCOUNTS if a.name == name)


def person(name: str) -> Person:
    """The demo person with this Slack name."""
    return next(p for p in PEOPLE if p.slack_name == name)


@dataclass
class StackInfo:
    """What a started local stack tells its clients (written to ``.local/stack.json``)."""

    moto_url: str
    aws_mcp_url: str
    gateway_url: str
    runtime_url: str
    slack_api_url: str
    bot_url: str
    teams_connector_url: str
    user_pool_id: str
    client_id: str
    kms_key_id: str
    slack_signing_secret: str
    slack_bot_token: str
    tables: dict[str, str] = field(default_factory=dict)
    hosted_ui_url: str = ""
    bot_client_id: str = ""  # the bot's confidential client: exchanges for the Runtime, acts as the bot
    agent_client_id: str = ""  # the agent's confidential client: exchanges for the Gateway, acts as the agent
    bot_client_secret_arn: str = ""  # each service reads only its own client secret (Secrets Manager)
    agent_client_secret_arn: str = ""
    root: str = ""
