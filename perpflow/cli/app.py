"""The `perpflow` command: `perpflow <group> ...`, one module per command group.

Each group module registers its sub-commands (`register(sub)`) as a thin argument layer over
functions in perpflow's packages. `main` parses, sets up logging and runs the command through
the one error handler (`perpflow.cli.errors`): a user error is one line and exit 2, a bug a
traceback; `--debug` (anywhere before `--`) keeps tracebacks. A command's own exit code (e.g. the
wrapped command of `venue run`) is returned as is.
"""

from __future__ import annotations

import argparse
import logging
import sys

from perpflow.cli import (
    ai,
    config,
    data,
    execution,
    record,
    reports,
    research,
    risk,
    store,
    validate,
    venue,
)
from perpflow.cli.args import Parser
from perpflow.cli.errors import handle

GROUPS = (data, store, venue, record, reports, risk, execution, validate, research, ai, config)
DESCRIPTION = "perpflow: data, the local exchange, reports, risk and validation for Freqtrade"


def build_parser() -> Parser:
    """The full argument parser (every group's sub-commands)."""
    parser = Parser(prog="perpflow", description=DESCRIPTION,
                    formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of any error (may also follow the command)")  # fmt: skip
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    lines = []
    for group in GROUPS:
        before = set(sub.choices)
        group.register(sub)
        names = [n for n in sub.choices if n not in before]
        lines.append(f"  {group.__name__.rsplit('.', 1)[-1]:<10}{', '.join(names)}")
    parser.epilog = (
        "command groups:\n" + "\n".join(lines) + "\n\n`perpflow COMMAND --help` for each."
    )
    return parser


def _split_debug(argv: list[str]) -> tuple[list[str], bool]:
    """Take `--debug` out of the arguments before a `--` (so it works after the command too)."""
    cut = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:cut]
    return [a for a in argv[:cut] if a != "--debug"] + argv[cut:], debug


def main(argv: list[str] | None = None) -> int:
    """Run one `perpflow` command; its exit code (2 for a user error)."""
    argv, debug = _split_debug(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    # perpflow's own INFO lines; libraries (freqtrade's loaders, numexpr) only from WARNING
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")  # fmt: skip
    logging.getLogger("perpflow").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    prog = getattr(args, "prog", "perpflow")
    try:
        return int(args.func(args) or 0)
    except (Exception, KeyboardInterrupt, SystemExit) as exc:  # noqa: BLE001 - the one handler
        return handle(exc, prog=prog, debug=debug)
