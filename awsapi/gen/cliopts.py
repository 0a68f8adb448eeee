#!/usr/bin/env python3
"""Generate awsapi/cliopts.json.gz: the options of every AWS CLI service command.

Run through `make generate`. For every service command of the AWS CLI
(`aws ec2 describe-instances`, `aws s3api put-object`, and the
customizations that replace or add commands, such as `aws emr
create-cluster`), it builds the command's own argparse parser the way the
CLI does when it runs the command (awscli's ArgTableArgParser over the
command's argument table, after every customization handler has run) and
records each long option with the number of words it takes. The gateway
needs them to expand an abbreviated option exactly as argparse would
("--dry" is --dry-run) and to know where an option's values end.

Commands that only group other commands (`aws ec2 wait`) are left out: the
gateway keeps their options as written.

The output is deterministic for a given awscli version and date argument:
keys are sorted, each service's option names are interned in one sorted
list, and the gzip header carries no timestamp and no file name.
"""
import gzip
import io
import json
import sys

import awscli
from awscli.argparser import ArgTableArgParser
from awscli.clidriver import create_clidriver


def arity(action):
    """The words an option takes: "0", "1", "?", "*" or "+"."""
    n = action.nargs
    if n is None:
        return "1"
    if isinstance(n, int):
        return str(n)
    if n in ("?", "*", "+"):
        return n
    raise ValueError(f"unexpected nargs {n!r} for {action.option_strings}")


def command_options(cmd):
    """{option without "--": arity} for one command, None to leave it out."""
    arg_table = cmd.arg_table
    if not arg_table and getattr(cmd, "subcommand_table", None):
        return None
    parser = ArgTableArgParser(arg_table)
    opts = {}
    for action in parser._actions:
        for s in action.option_strings:
            if s.startswith("--"):
                opts[s[2:]] = arity(action)
    # AWS CLI v2 reads parameters from YAML as well as JSON: every command
    # with --cli-input-json has --cli-input-yaml there, which makes
    # "--cli-input" ambiguous. The global options table the gateway keeps
    # holds v2's globals too, so both major versions are read alike.
    if "cli-input-json" in opts:
        opts["cli-input-yaml"] = "1"
    return opts


def main(out_path, date):
    driver = create_clidriver()
    table = driver._get_command_table()
    services = {}
    ncmds = 0
    for name, svc in sorted(table.items()):
        if getattr(svc, "service_model", None) is None:
            continue
        cmds = {}
        for cmd_name, cmd in sorted(svc._get_command_table().items()):
            opts = command_options(cmd)
            if opts is not None:
                cmds[cmd_name] = opts
        names = sorted({f"{o}={a}" for opts in cmds.values() for o, a in opts.items()})
        index = {n: i for i, n in enumerate(names)}
        services[name] = {
            "options": names,
            "commands": {c: sorted(index[f"{o}={a}"] for o, a in opts.items()) for c, opts in cmds.items()},
        }
        ncmds += len(cmds)

    doc = {
        "generated": date,
        "awscli": awscli.__version__,
        "services": services,
    }
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    with open(out_path, "wb") as f:
        f.write(buf.getvalue())
    print(f"{out_path}: {len(services)} services, {ncmds} commands, "
          f"{len(raw)} bytes JSON, {len(buf.getvalue())} bytes gzip (awscli {awscli.__version__})")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: cliopts.py OUT.json.gz YYYY-MM-DD")
    main(sys.argv[1], sys.argv[2])
