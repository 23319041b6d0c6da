"""Drives the real Helm SDK (PyPI `helm-python-sdk`) for the operator's Rust tests.

  chart.py lint CHART_DIR                     -> prints lint result JSON; exit 1 on errors
  chart.py render CHART_DIR [VALUES_JSON]     -> prints CRDs + rendered templates as one YAML stream
  chart.py install CHART_DIR KUBECONFIG NAMESPACE RELEASE [VALUES_JSON]
  chart.py uninstall KUBECONFIG NAMESPACE RELEASE
"""
import json
import sys

import helm_python


def lint(chart_dir):
    result = helm_python.lint(chart_dir, strict=True)
    print(json.dumps(result, default=str, indent=1))
    messages = result.get("messages") or result.get("Messages") or []
    # Helm severities: 1 info, 2 warning, 3 error.
    errors = [m for m in messages if int(m.get("severity", 0)) >= 2]
    if errors or result.get("errors") or result.get("Errors"):
        sys.exit(1)


def render(chart_dir, values):
    chart = helm_python.Chart.load(chart_dir)
    docs = []
    for crd in sorted(chart.crds, key=lambda c: c["name"] if isinstance(c, dict) else str(c)):
        data = crd.get("data") if isinstance(crd, dict) else crd
        if isinstance(data, bytes):
            data = data.decode()
        docs.append(data.strip() + "\n")
    rendered = chart.render(values, name="eddy", namespace="eddy-system", is_install=True)
    for path in sorted(rendered):
        text = rendered[path].strip()
        if path.endswith("NOTES.txt") or not text:
            continue
        docs.append(f"# Source: {path}\n{text}\n")
    sys.stdout.write("---\n".join(docs))


def install(chart_dir, kubeconfig, namespace, release, values):
    cfg = helm_python.Config(kubeconfig_path=kubeconfig, namespace=namespace)
    chart = helm_python.Chart.load(chart_dir)
    rel = cfg.install(chart, release, values=values, namespace=namespace, create_namespace=True)
    print(json.dumps({"release": release, "status": str(getattr(rel, "status", rel))}, default=str))


def uninstall(kubeconfig, namespace, release):
    cfg = helm_python.Config(kubeconfig_path=kubeconfig, namespace=namespace)
    cfg.uninstall(release, ignore_not_found=True)


def main(argv):
    cmd = argv[1]
    if cmd == "lint":
        lint(argv[2])
    elif cmd == "render":
        render(argv[2], json.loads(argv[3]) if len(argv) > 3 else {})
    elif cmd == "install":
        install(argv[2], argv[3], argv[4], argv[5], json.loads(argv[6]) if len(argv) > 6 else {})
    elif cmd == "uninstall":
        uninstall(argv[2], argv[3], argv[4])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
