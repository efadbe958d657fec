"""What operators see in AWS: the bridge's logs, alarms on every hop, one dashboard."""

import json
from typing import Any

import pytest

from centralops import metrics
from infra import tables
from tests.fixtures.infra_cdk import CONTEXT, Synthesized, synthesized


@pytest.fixture(scope="module")
def synth() -> Synthesized:
    return synthesized()


def test_bridge_logs_are_json_with_a_retention(synth: Synthesized) -> None:
    (function,) = synth.resources("Bridge", "AWS::Lambda::Function").values()
    config = function["Properties"]["LoggingConfig"]
    assert config["LogFormat"] == "JSON"
    assert config["ApplicationLogLevel"] == "INFO" and config["SystemLogLevel"] == "WARN"
    (group,) = synth.resources("Bridge", "AWS::Logs::LogGroup").values()
    assert config["LogGroup"] == {"Ref": next(iter(synth.resources("Bridge", "AWS::Logs::LogGroup")))}
    assert group["Properties"]["RetentionInDays"] == 90


def test_the_bridge_traces_actively_and_may_send_its_segments(synth: Synthesized) -> None:
    (function,) = synth.resources("Bridge", "AWS::Lambda::Function").values()
    assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    allowed: set[str] = set()
    for policy in synth.resources("Bridge", "AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if statement["Effect"] == "Allow" and statement["Resource"] == "*":
                allowed.update(actions)
    # The function's own role sends the segments Lambda's active tracing records.
    assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= allowed


def _alarms(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        resource["Properties"]["AlarmName"].removeprefix("centralops-"): resource["Properties"]
        for resource in synth.resources("Observability", "AWS::CloudWatch::Alarm").values()
    }


def _metrics_of(alarm: dict[str, Any]) -> list[tuple[str, str]]:
    """``(namespace, metric name)`` of an alarm, whether on one metric or a math expression."""
    if "MetricName" in alarm:
        return [(alarm["Namespace"], alarm["MetricName"])]
    return [
        (query["MetricStat"]["Metric"]["Namespace"], query["MetricStat"]["Metric"]["MetricName"])
        for query in alarm["Metrics"]
        if "MetricStat" in query
    ]


def test_every_alarm_notifies_the_topic_that_the_stack_outputs(synth: Synthesized) -> None:
    template = synth.template("Observability")
    (topic_id,) = synth.resources("Observability", "AWS::SNS::Topic")
    topic = template["Resources"][topic_id]["Properties"]
    assert "KmsMasterKeyId" in topic
    assert template["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": topic_id}
    alarms = _alarms(synth)
    assert alarms
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
        assert alarm["OKActions"] == [{"Ref": topic_id}], name
        assert alarm["TreatMissingData"] == "notBreaching", name
    # CloudWatch may publish to the topic, and use its key.
    (policy,) = synth.resources("Observability", "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and s["Action"] == "sns:Publish"
        for s in statements
    )
    (key,) = synth.resources("Observability", "AWS::KMS::Key").values()
    key_statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for s in key_statements)


def test_alarms_cover_bridge_agent_bot_and_every_table(synth: Synthesized) -> None:
    alarms = _alarms(synth)
    assert _metrics_of(alarms["BridgeErrors"]) == [("AWS/Lambda", "Errors")]
    assert _metrics_of(alarms["BridgeThrottles"]) == [("AWS/Lambda", "Throttles")]
    assert alarms["BridgeThrottles"]["Threshold"] == 1
    assert _metrics_of(alarms["AgentSystemErrors"]) == [("AWS/Bedrock-AgentCore", "SystemErrors")]
    assert _metrics_of(alarms["AgentLatency"]) == [("AWS/Bedrock-AgentCore", "Latency")]
    assert alarms["AgentLatency"]["ExtendedStatistic"] == "p95"
    assert _metrics_of(alarms["BotUnhealthyTargets"]) == [("AWS/ApplicationELB", "UnHealthyHostCount")]
    assert sorted(_metrics_of(alarms["Bot5xx"])) == [
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
    ]
    throttles = {name: a for name, a in alarms.items() if name.startswith("DynamoDbThrottles")}
    assert len(throttles) == len(tables.ALL_TABLES)
    for alarm in throttles.values():
        assert sorted(_metrics_of(alarm)) == [
            ("AWS/DynamoDB", "ReadThrottleEvents"),
            ("AWS/DynamoDB", "WriteThrottleEvents"),
        ]
    # The alarms watch this deployment's resources, exported by their stacks.
    bridge_dimensions = json.dumps(alarms["BridgeErrors"]["Dimensions"])
    assert "Fn::ImportValue" in bridge_dimensions and "CentralOps-Bridge" in bridge_dimensions


