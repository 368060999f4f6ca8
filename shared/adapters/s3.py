"""S3: CDR files read by byte range, and rejects/summaries written as text."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shared.domain.errors import BillingError


class ObjectMissing(BillingError):
    pass


class ObjectChanged(BillingError):
    """The key now holds another object than the event named: reading it would rate the
    wrong calls, so the file fails loudly (its message goes to the DLQ after retries)."""


class S3CdrObjects:
    """Reads ``[start, end)`` of an object with a ranged GetObject: memory holds one chunk."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def read_range(
        self,
        bucket: str,
        key: str,
        start: int,
        end: int,
        version_id: str | None = None,
        etag: str | None = None,
    ) -> bytes:
        if end <= start:
            return b""
        pinned: dict[str, str] = {}
        if version_id:
            pinned["VersionId"] = version_id
        elif etag:
            pinned["IfMatch"] = etag if etag.startswith('"') else f'"{etag}"'
        try:
            response = self._client.get_object(
                Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}", **pinned
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound", "NoSuchVersion"):
                raise ObjectMissing(
                    f"s3://{bucket}/{key} (that version) no longer exists"
                ) from None
            if code in ("PreconditionFailed", "412"):
                raise ObjectChanged(
                    f"s3://{bucket}/{key} was replaced by another upload; the version this "
                    "event names can no longer be read (enable bucket versioning to keep it)"
                ) from None
            if code == "InvalidRange":
                return b""
            raise
        body: bytes = response["Body"].read()
        return body

    def put_text(self, bucket: str, key: str, text: str) -> None:
        self._client.put_object(
            Bucket=bucket,
            Key=key,
            Body=text.encode("utf-8", "surrogateescape"),
            ContentType="text/csv" if key.endswith(".csv") else "application/json",
            ServerSideEncryption="AES256",
        )
