"""The ``dropnet`` command: ``dropnet list``, ``dropnet run NAME [options]``, ``dropnet bench
[options]``, ``dropnet config``."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    from .case_studies import registry

    studies = registry()
    parser = argparse.ArgumentParser(prog="dropnet", description="dropnet case studies and tools")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the case studies")
    sub.add_parser("config", help="print the build and run-time configuration")
    sub.add_parser(
        "bench",
        help="benchmark dropnet against Keras and PyTorch on this machine "
        "(dropnet bench --help for the options)",
        add_help=False,
    )
    run = sub.add_parser("run", help="run a case study")
    run_sub = run.add_subparsers(dest="study", required=True, metavar="NAME")
    for name, mod in studies.items():
        p = run_sub.add_parser(name, help=mod.SUMMARY, description=mod.SUMMARY)
        mod.add_arguments(p)
        p.set_defaults(_study=mod)
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        from .bench import main as bench_main

        return bench_main(rest, prog="dropnet bench")
    if rest:
        parser.error("unrecognized arguments: " + " ".join(rest))
    if args.command == "list":
        width = max(len(n) for n in studies)
        for name, mod in studies.items():
            print(f"{name:<{width}}  {mod.SUMMARY}")
        return 0
    if args.command == "config":
        from .backend import show_config

        show_config()
        return 0
    try:
        args._study.main(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"dropnet run {args.study}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
