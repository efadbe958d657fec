"""Programmatic clients of the local stack ("consoles"): they speak to the bot as Slack and Teams do.

The stand-in servers they talk to live one level up (``infra.local.slack_api``, ``infra.local.teams_connector``...).
"""
