"""The ``dlc`` command.

Start-up is kept light: ``dlc --help`` and ``dlc list`` import neither torch nor numpy
(the lab catalogue is read from source). Each sub-command imports what it needs.
"""

from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = """\
dlc: the deep-learning course as software. Every hands-on of EPFL's EE-559, the
ESCAPE school and EDHEC's course is a lab: run it, read it, change its options."""

EPILOG = """\
examples:
  dlc list                          the labs
  dlc run lecture-convnet --tiny    a lab in seconds (--full: the published numbers)
  dlc run lecture-convnet --help    a lab's options, with their defaults
  dlc runs                          past runs; `dlc runs show DIR` prints one
  dlc data                          where each data set is, and whether it is valid
  dlc exercise perceptron           the student version of a lab, in ./exercises
  dlc check perceptron              grade your answers (from ./exercises: cd there first)
"""


def _size_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tiny", action="store_true", help="a very small set for quick checks (seconds)")
    g.add_argument("--full", action="store_true", help="the whole data set: the published numbers")
    p.add_argument("--force_cpu", action="store_true", help="stay on the CPU even if CUDA is available")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0; < 0: no seeding)")
    p.add_argument("--data_dir", default=None, help="where the data sets are (default $PYTORCH_DATA_DIR, then ./data)")
    p.add_argument(
        "--nproc",
        type=int,
        default=None,
        metavar="N",
        help="train in N processes on this machine (torchrun; one GPU each where there are GPUs)",
    )
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dlc", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    from dlc import __version__

    p.add_argument("--version", action="version", version=f"dlc {__version__}")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("list", help="list the labs (id, source, summary)")

    r = sub.add_parser("run", help="run a lab: dlc run ID [--tiny|--full] [--OPTION VALUE ...]", add_help=False)
    r.add_argument("lab", nargs="?", help="the lab id (see `dlc list`)")
    r.add_argument("-h", "--help", action="store_true", help="show the lab's options")

    rs = sub.add_parser("runs", help="list past runs, or `dlc runs show DIR`")
    rs.add_argument("action", nargs="?", choices=["show"], help="show one run")
    rs.add_argument("dir", nargs="?", help="the run folder to show")
    rs.add_argument("--runs_dir", default="runs", help="where run folders live (default ./runs)")

    e = sub.add_parser("exercise", help="write a lab's student version: dlc exercise LAB [DIR] | --all [DIR]")
    e.add_argument("lab", nargs="?", help="the lab id (see `dlc list`)")
    e.add_argument("dir", nargs="?", default="exercises", help="the hand-out folder (default ./exercises)")
    e.add_argument("--all", action="store_true", help="every lab that has tasks")

    c = sub.add_parser("check", help="grade a student's answers: dlc check LAB [PATH] [--task T]")
    c.add_argument("lab", nargs="?", help="the lab id (with --all: the hand-out folder)")
    c.add_argument("path", nargs="?", help="the student's notebook or lab file (default: found in ./notebooks, ./labs)")
    c.add_argument("--task", action="append", help="grade only this task (repeat for several)")
    c.add_argument("--reference", action="store_true", help="grade dlc's own solution (it must pass every tier)")
    c.add_argument("--all", action="store_true", help="every lab of a hand-out folder (dlc check --all [DIR])")
    c.add_argument("--submissions", metavar="DIR", help="grade one file or folder per student in DIR (teachers)")
    c.add_argument("--results", default="results.json", help="Gradescope results file (default ./results.json)")
    c.add_argument(
        "--scores", default="scores.csv", help="with --submissions: the CSV of scores (default ./scores.csv)"
    )
    c.add_argument("--timeout", type=float, default=60.0, help="seconds one task may take (default 60)")
    c.add_argument("--quick", action="store_true", help="mini-projects: fewer training rounds (a first try)")

    lb = sub.add_parser("lab", help="JupyterLab on the student notebooks, this machine only: dlc lab [DIR]")
    lb.add_argument("dir", nargs="?", default=None, help="the work folder (default ./dlc-lab; first use: the hand-out)")
    lb.add_argument("--port", type=int, default=None, help="the port on 127.0.0.1 (default 8888, or the next free)")
    lb.add_argument("--no-browser", action="store_true", help="only print the address; do not open a browser")
    lb.add_argument("--labs", metavar="A,B", help="hand out only these labs (default: every lab with tasks)")

    d = sub.add_parser("data", help="check the data sets, or `dlc data fetch NAME`")
    d.add_argument("action", nargs="?", choices=["fetch"], help="download a data set")
    d.add_argument("name", nargs="?", help="the data set to fetch")
    d.add_argument("--data_dir", default=None, help="where the data sets are (default $PYTORCH_DATA_DIR, then ./data)")
    return p


