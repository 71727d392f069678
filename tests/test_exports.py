"""The declared public surface: every module says its job and declares ``__all__`` truthfully,
and the light entry points stay light."""

from __future__ import annotations

import importlib
import importlib.resources
import pkgutil
import subprocess
import sys

import pytest

import rlnc_testbed

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(rlnc_testbed.__path__, prefix="rlnc_testbed.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_module_has_a_docstring_and_a_true_all(name: str) -> None:
    module = importlib.import_module(name)
    assert (module.__doc__ or "").strip(), f"{name} has no docstring saying its job"
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} declares no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"


def test_the_package_ships_type_information() -> None:
    assert importlib.resources.files("rlnc_testbed").joinpath("py.typed").is_file()


@pytest.mark.parametrize(
    "module", ["rlnc_testbed", "rlnc_testbed.coding", "rlnc_testbed.wire", "rlnc_testbed.protocol"]
)
def test_light_imports_pull_no_network_stack_or_oracle(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "heavy = [m for m in ('aiortc', 'aiohttp', 'galois', 'numba', 'matplotlib') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import {module} pulled in {out.stdout.strip()}"
