"""Bad lab options are refused when the Config is built: a clear error, and no run folder."""

import pytest

from dlc.cli import main
from dlc.errors import UsageError
from dlc.labs import run_lab


def test_cli_refuses_bad_stds_before_making_a_run_folder(runs_dir, capsys):
    code = main(["run", "initialization", "--stds", "nonsense", "--runs_dir", str(runs_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2  # bad usage: nothing was run
    assert err.startswith("dlc: error: ") and "stds" in err and "'nonsense'" in err
    assert "Traceback" not in err
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


# (lab, a bad option, a word the message must contain)
BAD = [
    ("initialization", {"stds": "default,-1"}, "stds"),
    ("gradient-descent", {"lr_factors": "0.1,big"}, "lr_factors"),
    ("penalties", {"sweep": "1e-3,0"}, "sweep"),
    ("cross-entropy", {"dtype": "float16"}, "dtype"),
    ("autograd-function", {"activation": "gelu"}, "activation"),
    ("digit-pairs", {"models": "baseline,siamese"}, "choose from"),
    ("digit-pairs", {"rounds": 0}, "rounds"),
    ("digit-pairs", {"pairs": 6000}, "pairs"),
    ("lecture-convnet", {"train_size": 0}, "train_size"),
    ("nearest-neighbor", {"pca_dims": "100,ten"}, "pca_dims"),
    ("nearest-neighbor", {"pca_dims": "100,0"}, "dimensions"),
    ("hyperband", {"eta": 1}, "eta"),
    ("hyperband", {"val_fraction": 0.0}, "val_fraction"),
    ("training-protocol", {"val_fraction": 1.0}, "val_fraction"),
    ("early-stopping", {"val_fraction": -0.1}, "val_fraction"),
    ("early-stopping", {"label_noise": 1.5}, "label_noise"),
    ("early-stopping", {"patience": 0}, "patience"),
    ("binary-mlp", {"hidden1": 0}, "hidden"),
    ("multiclass-mlp", {"n_train": 1}, "n_train"),
    ("sinusoid", {"lr": -0.1}, "lr"),
    ("capacity", {"max_degree": 19, "n_train": 20}, "n_train"),
    ("clustering", {"toy_k": 10, "toy_n": 5}, "toy_n"),
    ("evaluation", {"folds": 1}, "folds"),
    ("linear-classifier", {"xor_std": 0.0}, "xor_std"),
    ("perceptron", {"margin": 0.5}, "margin"),
    ("tensors", {"matmul_size": 0}, "at least 1"),
]


@pytest.mark.parametrize("lab_id, options, word", BAD, ids=[f"{lab}-{'-'.join(o)}" for lab, o, _ in BAD])
def test_bad_options_stop_before_the_run_starts(lab_id, options, word, runs_dir, monkeypatch):
    from dlc.engine.context import RunContext

    def no_run(*args, **kwargs):
        raise AssertionError("the run started although an option was bad")

    # The Config refuses the option, so no run context (no run folder) is ever opened.
    monkeypatch.setattr(RunContext, "open", no_run)
    with pytest.raises(UsageError, match=word):
        run_lab(lab_id, size="tiny", runs_dir=runs_dir, quiet=True, **options)
    assert not runs_dir.exists()