def main(argv: list[str] | None = None) -> int:
    """The command; every error a user can cause ends in one line on stderr and exit
    code 2 (bad usage, nothing run) or 1 (a failed run); ``--debug`` shows the traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`dlc run ... | head -1`): not an error; stop writing quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        if debug:
            raise
        from dlc.errors import DlcError, UsageError
        from dlc.exercise.regions import is_stub_error

        if is_stub_error(e):
            lab_id, task = str(e).split()[2:4]
            print(
                f"dlc: this lab needs your code first: the task `{task}` is not written yet "
                f"(write it, then `dlc check {lab_id} --task {task}`)",
                file=sys.stderr,
            )
            return 1
        if isinstance(e, DlcError):
            print(f"dlc: error: {e}", file=sys.stderr)
            return 2 if isinstance(e, UsageError) else 1
        print(
            f"dlc: internal error: {type(e).__name__}: {e}\n"
            f"  this is a bug in dlc, not in what you typed; run again with --debug for the "
            f"traceback and report it",
            file=sys.stderr,
        )
        return 1


def _dispatch(argv: list[str]) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command != "run" and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "list":
        return cmd_list()
    if args.command == "run":
        return cmd_run(args, rest, argv)
    if args.command == "runs":
        from dlc.engine import runs

        if args.action == "show":
            if not args.dir:
                parser.error("`dlc runs show` needs a run folder: dlc runs show runs/<lab>/<time>")
            return runs.show_run(args.dir)
        return runs.list_runs(args.runs_dir)
    if args.command == "exercise":
        from dlc.exercise.handout import cli_exercise

        return cli_exercise(args.lab, args.dir, args.all)
    if args.command == "check":
        from dlc.exercise.cli import cli_check

        return cli_check(
            args.lab,
            args.path,
            task=args.task,
            reference=args.reference,
            all_labs=args.all,
            submissions=args.submissions,
            results=args.results,
            scores=args.scores,
            timeout=args.timeout,
            quick=args.quick,
        )
    if args.command == "lab":
        from dlc.jupyter import cli_lab

        return cli_lab(args.dir, args.port, args.no_browser, args.labs)
    if args.command == "data":
        from dlc import data

        if args.action == "fetch":
            if not args.name:
                parser.error("`dlc data fetch` needs a data set name; `dlc data` lists them")
            return data.cli_fetch(args.name, args.data_dir)
        return data.cli_report(args.data_dir)
    return 2


def cmd_list() -> int:
    from dlc.labs import catalog

    labs = catalog()
    if not labs:
        print("no labs yet")
        return 0
    w_id = max(len(i) for i in labs)
    w_src = max(len(i.source) for i in labs.values())
    for info in labs.values():
        print(f"{info.id:<{w_id}}  {info.source:<{w_src}}  {info.summary}")
    return 0


def _option_type(tp) -> tuple[type, bool]:
    from dlc.options import field_type

    return field_type(tp)


def _converter(tp: type, optional: bool):
    conv = _parse_bool if tp is bool else tp
    if not optional:
        return conv

    def convert(s: str):  # "all" (or "none") for the fields where None means everything
        return None if s.lower() in ("all", "none") else conv(s)

    convert.__name__ = getattr(tp, "__name__", "value")
    return convert


def _parse_bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")


def lab_parser(lab) -> argparse.ArgumentParser:
    import dataclasses
    import typing

    info = lab.info
    p = argparse.ArgumentParser(
        prog=f"dlc run {info.id}",
        description=f"{info.summary}\nsource: {info.source}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _size_flags(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar, only the result line")
    p.add_argument("--runs_dir", default="runs", help="where run folders go (default ./runs)")
    p.add_argument(
        "--resume", metavar="RUN_DIR", default=None, help="continue an interrupted run from its last checkpoint"
    )
    g = p.add_argument_group(f"{info.id} options (defaults are the source's own)")
    hints = typing.get_type_hints(lab.config)
    comments = field_comments(lab.config)
    for f in dataclasses.fields(lab.config):
        tp, optional = _option_type(hints.get(f.name, f.type))
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        presets = {size: make_config_preview(lab, size).get(f.name, default) for size in ("tiny", "full")}
        extra = "".join(f", --{k}: {_show(v)}" for k, v in presets.items() if v != default)
        g.add_argument(
            f"--{f.name}",
            type=_converter(tp, optional),
            default=argparse.SUPPRESS,
            metavar=getattr(tp, "__name__", "VALUE").upper(),
            # argparse formats help with %: a comment's own "10%" must reach it as "10%%"
            help=(
                (f"{comments[f.name]} " if f.name in comments else "")
                + f"({getattr(tp, '__name__', tp)}{' or all' if optional else ''}, default {_show(default)}{extra})"
            ).replace("%", "%%"),
        )
    return p


def field_comments(config: type) -> dict[str, str]:
    """The comment beside each field of a Config class (and the comment lines right under
    it), read from the source: the option's explanation in ``--help``."""
    import inspect
    import re

    try:
        lines = inspect.getsource(config).splitlines()
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    last = None
    for line in lines:
        m = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.*)$", line)
        if m:
            last, out[m.group(1)] = m.group(1), m.group(2).strip()
        elif last and re.match(r"\s+#\s*(.*)$", line):
            out[last] += " " + line.strip().lstrip("#").strip()
        else:
            last = None
    return out


