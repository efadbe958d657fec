"""The tables that decide what a parsed command is: read-only, mutating, denied or unsupported.

These tables are the policy; ``docs/bridge.md`` reproduces them for people.
"""

# Operation-name prefixes of read-only operations (``describe-instances``, ``list-buckets``...).
READ_PREFIXES: tuple[str, ...] = (
    "describe-",
    "list-",
    "get-",
    "head-",
    "search-",
    "lookup-",
    "batch-get-",
    "batch-describe-",
    "check-",
    "preview-",
    "estimate-",
    "simulate-",
    "validate-",
)

# Exceptions to the prefix rule, by (service, operation).
READ_OPERATIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("s3", "ls"),
        ("dynamodb", "scan"),
        ("dynamodb", "query"),
        ("logs", "filter-log-events"),
        ("logs", "tail"),
        ("sts", "decode-authorization-message"),
        ("cloudtrail", "lookup-events"),
        ("ec2", "search-transit-gateway-routes"),
    }
)
MUTATING_OPERATIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("s3", "cp"),
        ("s3", "mv"),
        ("s3", "rm"),
        ("s3", "sync"),
        ("s3", "mb"),
        ("s3", "rb"),
        ("s3", "website"),
        # Named like reads, but they change state or start paid work.
        ("sqs", "receive-message"),
        ("iam", "generate-credential-report"),
        ("iam", "generate-service-last-accessed-details"),
    }
)

# Credential and secret readers: refused always, whatever approval the call carries.
DENIED_OPERATIONS: dict[tuple[str, str], str] = {
    ("iam", "create-access-key"): "creates long-lived access keys",
    ("iam", "create-login-profile"): "sets a console password",
    ("iam", "update-login-profile"): "sets a console password",
    ("iam", "create-service-specific-credential"): "creates a service password",
    ("iam", "reset-service-specific-credential"): "returns a service password",
    ("sts", "get-session-token"): "issues temporary credentials",
    ("sts", "get-federation-token"): "issues temporary credentials",
    ("sts", "assume-role"): "issues credentials for another role",
    ("sts", "assume-role-with-saml"): "issues credentials for another role",
    ("sts", "assume-role-with-web-identity"): "issues credentials for another role",
    ("sts", "assume-root"): "issues root credentials",
    ("sso", "get-role-credentials"): "issues temporary credentials",
    ("cognito-identity", "get-credentials-for-identity"): "issues temporary credentials",
    ("cognito-identity", "get-open-id-token"): "issues identity tokens",
    ("secretsmanager", "get-secret-value"): "reads a secret",
    ("secretsmanager", "batch-get-secret-value"): "reads secrets",
    ("kms", "decrypt"): "returns plaintext",
    ("kms", "generate-data-key"): "returns a plaintext data key",
    ("kms", "generate-data-key-pair"): "returns a plaintext private key",
    ("kms", "generate-random"): "produces key material",
    ("ec2", "get-password-data"): "reads a Windows administrator password",
    ("ec2", "create-key-pair"): "returns a private key",
    ("lightsail", "get-instance-access-details"): "returns login credentials",
    ("lightsail", "download-default-key-pair"): "returns a private key",
    ("ecr", "get-login-password"): "returns a registry password",
    ("ecr", "get-authorization-token"): "returns a registry token",
    ("ecr-public", "get-login-password"): "returns a registry password",
    ("ecr-public", "get-authorization-token"): "returns a registry token",
    ("codeartifact", "get-authorization-token"): "returns a repository token",
    ("eks", "get-token"): "returns a cluster token",
    ("rds", "generate-db-auth-token"): "returns a database token",
    ("redshift", "get-cluster-credentials"): "returns database credentials",
    ("redshift", "get-cluster-credentials-with-iam"): "returns database credentials",
    ("redshift-serverless", "get-credentials"): "returns database credentials",
    ("s3", "presign"): "creates a URL that carries the bridge's credentials",
    ("ec2-instance-connect", "send-ssh-public-key"): "grants shell access",
    ("ec2-instance-connect", "send-serial-console-ssh-public-key"): "grants console access",
    ("iot", "create-keys-and-certificate"): "returns a private key",
    ("acm", "export-certificate"): "returns a private key",
}

# Secret readers that are fine unless asked to decrypt: (service, operation) -> the option that denies.
DENIED_WITH_OPTION: dict[tuple[str, str], str] = {
    ("ssm", "get-parameter"): "--with-decryption",
    ("ssm", "get-parameters"): "--with-decryption",
    ("ssm", "get-parameters-by-path"): "--with-decryption",
    ("ssm", "get-parameter-history"): "--with-decryption",
}

# Commands that cannot run behind a chat: interactive, local files, local configuration.
UNSUPPORTED_SERVICES: dict[str, str] = {
    "configure": "changes the CLI's local configuration",
    "history": "reads the CLI's local history",
    "cli-dev": "is a CLI developer tool",
    "sso": "logs the CLI in on this machine",
    "login": "logs the CLI in on this machine",
    "logout": "logs the CLI out on this machine",
    "help": "opens interactive help",
}
UNSUPPORTED_OPERATIONS: dict[tuple[str, str], str] = {
    ("ssm", "start-session"): "opens an interactive session",
    ("ecs", "execute-command"): "opens an interactive session",
    ("ec2-instance-connect", "ssh"): "opens an interactive session",
    ("ec2-instance-connect", "open-tunnel"): "opens a tunnel",
    ("emr", "ssh"): "opens an interactive session",
    ("emr", "socks"): "opens a tunnel",
    ("emr", "get"): "writes a local file",
    ("emr", "put"): "reads a local file",
    ("cloudformation", "package"): "reads local files",
    ("cloudformation", "deploy"): "reads a local template file",
    ("deploy", "push"): "reads local files",
    ("s3api", "get-object"): "writes the object to a file on the server",
    ("s3api", "get-object-torrent"): "writes the torrent to a file on the server",
    ("lambda", "invoke"): "writes the response to a file on the server",
    ("s3api", "select-object-content"): "writes the result to a file on the server",
}

# Global options never allowed (each also refused when abbreviated, as the CLI accepts prefixes).
FORBIDDEN_OPTIONS: dict[str, tuple[str, str]] = {
    "--profile": ("profile_not_allowed", "The bridge chooses the credentials; remove --profile."),
    "--debug": ("debug_not_allowed", "--debug prints request signatures; remove it."),
    "--no-verify-ssl": ("tls_override_not_allowed", "Certificate checks cannot be turned off; remove it."),
    "--ca-bundle": ("tls_override_not_allowed", "The certificate bundle is fixed; remove --ca-bundle."),
    "--no-sign-request": ("option_not_allowed", "Requests are always signed; remove --no-sign-request."),
    "--cli-auto-prompt": ("option_not_allowed", "Interactive prompts cannot run here; remove it."),
}

# Global options and whether they take a value, to find the service and operation.
GLOBAL_OPTIONS_WITH_VALUE = frozenset(
    {
        "--region",
        "--output",
        "--query",
        "--endpoint-url",
        "--profile",
        "--color",
        "--ca-bundle",
        "--cli-read-timeout",
        "--cli-connect-timeout",
        "--cli-binary-format",
    }
)


def classify(service: str, operation: str) -> str:
    """``"read"`` or ``"mutating"`` for an operation that is neither denied nor unsupported."""
    if (service, operation) in READ_OPERATIONS:
        return "read"
    if (service, operation) in MUTATING_OPERATIONS:
        return "mutating"
    return "read" if operation.startswith(READ_PREFIXES) else "mutating"
