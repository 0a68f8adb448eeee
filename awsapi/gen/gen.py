#!/usr/bin/env python3
"""Generate awsapi/services.json.gz from botocore's service models.

Run through `make generate`. For every boto3 service name it records the IAM
service prefix, the API operations (PascalCase) and the AWS CLI names of the
service and of each operation, taken from the AWS CLI's own command table
(awscli), which derives them from the operation names and applies the CLI's
renames (s3 -> s3api, config -> configservice, codedeploy -> deploy).

The output is deterministic for a given botocore and awscli version and date
argument: keys are sorted and the gzip header carries no timestamp and no file
name.
"""
import gzip
import io
import json
import sys

import awscli
import botocore
import botocore.session
from awscli.clidriver import create_clidriver
from botocore import xform_name

# IAM service prefixes that neither signingName nor endpointPrefix gives.
# Each was checked against the Service Authorization Reference
# (docs.aws.amazon.com/service-authorization/latest/reference/).
PREFIX_EXCEPTIONS = {
    "cloudwatch": "cloudwatch",        # endpoint "monitoring", no signingName
    "iot-data": "iot",                 # signs as "iotdata"
    "iotsecuretunneling": "iot",       # signs as "IoTSecuredTunneling"
    "iot-jobs-data": "iotjobsdata",    # signs as "iot-jobs-data"
    "iotevents-data": "iotevents",     # signs as "ioteventsdata"
    "resourcegroupstaggingapi": "tag", # endpoint "tagging"
    "mturk": "mechanicalturk",         # endpoint "mturk-requester"
    "stepfunctions": "states",         # endpoint "states"; stated to be checked
}


# Options the sync strategies add to "aws s3 sync" when the CLI builds its
# argument table (awscli/customizations/s3/syncstrategy), which a command
# object outside a running CLI does not show.
SYNC_STRATEGY_FLAGS = ["delete", "exact-timestamps", "size-only"]


def s3_options(s3):
    """How many words each option of each high-level s3 command takes.

    0 for a flag, a number for a fixed count, "?" for an optional value and
    "+" for one or more: the two the gateway cannot split without knowing
    what follows, so it refuses them.
    """
    out = {}
    for name, cmd in sorted(s3.subcommand_table.items()):
        opts = {}
        for arg_name, arg in cmd.arg_table.items():
            if getattr(arg, "positional_arg", False):
                continue
            action = getattr(arg, "_action", None)
            nargs = getattr(arg, "nargs", None)
            if action in ("store_true", "store_false"):
                opts[arg_name] = 0
            elif nargs in ("?", "+"):
                opts[arg_name] = nargs
            elif isinstance(nargs, int):
                opts[arg_name] = nargs
            else:
                opts[arg_name] = 1
        if name == "sync":
            for f in SYNC_STRATEGY_FLAGS:
                opts[f] = 0
        out[name] = opts
    return out


def main(out_path, date):
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    driver = create_clidriver()
    table = driver._get_command_table()
    # boto3 service name -> (cli service name, {cli op name: operation})
    cli = {}
    for cli_name, cmd in table.items():
        model = getattr(cmd, "service_model", None)
        if model is None:
            continue
        ops = {}
        for op_cli, op_cmd in cmd._get_command_table().items():
            om = getattr(op_cmd, "_operation_model", None)
            if om is not None:
                ops[op_cli] = om.name
        prev = cli.get(model.service_name)
        # runtime.sagemaker is a deprecated alias of sagemaker-runtime: keep
        # the name that equals the boto3 name when there are two.
        if prev is None or cli_name == model.service_name:
            cli[model.service_name] = (cli_name, ops)

    services = {}
    for name in session.get_available_services():
        model = loader.load_service_model(name, "service-2")
        md = model["metadata"]
        prefix = PREFIX_EXCEPTIONS.get(name) or md.get("signingName") or md["endpointPrefix"]
        ops = sorted(model["operations"])
        entry = {"prefix": prefix, "ops": ops}
        if name in cli:
            cli_name, cli_ops = cli[name]
            entry["cli"] = cli_name
            # The CLI name of each operation, parallel to ops ("" for an
            # operation the CLI does not offer, such as event streams).
            names = {}
            for k, v in sorted(cli_ops.items()):
                names.setdefault(v, []).append(k)
            own, extra = {}, {}
            for op, ks in names.items():
                # The name derived from the operation wins; other names of
                # the same operation are extra (rds
                # remove-option-from-option-group is ModifyOptionGroup).
                main_name = xform_name(op, "-") if xform_name(op, "-") in ks else ks[0]
                own[op] = main_name
                for k in ks:
                    if k != main_name:
                        extra[k] = op
            entry["cli_ops"] = [own.get(o, "") for o in ops]
            if extra:
                entry["cli_extra"] = dict(sorted(extra.items()))
        services[name] = entry

    doc = {
        "s3_options": s3_options(table["s3"]),
        "generated": date,
        "botocore": botocore.__version__,
        "awscli": awscli.__version__,
        "services": services,
    }
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    with open(out_path, "wb") as f:
        f.write(buf.getvalue())
    print(f"{out_path}: {len(services)} services, "
          f"{sum(len(s['ops']) for s in services.values())} operations, "
          f"{len(raw)} bytes JSON, {len(buf.getvalue())} bytes gzip "
          f"(botocore {botocore.__version__}, awscli {awscli.__version__})")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: gen.py OUT.json.gz YYYY-MM-DD")
    main(sys.argv[1], sys.argv[2])
