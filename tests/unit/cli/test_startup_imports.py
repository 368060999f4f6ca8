"""`billing rate` pays for what it uses: the CLI's start-up is part of every offline run
(and of the rating benchmark), so the AWS SDK, loaded only by the commands that reach a
stack, stays out of it."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_billing_command_does_not_load_boto3() -> None:
    probe = (
        "import sys; sys.path.insert(0, '.'); import shared.cli.main; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'moto'}))"
    )

    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.strip()

    assert loaded == "[]"
