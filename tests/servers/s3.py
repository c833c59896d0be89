"""An S3 API server: moto's server mode, real HTTP on a random 127.0.0.1 port, with
credential checking switched on (an IAM user with a key pair), so wrong keys are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

BOOTSTRAP_ACTIONS = 3  # create the user, its policy and its key; after that auth is enforced


@dataclass(frozen=True)
class S3:
    endpoint: str
    key_id: str
    secret: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=self.key_id, aws_secret_access_key=self.secret,
        )  # fmt: skip


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    import boto3
    from moto import settings
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    settings.INITIAL_NO_AUTH_ACTION_COUNT = BOOTSTRAP_ACTIONS
    iam = boto3.client(
        "iam", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap",
    )  # fmt: skip
    iam.create_user(UserName="gitpod-probe")
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}  # fmt: skip
    iam.put_user_policy(UserName="gitpod-probe", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="gitpod-probe")["AccessKey"]
    try:
        yield S3(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        server.stop()
