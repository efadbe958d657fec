"""The evaluation: phrasings people ask, run through the configured model on the local stack.

``make eval`` (``python -m evals``) starts the local stack, sends every phrasing in
``evals/cases/*.yaml`` to the agent as a seeded person, and scores each against its
expected tool calls (tool, command, accounts — read from the bridge's audit table),
approval request, answer facts and follow-up buttons. It prints accuracy per
category and writes the whole result to ``.local/bench/eval.json``.
"""
