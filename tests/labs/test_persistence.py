"""persistence: exact resume needs model, optimizer and random state; a pickled model
depends on its code; weights_only=True refuses a malicious checkpoint."""

from dlc.labs.persistence import malicious_experiment, pickle_experiment
from tests.labs.helpers import assert_checks, run_tiny


def test_lab_at_tiny(runs_dir):
    result = run_tiny("persistence", runs_dir)
    assert_checks(result)
    d = result.metrics["max_weight_difference"]
    assert d["everything"] == 0 and min(d["no optimizer state"], d["no random state"]) > 1e-3
    assert (result.run_dir / "resume.png").is_file()
    assert not (result.run_dir / "scratch").exists()  # the lab's own files are cleaned up


def test_the_pickled_model_names_its_missing_module(tmp_path):
    out = pickle_experiment(tmp_path)
    assert (
        out["whole_model_error"].startswith("ModuleNotFoundError")
        and "dlc_persistence_demo_model" in out["whole_model_error"]
    )
    assert out["state_dict_loads_and_matches"]
    assert list(tmp_path.iterdir()) == []


def test_weights_only_refuses_the_payload_and_it_is_live_without(tmp_path):
    out = malicious_experiment(tmp_path)
    assert out["refused"] and not out["ran_with_weights_only"] and out["ran_without"]
    assert list(tmp_path.iterdir()) == []
