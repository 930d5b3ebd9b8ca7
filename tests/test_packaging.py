"""What a regular install needs: the procedures found as package data, and a demo that finds
nothing to load says so instead of loading nothing."""
from __future__ import annotations

import pytest

from arsflow.engine.errors import DeploymentError
from arsflow.processes.demo import load_demo, shipped_folder


def test_procedures_and_forms_are_found_as_package_data():
    assert (shipped_folder("arsflow.processes") / "prs_consultation.bpmn").is_file()
    assert (shipped_folder("arsflow.forms") / "prs_enregistrer_avis.form").is_file()


def test_a_demo_with_nothing_to_load_is_an_error(runtime, tmp_path):
    empty_processes, empty_forms = tmp_path / "p", tmp_path / "f"
    empty_processes.mkdir(), empty_forms.mkdir()
    with pytest.raises(DeploymentError, match="données de démonstration introuvables"):
        load_demo(runtime, processes_dir=empty_processes, forms_dir=empty_forms)


def test_procedure_helpers_reach_scripts_through_entry_points(runtime):
    """The engine names no procedure: the CTS rules arrive by the arsflow.script_helpers group."""
    assert "check_cts_composition" in runtime.environment.globals
