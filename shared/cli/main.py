"""The ``billing`` command: offline rating, explanations, the demo (SPEC section 9).

Every bad input ends as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn, cast

from shared.cli import (
    advise_command,
    demo,
    explain_command,
    import_deck_command,
    invoice_commands,
    local_command,
    payment_history_commands,
    payments_commands,
    rate_command,
    reconcile_command,
    rerate_command,
    stack_commands,
    status_command,
)
from shared.domain.errors import BillingError

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line like every other error (SPEC section 9)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"billing: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="billing", description="Telecom usage billing.")
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND"),
    )
    rate_command.register(commands)
    explain_command.register(commands)
    demo.register(commands)
    local_command.register(commands)
    import_deck_command.register(commands)
    stack_commands.register(commands)
    payments_commands.register(commands)
    payment_history_commands.register(commands)
    status_command.register(commands)
    rerate_command.register(commands)
    advise_command.register(commands)
    reconcile_command.register(commands)
    invoice_commands.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
        return result
    except BillingError as error:
        return _fail(str(error), EXIT_BAD_INPUT)
    except (OSError, ValueError) as error:
        return _fail(_os_message(error), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as error:
        return _fail(f"internal error: {type(error).__name__}: {error}", EXIT_INTERNAL)


def _os_message(error: Exception) -> str:
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    return str(error)


def _fail(message: str, code: int) -> int:
    # a message may quote undecodable input (surrogate escapes): shown as \udcXX, never a
    # UnicodeEncodeError on a strict stderr in place of the one line promised
    line = f"billing: error: {message}".encode("utf-8", "backslashreplace").decode("utf-8")
    print(line, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
