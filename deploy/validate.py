#!/usr/bin/env python3
"""Validates the deployment artifacts: deploy/compose.yaml against the Compose specification's
schema, and every manifest in deploy/k8s/ against Kubernetes' schemas (kubernetes-validate, strict:
an unknown field is an error) or, for CloudNativePG's kinds, against their CRDs' schemas (also
strict, as the API server's strict field validation is). Prints one line per document; exit 1 when
any fails. Run through deploy/validate.sh, which provides the pinned packages."""

import gzip
import json
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES = "1.33.0"
HERE = pathlib.Path(__file__).resolve().parent
SCHEMAS = HERE / "schemas"


def unknown_fields(value, schema, path):
    """Fields the schema does not declare, where it declares fields and keeps no unknown ones."""
    found = []
    if isinstance(value, dict) and isinstance(schema, dict):
        props = schema.get("properties")
        keeps = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get("additionalProperties")
        for key, item in value.items():
            if props is not None and key in props:
                found += unknown_fields(item, props[key], f"{path}.{key}")
            elif isinstance(keeps, dict):
                found += unknown_fields(item, keeps, f"{path}.{key}")
            elif props is not None and not keeps:
                found.append(f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema, dict) and isinstance(schema.get("items"), dict):
        for n, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{n}]")
    return found


def crd_schemas():
    schemas = {}
    for path in SCHEMAS.glob("cnpg-*.json.gz"):
        with gzip.open(path, "rt") as f:
            crd = json.load(f)
        schemas[(crd["apiVersion"], crd["kind"])] = crd["schema"]
    return schemas


def check_manifest(doc, crds):
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in crds:
        schema = crds[key]
        errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]
        errors += [f"unknown field {f}" for f in unknown_fields(doc, schema, "")]
        return errors
    try:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{'.'.join(str(p) for p in e.path)}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [f"no schema for {key}: {e}"]
    return []


def main():
    failed = 0
    compose = yaml.safe_load((HERE / "compose.yaml").read_text())
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    errors = [f"{'.'.join(str(p) for p in e.path)}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(compose)]
    print(f"{'FAIL' if errors else 'ok  '} compose.yaml" + "".join(f"\n     {e}" for e in errors))
    failed += bool(errors)

    crds = crd_schemas()
    for path in sorted((HERE / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            errors = check_manifest(doc, crds)
            name = f"{path.name}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            print(f"{'FAIL' if errors else 'ok  '} {name}" + "".join(f"\n     {e}" for e in errors))
            failed += bool(errors)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
