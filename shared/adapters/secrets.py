"""Secrets from SSM Parameter Store (SecureString), read once per Lambda container."""

from __future__ import annotations

from typing import Any

from shared.adapters.dynamodb import StoreError


def ssm_secret(client: Any, name: str) -> str:
    """The decrypted value of an SSM parameter. The value is never logged; a failure names
    the parameter and the AWS error code only."""
    from botocore.exceptions import ClientError

    try:
        response = client.get_parameter(Name=name, WithDecryption=True)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise StoreError(f"SSM parameter {name}: {code}", code) from None
    return str(response["Parameter"]["Value"])
