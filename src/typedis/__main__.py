"""The `typedis` command: `python -m typedis demo`."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    """Run the `typedis` command line; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="typedis", description="typed object mapper for Redis")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the demo (embedded server unless REDIS_URL is set)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from typedis import _demo

        _demo.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
