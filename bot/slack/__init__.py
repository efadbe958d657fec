"""The Slack edge: a Bolt ``AsyncApp`` that translates Slack payloads for the core and renders its answers."""
