"""A DynamoDB table as the agent reads it: a boto3 resource injected, or created on first use."""

from typing import Any


class LazyTable:
    """Gives the boto3 ``Table`` of one table name, creating the service resource on first use.

    Args:
        table_name: The table.
        dynamodb: A boto3 DynamoDB resource; created lazily when omitted.
        region: Region of the lazily created resource.
        endpoint_url: Endpoint of the lazily created resource (moto locally).
    """

    def __init__(
        self,
        table_name: str,
        *,
        dynamodb: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.name = table_name
        self._dynamodb = dynamodb
        self._region = region
        self._endpoint_url = endpoint_url

    def __call__(self) -> Any:
        """The boto3 ``Table``."""
        if self._dynamodb is None:
            import boto3

            self._dynamodb = boto3.resource(
                "dynamodb", region_name=self._region, endpoint_url=self._endpoint_url
            )
        return self._dynamodb.Table(self.name)
