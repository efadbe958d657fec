"""Tools that run inside the agent (no AWS call): account resolution for the model."""

import json

from strands import tool
from strands.types.tools import AgentTool

from agent.accounts import AccountRegistry
from agent.auth import Caller


def resolve_accounts_tool(registry: AccountRegistry, caller: Caller) -> AgentTool:
    """The ``resolve_accounts`` tool, bound to the caller's groups."""

    @tool(name="resolve_accounts")
    def resolve_accounts(targets: str) -> str:
        """Turn the words naming AWS accounts into account ids this person may query.

        Always call this before any AWS command: the account ids it returns are the only
        ones to use. Understands account names, aliases and 12-digit ids (any case),
        environments ("prod accounts", "all staging"), "all accounts", and lists ("staging
        and dev"); courtesy and emoji around them ("staging please") are ignored.
        Returns JSON: ok, accounts [{account_id, name, environment, regions?}] (regions:
        the account's enabled regions when the registry lists them), message (why not ok:
        an unknown or misspelled name with suggestions, an ambiguous name, a disabled
        account, or an account the person is not entitled to), notes, choices and
        ambiguous (when a name matched several accounts: ask which one), payer
        {account_id, name} (the management account where Cost Explorer runs).

        Args:
            targets: The words the person used, e.g. "staging" or "prod accounts".
        """
        return json.dumps(registry.resolve(targets, caller.groups).as_dict())

    return resolve_accounts
