"""The `typedis` command (also `python -m typedis`): `demo`, `install-functions`.

Exit status 0 when it worked, 1 on a problem (reported in one line on stderr; `--debug` shows
the traceback instead), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import TypeGuard

import typedis


def main(argv: list[str] | None = None) -> int:
    """Run the `typedis` command line; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="typedis", description="typed object mapper for Redis")
    parser.add_argument("--version", action="version", version=f"typedis {typedis.__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the demo (embedded server unless REDIS_URL is set)")
    install = commands.add_parser(
        "install-functions",
        help="as an administrator, load the function libraries of models (server at REDIS_URL)",
        description="Load the function libraries of the typedis models found in each MODULE "
        "(or of MODULE:Model only) on the server at REDIS_URL, as typedis.install_functions() "
        "does. Run it as an administrator once, and again after a typedis upgrade or a "
        "model change.",
    )
    install.add_argument("targets", nargs="+", metavar="MODULE[:Model]")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from typedis import _demo

            _demo.run()
        else:
            _install(args.targets)
    except Exception as error:
        if args.debug:
            raise
        message = " ".join(str(error).split())
        print(f"typedis: error: {type(error).__name__}: {message}", file=sys.stderr)
        return 1
    return 0


def _install(targets: list[str]) -> None:
    if not os.environ.get("REDIS_URL"):
        raise typedis.ConfigError(
            "REDIS_URL is not set: give the server to install on, as an administrator "
            "(REDIS_URL=redis://<admin>:<password>@<host>:6379/0)"
        )
    if os.getcwd() not in sys.path:  # MODULE is found from here, as with `python -m`
        sys.path.insert(0, os.getcwd())
    models = list(dict.fromkeys(m for target in targets for m in _models(target)))
    conn = typedis.connect()
    try:
        names = typedis.install_functions(*models)
    finally:
        conn.close()
    listed = ", ".join(m.__name__ for m in models)
    print(f"installed the function libraries of {listed} on {conn.redacted_url}:")
    print("\n".join(names))


def _models(target: str) -> list[type[typedis.Model]]:
    """The models of `MODULE` (every concrete Model subclass it holds) or `MODULE:Model`."""
    module_name, _, name = target.partition(":")
    module = importlib.import_module(module_name)
    if name:
        found = getattr(module, name, None)
        if not _is_model(found):
            raise typedis.ModelError(
                f"{target}: {module_name} has no concrete typedis Model named {name}"
            )
        return [found]
    models = [value for value in vars(module).values() if _is_model(value)]
    if not models:
        raise typedis.ModelError(f"{target}: the module holds no typedis Model subclass")
    return models


def _is_model(value: object) -> TypeGuard[type[typedis.Model]]:
    return (
        isinstance(value, type)
        and issubclass(value, typedis.Model)
        and value is not typedis.Model
        and not value.__typedis_spec__.abstract
    )


if __name__ == "__main__":
    raise SystemExit(main())