def test_the_dashboard_shows_questions_answer_time_refusals_and_approvals(synth: Synthesized) -> None:
    (dashboard,) = synth.resources("Observability", "AWS::CloudWatch::Dashboard").values()
    body = json.loads(_joined(dashboard["Properties"]["DashboardBody"]))
    graphs = {w["properties"].get("title"): w["properties"] for w in body["widgets"]}
    questions = graphs["Questions per minute"]["metrics"]
    assert [metrics.NAMESPACE, metrics.QUESTIONS, "service", "bot"] == questions[0][:4]
    assert questions[0][-1]["stat"] == "Sum" and questions[0][-1]["period"] == 60
    answer = graphs["Answer time (ms)"]["metrics"]
    assert {m[-1]["stat"] for m in answer} == {"p50", "p95"}
    assert all(m[1] == metrics.ANSWER_LATENCY for m in answer)
    refusals = json.dumps(graphs["Refusals by code"]["metrics"])
    assert "SEARCH(" in refusals and metrics.REFUSALS in refusals and metrics.CODE in refusals
    approvals = {m[1] for m in graphs["Approvals"]["metrics"]}
    assert approvals == {metrics.APPROVALS_REQUESTED, metrics.APPROVALS_GRANTED, metrics.APPROVALS_CONSUMED}
    assert len(graphs["Alarms"]["alarms"]) == len(_alarms(synth))


def _joined(value: Any) -> str:
    """The text of an ``Fn::Join`` with placeholders for the tokens in it."""
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return separator.join(part if isinstance(part, str) else "TOKEN" for part in parts)


def test_without_a_bot_there_are_no_bot_alarms() -> None:
    from aws_cdk.assertions import Template

    from infra.app import build, new_app

    context = {key: value for key, value in CONTEXT.items() if key != "certificateArn"}
    deployment = build(new_app(context))
    template = Template.from_stack(deployment.observability).to_json()
    names = {
        r["Properties"]["AlarmName"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert "centralops-BridgeErrors" in names
    assert not any("Bot" in name for name in names)


def _logical_ids_of(value: Any) -> set[str]:
    """Logical ids a CloudFormation value refers to (Ref, GetAtt, cross-stack imports by name)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        if "Fn::ImportValue" in value:
            found.add(json.dumps(value["Fn::ImportValue"]))
        for item in value.values():
            found |= _logical_ids_of(item)
    elif isinstance(value, list):
        for item in value:
            found |= _logical_ids_of(item)
    return found


@pytest.mark.parametrize(
    ("kind", "stack", "resource_type"),
    [
        ("runtime", "Runtime", "AWS::BedrockAgentCore::Runtime"),
        ("gateway", "Gateway", "AWS::BedrockAgentCore::Gateway"),
    ],
)
def test_agentcore_logs_and_traces_are_delivered(
    synth: Synthesized, kind: str, stack: str, resource_type: str
) -> None:
    """APPLICATION_LOGS to a vended-logs log group, TRACES to X-Ray, for the Runtime and the Gateway."""
    template = synth.template("Observability")
    resources = template["Resources"]
    (resource_id,) = synth.resources(stack, resource_type)
    sources = {
        r["Properties"]["LogType"]: (logical_id, r["Properties"])
        for logical_id, r in synth.resources("Observability", "AWS::Logs::DeliverySource").items()
        if r["Properties"]["Name"].startswith(f"centralops-{kind}-")
    }
    assert set(sources) == {"APPLICATION_LOGS", "TRACES"}
    for _, source in sources.values():
        # The ARN comes from the Runtime's or Gateway's own stack.
        assert resource_id in json.dumps(source["ResourceArn"])
    destinations = {
        logical_id: r["Properties"]
        for logical_id, r in synth.resources("Observability", "AWS::Logs::DeliveryDestination").items()
        if r["Properties"]["Name"].startswith(f"centralops-{kind}-")
    }
    by_type = {d["DeliveryDestinationType"]: (logical_id, d) for logical_id, d in destinations.items()}
    assert set(by_type) == {"CWL", "XRAY"}
    (group_id,) = _logical_ids_of(by_type["CWL"][1]["DestinationResourceArn"])
    group = resources[group_id]["Properties"]
    assert group["LogGroupName"] == f"/aws/vendedlogs/bedrock-agentcore/{kind}/centralops-{kind}"
    assert group["RetentionInDays"] == 90 and "KmsKeyId" in group
    deliveries = {
        (r["Properties"]["DeliverySourceName"], *_logical_ids_of(r["Properties"]["DeliveryDestinationArn"]))
        for r in synth.resources("Observability", "AWS::Logs::Delivery").values()
    }
    assert (sources["APPLICATION_LOGS"][1]["Name"], by_type["CWL"][0]) in deliveries
    assert (sources["TRACES"][1]["Name"], by_type["XRAY"][0]) in deliveries


def test_the_bot_sends_otlp_to_an_adot_collector_in_its_task(synth: Synthesized) -> None:
    (task,) = synth.resources("Bot", "AWS::ECS::TaskDefinition").values()
    containers = {c["Name"]: c for c in task["Properties"]["ContainerDefinitions"]}
    collector = containers["otel-collector"]
    assert collector["Image"].startswith("public.ecr.aws/aws-observability/aws-otel-collector:v")
    assert collector["Command"] == ["--config=/etc/ecs/ecs-xray.yaml"]
    assert collector["Essential"] is False, "a stopped collector loses spans, never answers"
    env = {e["Name"]: e["Value"] for e in containers["bot"]["Environment"]}
    assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == "http://127.0.0.1:4318/v1/traces"
    (role_id,) = _logical_ids_of(task["Properties"]["TaskRoleArn"])
    actions = {
        action
        for policy in synth.resources("Bot", "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"].get("Roles", [])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= actions
