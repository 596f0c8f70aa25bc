"""Every registered framework folder has the one shape, checked from its files (no framework is
imported), and a folder that strays is told exactly what to rename (tests/conformance/framework_shape.py;
the conformance suite runs the same check in each framework's own environment)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import impls

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "framework_shape", ROOT / "tests/conformance/framework_shape.py"
)
shape = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shape)


def test_every_registered_folder_and_shared_folder_has_the_one_shape():
    problems = shape.tree_problems(ROOT, impls.FRAMEWORKS)
    assert not problems, "\n".join(problems)


def test_class_names_follow_the_registry_key():
    assert shape.framework_class_name("torch") == "TorchFramework"
    assert shape.framework_class_name("keras-jax") == "KerasJaxFramework"
    assert shape.framework_class_name("keras_torch") == "KerasTorchFramework"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


GOOD = {
    "impls/newfw/__init__.py": "class NewfwFramework:\n    pass\n",
    "impls/newfw/models.py": "",
    "impls/newfw/training.py": "class Model:\n    def native_input(self, source):\n        pass\n",
    "impls/newfw/native.py": "class NativeInput:\n    pass\n",
    "impls/newfw/baseline.py": "",
    "impls/newfw/requirements.txt": "",
    "impls/newfw/test_newfw.py": "",
}


def test_a_folder_in_the_shape_has_no_problems(tmp_path):
    write(tmp_path, GOOD)
    assert shape.tree_problems(tmp_path, {"newfw": "impls.newfw:NewfwFramework"}) == []


def test_a_stray_folder_is_told_what_to_rename(tmp_path):
    stray = {
        "impls/newfw/__init__.py": "class FlaxFramework:\n    pass\n",
        "impls/newfw/nnx_models.py": "",
        "impls/newfw/helpers.py": "",
        "impls/newfw/native.py": "class GrainInput:\n    pass\n",
        "impls/newfw/requirements.txt": "",
    }
    write(tmp_path, stray)
    problems = shape.tree_problems(tmp_path, {"newfw": "impls.newfw:FlaxFramework"})
    assert problems == [
        "impls/__init__.py registers 'newfw' as impls.newfw:FlaxFramework: name the class NewfwFramework "
        '("impls.newfw:NewfwFramework")',
        "impls/newfw/ has no models.py: put the networks (the models in the framework's own idiom) in "
        "impls/newfw/models.py",
        "impls/newfw/ has no training.py: put the Model class (train step, epoch loop, evaluation) in "
        "impls/newfw/training.py",
        "impls/newfw/ has no baseline.py: put the reference loops plain_epochs / skilled_epochs "
        "(bench.loops) in impls/newfw/baseline.py",
        "impls/newfw/ has no test_newfw.py: name its own tests impls/newfw/test_newfw.py",
        "impls/newfw/helpers.py is not one of a framework folder's file names (__init__.py, baseline.py, "
        "models.py, native.py, profile.py, requirements-gpu.txt, requirements.txt, runtime.py, training.py, "
        "test_*.py): rename it to the one whose job it does, or fold it into that module",
        "impls/newfw/nnx_models.py: rename it, its code goes to models.py (the networks) and training.py "
        "(the Model class)",
        "impls/newfw/native.py defines no class NativeInput (classes: GrainInput): name the native-input "
        "class NativeInput",
    ]


def test_a_native_input_without_native_py_and_a_missing_framework_class_are_named(tmp_path):
    files = dict(GOOD)
    del files["impls/newfw/native.py"]
    files["impls/newfw/__init__.py"] = "X = 1\n"
    write(tmp_path, files)
    assert shape.tree_problems(tmp_path, {"newfw": "impls.newfw:NewfwFramework"}) == [
        "impls/newfw/__init__.py defines no class NewfwFramework: the Framework class goes there",
        "impls/newfw/training.py has native_input but impls/newfw/native.py is missing: put the pipeline "
        "there as class NativeInput",
    ]


def test_an_unregistered_folder_is_told_to_register_or_be_shared_code(tmp_path):
    write(tmp_path, {**GOOD, "impls/other_fw/__init__.py": "", "impls/keras_common/net.py": ""})
    assert shape.tree_problems(tmp_path, {"newfw": "impls.newfw:NewfwFramework"}) == [
        "impls/keras_common/net.py: rename it, its code goes to training.py",
        'impls/other_fw/ is in no registry entry: add "other-fw": "impls.other_fw:OtherFwFramework" to '
        "FRAMEWORKS in impls/__init__.py, or name it other_fw_common if it is code frameworks share",
    ]
