"""What ``sam build`` must have produced for Lambda to run the code: run after the build.

``make sam-build`` calls ``python -m tests.infrastructure.sam_build_check .aws-sam/build``.
Lambda adds ``/opt/python`` to ``sys.path``, so the layer must carry ``python/shared`` and every
runtime dependency as Linux x86_64 CPython 3.12 code; each function's artifact carries its
``app.py`` and must not carry a second ``shared`` that would shadow the layer's. The checks
return findings (see ``test_sam_build_check``, which feeds them broken builds).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

from shared.local.stack import load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Lambda's limit for a function and its layers, unzipped
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
#: what setup.py's optional compiled build of the rating fast path leaves beside
#: native_batches.py: built for the build host's glibc, never run in Lambda (no `billing rate`
#: there), so never shipped in the layer, which runs the .py itself
HOST_BUILD_PRODUCTS = ("*.so", "*.c")
#: distribution name -> the module it installs, where they differ
MODULE_OF = {"aws-lambda-powertools": "aws_lambda_powertools", "pyyaml": "yaml",
             "pydantic-settings": "pydantic_settings"}


def runtime_modules(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """The top-level modules of pyproject's runtime dependencies, which the layer must hold."""
    with pyproject.open("rb") as stream:
        dependencies = tomllib.load(stream)["project"]["dependencies"]
    names = [dep.split("==")[0].split("[")[0].strip().lower() for dep in dependencies]
    return [MODULE_OF.get(name, name.replace("-", "_")) for name in names]


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def build_findings(build_dir: Path, modules: list[str]) -> list[str]:
    """Problems with the build under ``build_dir`` (empty: Lambda can run it)."""
    built = build_dir / "template.yaml"
    if not built.is_file():
        return [f"{built}: missing (did sam build run?)"]
    resources: dict[str, Any] = load_template(built)["Resources"]
    findings: list[str] = []
    layer_bytes = 0
    layers = {n: r for n, r in resources.items() if r["Type"] == "AWS::Serverless::LayerVersion"}
    if not layers:
        findings.append(f"{built}: no layer")
    for name, layer in layers.items():
        python = build_dir / str(layer["Properties"]["ContentUri"]) / "python"
        if not (python / "shared" / "__init__.py").is_file():
            findings.append(f"{name}: python/shared/__init__.py missing (Lambda reads /opt/python)")
        findings += [
            f"{name}: runtime dependency {module} missing from python/"
            for module in modules
            if not (python / module).is_dir() and not (python / f"{module}.py").is_file()
        ]
        compiled = list(python.glob("pydantic_core/_pydantic_core.*.so"))
        if compiled and not all("cpython-312-x86_64-linux-gnu" in c.name for c in compiled):
            findings.append(f"{name}: pydantic_core built for {compiled[0].name}, not 3.12 x86_64")
        host_built = sorted(
            path.name
            for pattern in HOST_BUILD_PRODUCTS
            for path in (python / "shared").rglob(pattern)
        )
        if host_built:
            findings.append(f"{name}: python/shared carries host build products {host_built}")
        if python.is_dir():
            layer_bytes += _size(python)
    for name, function in resources.items():
        if function["Type"] != "AWS::Serverless::Function":
            continue
        code = build_dir / str(function["Properties"]["CodeUri"])
        app = code / "app.py"
        if not app.is_file() or "def handler(" not in app.read_text(encoding="utf-8"):
            findings.append(f"{name}: {app} missing or without handler()")
        if (code / "shared").exists():
            findings.append(f"{name}: carries its own shared/, which would shadow the layer's")
        if code.is_dir() and _size(code) + layer_bytes > UNZIPPED_LIMIT_BYTES:
            findings.append(f"{name}: code and layers exceed Lambda's 250 MB unzipped")
    return findings


def main(argv: list[str]) -> int:
    build_dir = Path(argv[1]) if len(argv) > 1 else REPO_ROOT / ".aws-sam" / "build"
    findings = build_findings(build_dir, runtime_modules())
    for finding in findings:
        print(f"sam build check: {finding}", file=sys.stderr)
    if not findings:
        print(f"sam build check: {build_dir} has the layer at python/shared and every handler")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
