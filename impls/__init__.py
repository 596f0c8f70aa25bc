"""Framework implementations, one folder each. This registry is the only list of them.

Each entry maps the framework's NAME to ``module:Class``. Its pins live beside it in
``impls/<folder>/requirements.txt``, with the Pythons they install on in a line
``# requires-python: >=3.11,<3.14`` (nox picks each environment's interpreter by it); the harness,
nox and the conformance tests read this table, so adding a framework means one folder, one line
here and its pins. Importing this module imports no framework.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

FRAMEWORKS: dict[str, str] = {
    "torch": "impls.torch:TorchFramework",
    "tensorflow": "impls.tensorflow:KerasFramework",
    "mxnet": "impls.mxnet:GluonFramework",
    "jax": "impls.jax:FlaxFramework",
    "paddle": "impls.paddle:PaddleFramework",
    "keras-jax": "impls.keras_jax:KerasJaxFramework",
    "keras-torch": "impls.keras_torch:KerasTorchFramework",
    "mlx": "impls.mlx:MlxFramework",
}

# Extra implementations for tests and plug-ins: "name=module:Class,name2=module2:Class2".
EXTRA_ENV_VAR = "FRAMEBENCH_EXTRA_FRAMEWORKS"


def registry() -> dict[str, str]:
    """Return the registry plus any plug-ins named in $FRAMEBENCH_EXTRA_FRAMEWORKS."""
    table = dict(FRAMEWORKS)
    for item in filter(None, os.environ.get(EXTRA_ENV_VAR, "").split(",")):
        name, _, target = item.partition("=")
        table[name.strip()] = target.strip()
    return table


def check_name(name: str) -> str:
    """Return ``name`` if it is a registered framework, else fail naming the valid ones."""
    table = registry()
    if name not in table:
        raise ValueError(f"unknown framework {name!r}; choose one of: {', '.join(sorted(table))}")
    return name


def load_class(name: str) -> type:
    """Import and return the framework class registered as ``name`` (imports the framework)."""
    module_name, _, class_name = registry()[check_name(name)].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if cls.NAME != name:
        raise RuntimeError(f"{module_name}.{class_name}.NAME is {cls.NAME!r}, registered as {name!r}")
    return cls


def requirements_file(name: str, gpu: bool = False) -> Path:
    """Return the pin file of a registered framework: ``impls/<folder>/requirements.txt``, or with
    ``gpu`` its ``requirements-gpu.txt`` where the folder has one (the CUDA build's pins)."""
    module_name = registry()[check_name(name)].partition(":")[0]
    folder = Path(__file__).resolve().parent.parent.joinpath(*module_name.split("."))
    if gpu and (folder / "requirements-gpu.txt").is_file():
        return folder / "requirements-gpu.txt"
    return folder / "requirements.txt"


REQUIRES_PYTHON = "# requires-python:"


def python_requirement(name: str) -> str:
    """The Pythons a framework runs on: the PEP 440 specifier set its pin file declares on a comment
    line ``# requires-python: >=3.11,<3.14`` (read as text; nothing is imported or evaluated)."""
    path = requirements_file(name)
    for line in path.read_text().splitlines():
        if line.strip().startswith(REQUIRES_PYTHON):
            spec = line.strip()[len(REQUIRES_PYTHON) :].strip()
            if spec:
                return spec
    raise ValueError(
        f"{path} declares no Python: add a line '{REQUIRES_PYTHON} >=3.11,<3.14' (the Python versions "
        f"its pins install on, as a PEP 440 specifier set)"
    )


def pins(path: Path) -> list[str]:
    """The requirement lines of a pin file, comments and blank lines left out."""
    lines = (line.partition("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]
