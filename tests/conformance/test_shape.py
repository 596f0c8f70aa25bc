"""The framework under test has the one folder shape (``framework_shape``): the same file names as
every other framework's folder, its Framework class named after its registry key, its native-input
class named ``NativeInput``. A folder that strays is told, one line a problem, what to rename.

The same check over the whole registry, with no framework installed: tests/harness/test_shape.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from framework_shape import folder_problems, framework_class_name

import impls

ROOT = Path(__file__).resolve().parents[2]


def test_the_framework_folder_has_the_one_shape(framework):
    target = impls.registry()[framework.NAME]
    if not target.startswith("impls."):
        pytest.skip(f"{target} is a plug-in outside impls/ (no framework folder)")
    problems = folder_problems(ROOT, framework.NAME, target)
    assert not problems, "\n".join(problems)


def test_the_framework_class_is_named_after_its_registry_key_and_lives_in_the_folders_init(framework):
    cls = type(framework)
    assert cls.__name__ == framework_class_name(framework.NAME)
    assert cls.__module__ == impls.registry()[framework.NAME].partition(":")[0]
