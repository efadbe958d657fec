"""CentralOps shared kernel: only what two deployables must agree on.

- :mod:`centralops.events` — the typed event protocol between the agent and the bot.
- :mod:`centralops.tokens` — Cognito JWT verification.
- :mod:`centralops.settings` — environment variable names and typed readers.
- :mod:`centralops.errors` — the one exception base.
- :mod:`centralops.logs` — structured logging set-up.
"""
