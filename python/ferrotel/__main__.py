"""``python -m ferrotel demo`` runs the instrumented demo service; ``python -m ferrotel bench``
prints the overhead table."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "demo"
    if command == "bench":
        from . import bench

        return bench.main(args[1:])
    if command == "demo":
        from . import demo

        return demo.main(args[1:])
    print("usage: python -m ferrotel {demo,bench} [options]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
