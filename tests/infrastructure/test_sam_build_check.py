"""The check ``make sam-build`` runs on ``.aws-sam/build``, fed good and broken builds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.infrastructure.sam_build_check import build_findings, runtime_modules

BUILT_TEMPLATE = """\
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: SharedLayer
  RateCallFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: RateCallFunction
      Layers:
        - Ref: SharedLayer
"""
MODULES = ["aws_lambda_powertools", "yaml", "six"]


def good_build(root: Path) -> Path:
    """The shape sam build leaves: a built template, the layer's python/, each function."""
    (root / "template.yaml").write_text(BUILT_TEMPLATE, encoding="utf-8")
    python = root / "SharedLayer" / "python"
    for package in ("shared", "aws_lambda_powertools", "yaml", "pydantic_core"):
        (python / package).mkdir(parents=True)
        (python / package / "__init__.py").write_text("", encoding="utf-8")
    (python / "six.py").write_text("", encoding="utf-8")
    (python / "pydantic_core" / "_pydantic_core.cpython-312-x86_64-linux-gnu.so").write_bytes(b"")
    # the rating fast path's source stays (Python runs it); its Cython types come along unused
    (python / "shared" / "services").mkdir()
    (python / "shared" / "services" / "native_batches.py").write_text("", encoding="utf-8")
    (python / "shared" / "services" / "native_batches.pxd").write_text("", encoding="utf-8")
    (root / "RateCallFunction").mkdir()
    (root / "RateCallFunction" / "app.py").write_text("def handler(event, context): ...\n")
    return root


def test_a_complete_build_passes(tmp_path: Path) -> None:
    assert build_findings(good_build(tmp_path), MODULES) == []


def remove(relative: str) -> Callable[[Path], None]:
    def spoil(root: Path) -> None:
        target = root / relative
        if target.is_dir():
            for path in sorted(target.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
            target.rmdir()
        else:
            target.unlink()
    return spoil


def add_shared_to_function(root: Path) -> None:
    (root / "RateCallFunction" / "shared").mkdir()


def wrong_platform(root: Path) -> None:
    core = root / "SharedLayer" / "python" / "pydantic_core"
    (core / "_pydantic_core.cpython-312-x86_64-linux-gnu.so").rename(
        core / "_pydantic_core.cpython-312-darwin.so"
    )


def host_built(name: str) -> Callable[[Path], None]:
    """The layer also carries a product of setup.py's compiled build of the fast path."""
    def spoil(root: Path) -> None:
        services = root / "SharedLayer" / "python" / "shared" / "services"
        (services / name).write_bytes(b"")
    return spoil


@pytest.mark.parametrize(("spoil", "expected"), [
    (remove("template.yaml"), "missing (did sam build run?)"),
    (remove("SharedLayer/python/shared"), "SharedLayer: python/shared/__init__.py missing"),
    (remove("SharedLayer/python/yaml"), "SharedLayer: runtime dependency yaml missing"),
    (remove("SharedLayer/python/six.py"), "SharedLayer: runtime dependency six missing"),
    (wrong_platform, "SharedLayer: pydantic_core built for _pydantic_core.cpython-312-darwin.so"),
    (remove("RateCallFunction/app.py"), "RateCallFunction: "),
    (add_shared_to_function, "RateCallFunction: carries its own shared/"),
    (
        host_built("native_batches.cpython-312-x86_64-linux-gnu.so"),
        "SharedLayer: python/shared carries host build products",
    ),
    (host_built("native_batches.c"), "SharedLayer: python/shared carries host build products"),
])
def test_a_broken_build_is_caught(
    tmp_path: Path, spoil: Callable[[Path], None], expected: str
) -> None:
    root = good_build(tmp_path)

    spoil(root)

    (finding,) = build_findings(root, MODULES)
    assert expected in finding


def test_the_layer_must_hold_every_runtime_dependency_of_pyproject() -> None:
    # pyproject's [project] dependencies, by the module each installs
    modules = runtime_modules()

    assert {"aws_lambda_powertools", "pydantic", "pydantic_settings", "stripe", "yaml"} <= set(
        modules
    )
    assert "moto" not in modules and "pytest" not in modules  # dev-only, never in the layer
