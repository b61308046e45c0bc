"""crews' public surface: one sorted __all__, every name resolvable, import stays light."""

from __future__ import annotations

import subprocess
import sys

import crews


def test_all_is_sorted_and_unique() -> None:
    assert list(crews.__all__) == sorted(set(crews.__all__))


def test_import_does_not_import_crewai() -> None:
    code = "import sys, crews; assert 'crewai' not in sys.modules, 'crewai imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        crews.does_not_exist  # noqa: B018
    except AttributeError as err:
        assert "does_not_exist" in str(err)
    else:
        raise AssertionError("expected AttributeError")


def test_all_matches_the_lazy_table() -> None:
    assert set(crews.__all__) == set(crews._EXPORTS)
