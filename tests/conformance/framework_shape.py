"""One folder shape for every framework (impls/ADDING_A_FRAMEWORK.md §1), checked from the files alone:
nothing is imported, so it runs in any environment, for one framework or for the whole registry.

A registered folder ``impls/<folder>/`` holds

``__init__.py``       the Framework class, named after the registry key (``keras-jax``: ``KerasJaxFramework``)
``models.py``         the networks, in the framework's own idiom
``training.py``       the Model class: train step, epoch loop, evaluation
``baseline.py``       the reference loops of ``nox -s baseline`` (``plain_epochs``, ``skilled_epochs``)
``requirements.txt``  its pins
``test_<folder>.py``  its own tests

and, where it has them, ``native.py`` (the native input pipeline, class ``NativeInput``; required when
the Model has ``native_input``), ``runtime.py`` (devices, versions, why there is no GPU),
``requirements-gpu.txt``, ``profile.py`` (a profiler entry point) and more ``test_*.py``. A folder
named ``*_common`` is code shared by frameworks (no registry entry): it uses the same module names,
where they apply, and has no Framework class. Every problem is one line that names the fix.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REQUIRED = {
    "__init__.py": "the Framework class",
    "models.py": "the networks (the models in the framework's own idiom)",
    "training.py": "the Model class (train step, epoch loop, evaluation)",
    "baseline.py": "the reference loops plain_epochs / skilled_epochs (bench.loops)",
    "requirements.txt": "the framework's pins",
}
OPTIONAL = {
    "native.py": "the native input pipeline (class NativeInput)",
    "runtime.py": "devices, versions, why there is no GPU",
    "requirements-gpu.txt": "the GPU build's pins",
    "profile.py": "a profiler entry point",
}
NATIVE_CLASS = "NativeInput"
SHARED_SUFFIX = "_common"
# Names frameworks used before the folders had one shape, and where their code goes now.
RENAMES = {
    "nnx_models.py": "models.py (the networks) and training.py (the Model class)",
    "gluon.py": "models.py, native.py, training.py and runtime.py, one job each",
    "no_gpu.py": "runtime.py",
    "net.py": "training.py",
    "fit.py": "training.py",
}


def framework_class_name(key: str) -> str:
    """The Framework class a registry key asks for: ``keras-jax`` -> ``KerasJaxFramework``."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", key) if part) + "Framework"


def _classes(path: Path) -> set[str]:
    return {node.name for node in ast.parse(path.read_text()).body if isinstance(node, ast.ClassDef)}


def _defines_method(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(node, ast.FunctionDef) and node.name == name for node in ast.walk(tree))


def _file_problems(folder: Path, where: str, allowed: set[str]) -> list[str]:
    problems = []
    for path in sorted(folder.iterdir()):
        name = path.name
        if path.is_dir() or name.startswith(".") or name.startswith("test_") or name in allowed:
            continue
        if name in RENAMES:
            problems.append(f"{where}{name}: rename it, its code goes to {RENAMES[name]}")
        else:
            names = ", ".join(sorted(allowed))
            problems.append(
                f"{where}{name} is not one of a framework folder's file names ({names}, test_*.py): "
                "rename it to the one whose job it does, or fold it into that module"
            )
    return problems


def folder_problems(root: Path, key: str, target: str) -> list[str]:
    """What in a registered framework's folder strays from the shape: one line each, naming the fix.
    ``target`` is the registry's ``module:Class`` for ``key``; ``root`` the repository's root."""
    module, _, class_name = target.partition(":")
    folder = root.joinpath(*module.split("."))
    where = f"{folder.relative_to(root)}/"
    expected = framework_class_name(key)
    problems = []
    if class_name != expected:
        problems.append(
            f"impls/__init__.py registers {key!r} as {target}: "
            f'name the class {expected} ("{module}:{expected}")'
        )
    if not folder.is_dir():
        return [*problems, f"{where} is missing: the registry entry {key!r} names {module}"]
    for name, job in REQUIRED.items():
        if not (folder / name).is_file():
            problems.append(f"{where} has no {name}: put {job} in {where}{name}")
    test_file = f"test_{folder.name}.py"
    if not (folder / test_file).is_file():
        problems.append(f"{where} has no {test_file}: name its own tests {where}{test_file}")
    init = folder / "__init__.py"
    if init.is_file() and class_name and class_name not in _classes(init):
        problems.append(f"{where}__init__.py defines no class {class_name}: the Framework class goes there")
    problems += _file_problems(folder, where, {*REQUIRED, *OPTIONAL})
    native, training = folder / "native.py", folder / "training.py"
    if native.is_file() and NATIVE_CLASS not in _classes(native):
        found = ", ".join(sorted(_classes(native))) or "none"
        problems.append(
            f"{where}native.py defines no class {NATIVE_CLASS} (classes: {found}): "
            f"name the native-input class {NATIVE_CLASS}"
        )
    if not native.is_file() and training.is_file() and _defines_method(training, "native_input"):
        problems.append(f"{where}training.py has native_input but {where}native.py is missing: "
                        f"put the pipeline there as class {NATIVE_CLASS}")  # fmt: skip
    return problems


def tree_problems(root: Path, registry: dict[str, str]) -> list[str]:
    """Every registered folder's problems, and a line for each folder under impls/ that is neither
    registered nor shared code (``*_common``), or shared code with a stray file name."""
    problems = []
    registered = set()
    for key, target in sorted(registry.items()):
        module = target.partition(":")[0]
        if not module.startswith("impls."):
            continue  # a plug-in from elsewhere (tests' fake frameworks): not an impls/ folder
        registered.add(module.split(".")[1])
        problems += folder_problems(root, key, target)
    for folder in sorted(p for p in (root / "impls").iterdir() if p.is_dir()):
        if folder.name in registered or folder.name.startswith((".", "_")):
            continue
        where = f"impls/{folder.name}/"
        if folder.name.endswith(SHARED_SUFFIX):
            shared = {name for name in (*REQUIRED, *OPTIONAL) if name.endswith(".py")}
            problems += _file_problems(folder, where, shared)
            continue
        key = folder.name.replace("_", "-")
        entry = f'"{key}": "impls.{folder.name}:{framework_class_name(key)}"'
        problems.append(
            f"{where} is in no registry entry: add {entry} "
            f"to FRAMEWORKS in impls/__init__.py, or name it {folder.name}{SHARED_SUFFIX} if it is code "
            "frameworks share"
        )
    return problems
