"""Full fan-out results: the bot attaches only documents of its results bucket, and says so when it cannot."""

import uuid
from typing import Any

import boto3
import pytest

from bot.conversation import Conversation
from bot.results import ResultFiles, ResultsUnavailableError
from centralops import events


def _s3(moto_url: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )


@pytest.fixture
def bucket(moto_url: str) -> str:
    name = f"results-{uuid.uuid4().hex[:8]}"
    s3 = _s3(moto_url)
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="results/2026/12/03/abc.json", Body=b'{"results": []}')
    s3.put_object(Bucket=name, Key="other/secret.json", Body=b"no")
    return name


class Recorder:
    """A renderer that records texts and attachments."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.files: list[tuple[str, bytes, str]] = []

    async def text(self, delta: str) -> None:
        self.texts.append(delta)

    async def attach(self, name: str, content: bytes, title: str) -> None:
        self.files.append((name, content, title))


class TextOnly:
    """A renderer that cannot attach files."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def text(self, delta: str) -> None:
        self.texts.append(delta)


def _conversation(files: ResultFiles | None) -> Conversation:
    return Conversation(
        identity=None,  # type: ignore[arg-type]
        runtime=None,  # type: ignore[arg-type]
        approvals=None,  # type: ignore[arg-type]
        accounts=None,  # type: ignore[arg-type]
        history=None,  # type: ignore[arg-type]
        approver_group="g",
        files=files,
    )


async def test_a_result_file_is_attached_to_the_thread(moto_url: str, bucket: str) -> None:
    files = ResultFiles(bucket, client=_s3(moto_url))
    renderer = Recorder()
    event = events.file("r.json", bucket, "results/2026/12/03/abc.json", 15, "Full results of 3 accounts")
    await _conversation(files)._attach(event, renderer)  # type: ignore[arg-type]
    assert renderer.files == [("r.json", b'{"results": []}', "Full results of 3 accounts")]


@pytest.mark.parametrize(
    ("which", "key"),
    [
        ("other", "results/2026/12/03/abc.json"),
        ("same", "other/secret.json"),
        ("same", "results/../other/secret.json"),
    ],
)
async def test_only_objects_of_the_results_bucket_and_prefix_are_read(
    moto_url: str, bucket: str, which: str, key: str
) -> None:
    files = ResultFiles(bucket, client=_s3(moto_url))
    target = bucket if which == "same" else "someone-elses-bucket"
    with pytest.raises(ResultsUnavailableError):
        await files.read(events.file("r.json", target, key, 2, "x"))
    renderer = Recorder()
    await _conversation(files)._attach(events.file("r.json", target, key, 2, "x"), renderer)  # type: ignore[arg-type]
    assert not renderer.files
    assert "could not be attached" in "".join(renderer.texts)


async def test_an_expired_result_and_a_renderer_without_files_are_told(moto_url: str, bucket: str) -> None:
    files = ResultFiles(bucket, client=_s3(moto_url))
    renderer = Recorder()
    gone = events.file("r.json", bucket, "results/2026/01/01/gone.json", 2, "Full results of 2 accounts")
    await _conversation(files)._attach(gone, renderer)  # type: ignore[arg-type]
    assert "expire" in "".join(renderer.texts) and not renderer.files
    plain = TextOnly()
    ok = events.file("r.json", bucket, "results/2026/12/03/abc.json", 15, "Full results of 3 accounts")
    await _conversation(files)._attach(ok, plain)  # type: ignore[arg-type]
    assert "Full results of 3 accounts could not be attached here" in "".join(plain.texts)
