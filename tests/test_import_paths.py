"""The test tree shadows no installed package: its folders are not on ``sys.path``."""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
HELPERS = sorted(path.stem for path in (TESTS / "support").glob("*.py") if path.stem != "__init__")


def test_no_folder_of_the_test_tree_is_on_the_path() -> None:
    on_path = {Path(entry or ".").resolve() for entry in sys.path}
    tree = {TESTS, *(folder for folder in TESTS.rglob("*") if folder.is_dir())}
    assert not on_path & tree, f"test folders on sys.path: {sorted(on_path & tree)}"


@pytest.mark.parametrize("name", HELPERS)
def test_a_helper_is_found_only_by_its_full_name(name: str) -> None:
    spec = importlib.util.find_spec(name)
    if spec is not None:  # an installed package of that name: it must be the installed one
        assert spec.origin is None or not Path(spec.origin).resolve().is_relative_to(TESTS)
    assert importlib.util.find_spec(f"tests.support.{name}") is not None


def test_the_kernels_package_comes_from_site_packages() -> None:
    """transformers imports Hugging Face's ``kernels``; a tests/kernels.py once shadowed it."""
    spec = importlib.util.find_spec("kernels")
    if spec is None:
        pytest.skip("the kernels package is not installed here")
    kernels = importlib.import_module("kernels")
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert Path(kernels.__file__ or "").resolve().is_relative_to(site), kernels.__file__
