"""Each package declares what its source imports: every third-party import (module level or inside a function)
maps to a distribution in its pyproject's dependencies or one of its extras, or is a guarded optional import
listed below. The layers hold: ddp-core imports no framework, domain packages do not import each other."""

from __future__ import annotations

import ast
import pathlib
import sys
from importlib.metadata import packages_distributions

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest requires tomli there
    import tomli as tomllib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("ddp-core", "ddp-vision", "ddp-bert", "ddp-seg")
# Imports inside try/except ImportError with a working fallback: not dependencies.
OPTIONAL = {
    "ddp-core": {"tqdm": "ddp_core.progress falls back to plain progress lines"},
    "ddp-vision": {"timm": "ddp_vision.timm_models registers with timm only when find_spec('timm') finds it"},
}


def imports_of(package: str) -> dict[str, set[str]]:
    """Top-level module name -> files of ``package``'s source that import it (stdlib and itself left out)."""
    module = package.replace("-", "_")
    source = REPO_ROOT / "packages" / package / "src"
    found: dict[str, set[str]] = {}
    for path in sorted((source / module).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != module:
                    found.setdefault(top, set()).add(str(path.relative_to(source)))
    return found


def declared(package: str) -> dict[str, str]:
    """Normalised distribution name -> where it is declared ("dependencies" or "extra NAME")."""
    project = tomllib.loads((REPO_ROOT / "packages" / package / "pyproject.toml").read_text())["project"]
    names = {Requirement(r).name.lower().replace("_", "-"): "dependencies" for r in project.get("dependencies", [])}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        for r in requirements:
            names.setdefault(Requirement(r).name.lower().replace("_", "-"), f"extra {extra}")
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_every_import_is_a_declared_dependency(package):
    provided_by = packages_distributions()
    requirements = declared(package)
    missing = []
    for module, files in sorted(imports_of(package).items()):
        if module in OPTIONAL.get(package, {}):
            continue
        if module.startswith("ddp_"):
            distributions = [module.replace("_", "-")]
        else:
            distributions = [d.lower().replace("_", "-") for d in provided_by.get(module, [])]
        assert distributions, f"{module} (imported by {sorted(files)}) is provided by no installed distribution"
        if not set(distributions) & set(requirements):
            missing.append(f"{module} ({' or '.join(distributions)}; imported by {', '.join(sorted(files))})")
    assert not missing, f"{package}/pyproject.toml does not declare: {'; '.join(missing)}"


def test_layers_hold_and_tensorboard_is_where_the_logging_is():
    core = imports_of("ddp-core")
    assert set(core) <= {"numpy", "matplotlib", "tqdm"}, f"ddp-core must stay framework-free: {sorted(core)}"
    assert not {"ddp_bert", "ddp_seg"} & set(imports_of("ddp-vision"))
    assert not {"ddp_vision", "ddp_seg"} & set(imports_of("ddp-bert"))
    assert "tensorboard" not in declared("ddp-core")
    for package in ("ddp-vision", "ddp-bert"):
        assert declared(package).get("tensorboard") == "dependencies", package  # --report-to tensorboard default
    assert declared("ddp-vision").get("onnx") == "extra onnx"