def _show(v) -> str:
    return "all" if v is None else repr(v)


def make_config_preview(lab, size: str) -> dict:
    """The values a size preset gives (the SIZE_PRESETS rows and the Config's TINY/FULL)."""
    import dataclasses

    from dlc.labs import SIZE_PRESETS

    names = {f.name for f in dataclasses.fields(lab.config)}
    out = {k: v for k, v in SIZE_PRESETS[size].items() if k in names}
    out.update(getattr(lab.config, size.upper(), {}) or {})
    return out


def cmd_run(args: argparse.Namespace, rest: list[str], argv: list[str]) -> int:
    import dataclasses

    from dlc.labs import get, run_lab

    if not args.lab:
        print("usage: dlc run ID [--tiny|--full] [--OPTION VALUE ...]; the labs:", file=sys.stderr)
        cmd_list()
        return 2
    from dlc.labs import load_file

    is_file = args.lab.endswith(".py")
    lab = load_file(args.lab) if is_file else get(args.lab)  # an unknown id: a UsageError with close matches
    p = lab_parser(lab)
    if args.help:
        p.print_help()
        return 0
    opts = p.parse_args(rest)
    if opts.nproc is not None and opts.nproc != 1:
        from dlc.engine.distributed import launch

        i = argv.index("--nproc")
        return launch(opts.nproc, argv[:i] + argv[i + 2 :])
    overrides = {f.name: getattr(opts, f.name) for f in dataclasses.fields(lab.config) if hasattr(opts, f.name)}
    # Left unset (None), size, seed and device choice take their defaults, or, with
    # --resume, the values saved in the run folder.
    size = "tiny" if opts.tiny else "full" if opts.full else None
    run = dict(size=size, seed=opts.seed, force_cpu=opts.force_cpu or None, data_dir=opts.data_dir)
    try:
        run_lab(
            args.lab if is_file else lab.info.id,
            **run,
            runs_dir=opts.runs_dir,
            quiet=opts.quiet,
            resume=opts.resume,
            **overrides,
        )
    except KeyboardInterrupt as e:
        if opts.debug:
            raise
        where = getattr(e, "run_dir", None) or opts.resume or "RUN_DIR"
        print(
            f"\ninterrupted; `dlc run {lab.info.id} --resume {where}` continues from the last "
            f"checkpoint (`dlc runs` lists the run folders)",
            file=sys.stderr,
        )
        return 130
    finally:
        from dlc.engine.distributed import teardown

        teardown()
    return 0


def run_file(path: str) -> int:
    """``python my_lab.py [OPTIONS]``: a lab file run as a script runs as ``dlc run my_lab.py``."""
    return main(["run", path, *sys.argv[1:]])


def entry() -> int:
    """The console script: `dlc list | head` ends quietly when the pipe closes."""
    try:
        return main()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(entry())
