"""Reaching the stack ``billing local up`` started, for the commands that work on it: the text
of its state file (where it listens, each function's environment) and a boto3 session with
its fake credentials."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shared.cli.local_command import STATE_FILE
from shared.domain.errors import ValidationError


def read_state_text(state_dir: Path) -> str:
    """The state file under ``state_dir``; one line saying how to start a stack if none is."""
    path = state_dir / STATE_FILE
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(
            f"no local stack is running ({path} is missing); start one with `billing local up`"
        ) from None


def stack_function(
    state_dir: Path, function: str, required: Iterable[str] = ()
) -> tuple[dict[str, str], str, str]:
    """The environment of ``function`` (with the ``required`` variables) and the stack's
    endpoint and region; a state file without them is one line naming the function."""
    text = read_state_text(state_dir)
    try:
        state = json.loads(text)
        env = dict(state["functions"][function]["environment"])
        endpoint, region = state["endpoint"], state["region"]
        missing = set(required) - set(env)
        if missing:
            raise KeyError(sorted(missing))
    except (ValueError, KeyError, TypeError):
        raise ValidationError(
            f"{state_dir / STATE_FILE}: not a local stack state file with {function}"
        ) from None
    return env, endpoint, region


def stack_session(region: str) -> Any:
    """A boto3 session with the local stack's fake credentials; boto3 is imported here, so
    commands that never reach the stack (``billing rate``) do not pay for importing it."""
    import boto3

    from shared.local.stack import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY

    return boto3.session.Session(
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
        region_name=region,
    )
