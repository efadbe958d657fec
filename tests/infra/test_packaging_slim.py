"""The bridge bundle's AWS CLI is slimmed without changing what it reads."""

import gzip
import json
from pathlib import Path

from infra.stacks.packaging import locked_requirements, slim_awscli


def test_the_bridge_bundle_includes_the_aws_cli() -> None:
    assert any(r.startswith("awscli") for r in locked_requirements())


def test_examples_go_and_models_are_stored_gzipped(tmp_path: Path) -> None:
    model = tmp_path / "awscli" / "botocore" / "data" / "ssm" / "2014-11-06" / "service-2.json"
    model.parent.mkdir(parents=True)
    model.write_text(json.dumps({"metadata": {"serviceId": "SSM"}}))
    (tmp_path / "awscli" / "examples" / "ssm").mkdir(parents=True)
    (tmp_path / "awscli" / "examples" / "ssm" / "get-parameter.rst").write_text("aws ssm get-parameter")
    slim_awscli(tmp_path)
    assert not (tmp_path / "awscli" / "examples").exists()
    assert not model.exists()
    with gzip.open(model.with_suffix(".json.gz")) as f:
        assert json.load(f) == {"metadata": {"serviceId": "SSM"}}
    first = model.with_suffix(".json.gz").read_bytes()
    model.write_text(json.dumps({"metadata": {"serviceId": "SSM"}}))
    slim_awscli(tmp_path)
    assert model.with_suffix(".json.gz").read_bytes() == first  # reproducible: no timestamp in the archive
