"""``make eval``'s harness on the local stack: the first case of every category passes with the offline model.

This keeps the harness itself honest (the token it sends, the events it reads), not only its scoring.
"""

import asyncio

import pytest

from evals import cases as case_data
from evals.__main__ import Evaluation
from infra.local.org import StackInfo

pytestmark = pytest.mark.e2e


async def test_the_first_case_of_every_category_passes(info: StackInfo) -> None:
    first: dict[str, case_data.Case] = {}
    for case in case_data.load():
        first.setdefault(case.category, case)
    evaluation = Evaluation(info)
    results = [await asyncio.to_thread(evaluation.run, case) for case in first.values()]
    failed = {r["prompt"]: r["failures"] for r in results if not r["passed"]}
    assert len(results) >= 7
    assert not failed, failed
