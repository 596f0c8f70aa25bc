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
import re
from pathlib import Path

FRAMEWORKS: dict[str, str] = {
    "torch": "impls.torch:TorchFramework",
    "tensorflow": "impls.tensorflow:TensorflowFramework",
    "mxnet": "impls.mxnet:MxnetFramework",
    "jax": "impls.jax:JaxFramework",
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


VERSION_SEP = "@"
_VERSION = re.compile(r"[0-9][0-9A-Za-z.+!]*")
# name[extras] and, where pinned exactly, its ==version; the rest of the line (a cap, a marker) after.
_REQUIREMENT = re.compile(r"([A-Za-z0-9_.-]+(?:\[[^]]*\])?)\s*(?:==\s*([^,;\s]+))?(.*)")


def split_entry(entry: str) -> tuple[str, str | None]:
    """``"torch@2.13.0"`` -> ``("torch", "2.13.0")``; ``"torch"`` -> ``("torch", None)`` (its pins)."""
    name, sep, version = entry.partition(VERSION_SEP)
    return name, (version if sep else None)


def check_name(name: str) -> str:
    """Return ``name`` if it is a registered framework, or ``name@version`` of one (a framework at
    that release of its own distribution), else fail naming the valid ones."""
    table = registry()
    base, version = split_entry(name)
    if base not in table:
        raise ValueError(f"unknown framework {base!r}; choose one of: {', '.join(sorted(table))}")
    if version is not None and not _VERSION.fullmatch(version):
        raise ValueError(
            f"{name!r} names no version after '{VERSION_SEP}'; write it as {base}{VERSION_SEP}<version>, "
            f"e.g. {base}{VERSION_SEP}{main_pin(base)[1] or '1.0'}"
        )
    return name


def load_class(name: str) -> type:
    """Import and return the framework class registered as ``name`` (or ``name@version``: the same
    class, run in that version's environment; imports the framework)."""
    base = split_entry(check_name(name))[0]
    module_name, _, class_name = registry()[base].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if cls.NAME != base:
        raise RuntimeError(f"{module_name}.{class_name}.NAME is {cls.NAME!r}, registered as {base!r}")
    return cls


def framework_folder(name: str) -> Path:
    """The folder of a registered framework (``name`` or ``name@version``): ``impls/<folder>``."""
    module_name = registry()[split_entry(check_name(name))[0]].partition(":")[0]
    return Path(__file__).resolve().parent.parent.joinpath(*module_name.split("."))


def requirements_file(name: str, gpu: bool = False) -> Path:
    """Return the pin file of a registered framework: ``impls/<folder>/requirements.txt``, or with
    ``gpu`` its ``requirements-gpu.txt`` where the folder has one (the CUDA build's pins). For
    ``name@version``: ``impls/<folder>/versions/<version>.txt`` (``<version>-gpu.txt`` with ``gpu``)
    where that file exists, else the default pins (``version_pins`` then derives the version's pins)."""
    folder = framework_folder(name)
    version = split_entry(name)[1]
    if version is not None:
        for candidate in ([f"{version}-gpu.txt"] if gpu else []) + [f"{version}.txt"]:
            if (folder / "versions" / candidate).is_file():
                return folder / "versions" / candidate
    if gpu and (folder / "requirements-gpu.txt").is_file():
        return folder / "requirements-gpu.txt"
    return folder / "requirements.txt"


def pinned_versions(name: str) -> list[str]:
    """The versions of a framework that have a pin file of their own (``impls/<folder>/versions/``)."""
    folder = framework_folder(name) / "versions"
    found = (
        {p.stem for p in folder.glob("*.txt") if not p.stem.endswith("-gpu")} if folder.is_dir() else set()
    )
    return sorted(found, key=_version_key)


def _version_key(version: str) -> tuple:
    return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[.+]", version))


def main_pin(name: str) -> tuple[str, str | None]:
    """The framework's own distribution and its default pinned version: the first requirement of
    ``requirements.txt`` (``torch==2.14.1`` -> ``("torch", "2.14.1")``; version None if not ``==X``).
    ``name@version`` names a version of this distribution."""
    path = requirements_file(split_entry(name)[0])
    first = pins(path)[0]
    match = _REQUIREMENT.fullmatch(first)
    if not match:
        raise ValueError(f"{path}: its first requirement {first!r} names no distribution")
    return match.group(1).partition("[")[0], match.group(2)


FOLLOWS = "# follows"


def version_pins(entry: str, gpu: bool = False) -> list[str]:
    """The requirement lines that build ``entry``'s environment. ``name``, or a version with its own
    pin file (``impls/<folder>/versions/<version>.txt``): that file's lines. Any other
    ``name@version``: the default pins with the framework's own distribution (the first line) set to
    ``==version``; a companion pinned to the same version (jaxlib beside jax) moves with it; a
    companion marked ``# follows`` (torchvision, flax, optax, grain: built for the framework's
    release) is left to pip to choose, the newest compatible with that version; every other line
    (Keras's backend, numpy's cap) keeps its pin. The default pin's own version gives the default pins."""
    name, version = split_entry(check_name(entry))
    path = requirements_file(entry, gpu)
    if version is None or path.parent.name == "versions":
        return pins(path)
    default = main_pin(name)[1]
    if version == default:  # the default pin itself: the default pins, companions and all
        return pins(path)
    out: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.partition("#")[0].strip()
        match = _REQUIREMENT.fullmatch(line)
        if not line or not match or line.startswith("-"):
            out += [line] if line else []
        elif not out or all(o.startswith("-") for o in out):
            out.append(f"{match.group(1)}=={version}")
        elif default is not None and match.group(2) == default:
            out.append(f"{match.group(1)}=={version}")
        else:
            out.append(match.group(1) if FOLLOWS in raw else line)
    return out


REQUIRES_PYTHON = "# requires-python:"


def python_requirement(name: str) -> str:
    """The Pythons a framework runs on: the PEP 440 specifier set its pin file declares on a comment
    line ``# requires-python: >=3.11,<3.14`` (read as text; nothing is imported or evaluated). A
    version's pin file without that line runs where the default pins do."""
    path = requirements_file(name)
    if path.parent.name == "versions" and REQUIRES_PYTHON not in path.read_text():
        path = requirements_file(split_entry(name)[0])
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
