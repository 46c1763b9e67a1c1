#!/usr/bin/env bash
# Lint and validate everything ShopAI ships for deployment, with the ecosystem's own tools
# (installed into the venv by scripts/setup.sh): hadolint (Dockerfile), kubernetes-validate
# (deploy/k8s against a pinned Kubernetes version), the SpinKube SpinApp against its CRD schema
# when one is available offline, cfn-lint and checkov (CloudFormation, Kubernetes, Dockerfile).
# Exits non-zero on any finding; checkov findings are either fixed or skipped inline with a reason.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
VENV_BIN="$SHOPAI_VENV/bin"
# The Kubernetes version the manifests are validated against (kubernetes-validate's schemas).
K8S_VERSION="${SHOPAI_K8S_VERSION:-1.33.0}"

step "hadolint Dockerfile"
"$VENV_BIN/hadolint" --failure-threshold info Dockerfile

step "kubernetes-validate (Kubernetes $K8S_VERSION, strict: unknown fields are errors)"
# SpinApp is a CRD: kubernetes-validate has no schema for it (checked below instead).
"$SHOPAI_PYTHON" - "$K8S_VERSION" deploy/k8s/*.yaml <<'PY'
import sys, yaml, kubernetes_validate
version, files = sys.argv[1], sys.argv[2:]
failed = checked = 0
for path in files:
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if not doc:
                continue
            kind = f"{doc.get('apiVersion')}/{doc.get('kind')} {doc.get('metadata', {}).get('name')}"
            if doc.get("apiVersion", "").startswith("core.spinkube.dev/"):
                continue
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                checked += 1
            except kubernetes_validate.ValidationError as e:
                failed += 1
                print(f"{path}: {kind}: {e.message} at {'/'.join(map(str, e.path))}", file=sys.stderr)
            except kubernetes_validate.SchemaNotFoundError as e:
                failed += 1
                print(f"{path}: {kind}: no schema in Kubernetes {version}: {e}", file=sys.stderr)
print(f"{checked} Kubernetes objects valid against {version}, {failed} invalid")
sys.exit(1 if failed else 0)
PY

step "SpinApp against the spin-operator CRD schema"
# The CRD (core.spinkube.dev_spinapps.yaml, in spin-operator's release assets as
# spin-operator.crds.yaml) is not in any package registry; point SHOPAI_SPINAPP_CRD at a copy to
# validate. Without it the SpinApp is NOT validated against its schema (only parsed), and this says so.
"$SHOPAI_PYTHON" - "${SHOPAI_SPINAPP_CRD:-}" deploy/k8s/edge-spinapp.yaml <<'PY'
import sys, yaml, jsonschema
crd_path, path = sys.argv[1], sys.argv[2]
apps = [d for d in yaml.safe_load_all(open(path)) if d and d.get("kind") == "SpinApp"]
assert apps, f"no SpinApp in {path}"
if not crd_path:
    print(f"SpinApp NOT validated against its CRD: no schema offline (set SHOPAI_SPINAPP_CRD); {len(apps)} parsed")
    sys.exit(0)
crds = [d for d in yaml.safe_load_all(open(crd_path)) if d and d.get("kind") == "CustomResourceDefinition"
        and d["spec"]["names"]["kind"] == "SpinApp"]
assert crds, f"{crd_path} has no SpinApp CRD"
failed = 0
for app in apps:
    group, version = app["apiVersion"].split("/")
    assert crds[0]["spec"]["group"] == group, f"CRD group {crds[0]['spec']['group']} != {group}"
    schema = next(v["schema"]["openAPIV3Schema"] for v in crds[0]["spec"]["versions"] if v["name"] == version)
    def closed(s):
        # Structural CRD schemas prune unknown fields; reject them here so typos do not pass silently.
        if isinstance(s, dict):
            if s.get("type") == "object" and "properties" in s and "additionalProperties" not in s \
                    and not s.get("x-kubernetes-preserve-unknown-fields"):
                s["additionalProperties"] = False
            for v in s.values():
                closed(v)
        elif isinstance(s, list):
            for v in s:
                closed(v)
        return s
    schema = closed(schema)
    schema["properties"]["metadata"] = {"type": "object"}
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(app))
    for e in errors:
        print(f"{path}: SpinApp {app['metadata']['name']}: {e.message} at {'/'.join(map(str, e.path))}", file=sys.stderr)
    failed += bool(errors)
print(f"{len(apps) - failed} SpinApp valid against {crd_path} ({version}), {failed} invalid")
sys.exit(1 if failed else 0)
PY

step "cfn-lint deploy/aws"
"$VENV_BIN/cfn-lint" deploy/aws/*.yaml

step "checkov (CloudFormation, Kubernetes, Dockerfile)"
# No platform account: skip the guideline download so the scan runs offline.
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false
"$SHOPAI_CHECKOV_VENV/bin/checkov" --quiet --compact --skip-download --framework cloudformation kubernetes -d deploy
"$SHOPAI_CHECKOV_VENV/bin/checkov" --quiet --compact --skip-download --framework dockerfile -f Dockerfile
step "deploy lint: all clean"
