from __future__ import annotations

import uuid

import pytest

from tests.conftest import run_component

ID = "cluster_storage"


@pytest.fixture
def bucket(s3) -> str:
    name = f"gitpod-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name)
    return name


@pytest.fixture(autouse=True)
def _keys(s3, monkeypatch) -> None:
    monkeypatch.setenv("GRE_TEST_S3_KEY", s3.key_id)
    monkeypatch.setenv("GRE_TEST_S3_SECRET", s3.secret)


def settings(s3, bucket: str, **over):
    return {"endpoint": s3.endpoint, "bucket": bucket, "addressing_style": "path",
            "access_key_id": {"env": "GRE_TEST_S3_KEY"},
            "secret_access_key": {"env": "GRE_TEST_S3_SECRET"}, **over}  # fmt: skip


def test_round_trip_passes_and_leaves_nothing_behind(s3, bucket, pool) -> None:
    result = run_component(ID, settings(s3, bucket, round_trip=True), pool)[ID].result
    assert (result.status, result.observed) == ("pass", "bucket present, round trip ok")
    ops = {dict(s.labels)["operation"] for s in result.samples}
    assert ops == {"head_bucket", "list_objects", "put_object", "get_object", "delete_object"}
    assert s3.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_missing_bucket_is_not_found(s3, pool) -> None:
    result = run_component(ID, settings(s3, "no-such-bucket-here"), pool)[ID].result
    assert (result.status, result.reason) == ("fail", "not_found")


def test_bad_keys_are_auth(s3, bucket, pool, monkeypatch) -> None:
    monkeypatch.setenv("GRE_TEST_S3_SECRET", "not-the-secret")
    result = run_component(ID, settings(s3, bucket), pool)[ID].result
    assert (result.status, result.reason) == ("fail", "auth")


def test_unreachable_endpoint_is_connect(bucket, pool, s3) -> None:
    result = run_component(ID, settings(s3, bucket, endpoint="http://127.0.0.1:1"), pool)[ID].result
    assert (result.status, result.reason) == ("fail", "connect")


def test_absent_section_is_skipped(pool) -> None:
    result = run_component(ID, {}, pool)[ID].result
    assert (result.status, result.reason) == ("skipped", "not_configured")


def test_a_web_server_answering_200_to_everything_is_not_s3(pool) -> None:
    """HEAD /bucket -> 200 from any web server; the listing must be S3's XML."""
    from tests.faults.hostile import hostile

    with hostile("html") as address:
        any_env = {"env": "PATH"}  # the server checks no signature; keys must merely exist
        settings = {"bucket": "gitpod", "endpoint": f"http://{address}", "addressing_style": "path",
                    "access_key_id": any_env, "secret_access_key": any_env}  # fmt: skip
        result = run_component(ID, settings, pool)[ID].result
    assert (result.status, result.reason) == ("fail", "protocol")
