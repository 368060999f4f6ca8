"""The S3 event notification that SQS carries to rate_call, parsed into CdrFiles."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from shared.domain.errors import ValidationError
from shared.services.ingest import CdrFile


def cdr_files(body: str) -> list[CdrFile]:
    """Files named by one SQS message body. S3's ``s3:TestEvent`` names none.

    Object keys arrive URL-encoded (``tenants%2Facme%2F...`` or ``+`` for spaces), as AWS
    documents; the version is the object's versionId when the bucket is versioned, else its
    ETag, so a re-upload under the same key is a new file while a redelivery is not.
    """
    try:
        document: Any = json.loads(body)
    except json.JSONDecodeError as error:
        raise ValidationError(f"SQS body is not JSON: {error.msg}") from None
    except RecursionError:
        raise ValidationError("SQS body is JSON nested too deeply to be an S3 event") from None
    if not isinstance(document, dict):
        raise ValidationError("SQS body is not an S3 event notification")
    if document.get("Event") == "s3:TestEvent":
        return []
    records = document.get("Records")
    if not isinstance(records, list):
        raise ValidationError("SQS body has no S3 Records")
    files = []
    for record in records:
        try:
            s3 = record["s3"]
            obj = s3["object"]
            version_id = obj.get("versionId") or None
            etag = obj.get("eTag") or None
            files.append(
                CdrFile(
                    bucket=s3["bucket"]["name"],
                    key=unquote_plus(obj["key"]),
                    version=str(version_id or etag or obj.get("sequencer", "")),
                    size=int(obj["size"]),
                    version_id=version_id,
                    etag=etag,
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:  # wrong types too
            raise ValidationError(f"malformed S3 record: {error!r}") from None
    return files
