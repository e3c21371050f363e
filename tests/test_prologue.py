"""The EE-559 prologue: `dlc.prologue` and the drop-in `dlc_practical_prologue`.

Checked against the course's description of the prologue (usage, sizes, dtypes, values,
printed lines, both call styles) with the real MNIST and CIFAR-10 files, and compared with
what `dlc.data.load` reads from those files. The one-hot targets of both generations of the
prologue (0/1 by default, -1/+1 with the switch) are checked with a student script of each.

The data is found through $PYTORCH_DATA_DIR only (as in a fresh clone); the tests that need
it skip, saying so, when it does not hold the data set.
"""

import argparse
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dlc import prologue
from dlc.errors import DataError, InvalidArgument
from tests.conftest import requires_cifar, requires_mnist

SCRIPTS = Path(__file__).parent / "prologue_scripts"


def data_dir() -> Path:
    """The data folder of the tests: $PYTORCH_DATA_DIR (``requires_mnist`` skips without it)."""
    return Path(os.environ["PYTORCH_DATA_DIR"])


@pytest.fixture(autouse=True)
def keep_torch_rng():
    """The prologue seeds torch; leave the generator as each test found it."""
    state = torch.get_rng_state()
    yield
    torch.set_rng_state(state)


@pytest.fixture
def legacy(monkeypatch):
    """Import `dlc_practical_prologue` as a script started with the given arguments would."""

    def start(*argv):
        monkeypatch.setattr(sys, "argv", ["host_script.py", *argv])
        module = importlib.import_module("dlc_practical_prologue")
        return importlib.reload(module)

    yield start
    start()  # leave the module as a script without arguments would have it


def mnist(train=True):
    from dlc import data

    return data.load("mnist", train=train)


def cifar(train=True):
    from dlc import data

    return data.load("cifar10", train=train)


def lines(captured):
    return captured.out.splitlines()


# -- the command line ---------------------------------------------------------


def test_parser_has_the_documented_options_and_defaults():
    parser = prologue.make_parser()
    assert parser.description == "DLC prologue file for practical sessions."
    usage = parser.format_usage()
    for option in (
        "[--full]",
        "[--tiny]",
        "[--force_cpu]",
        "[--seed SEED]",
        "[--cifar]",
        "[--data_dir DATA_DIR]",
        "[--one_hot_minus_one]",
    ):
        assert option in usage
    assert "-f" not in usage.replace("--f", "")  # Jupyter's -f is accepted, not advertised
    assert "-1 with +1 at the class" in " ".join(parser.format_help().split())
    args = prologue.parse_args([])
    assert (args.full, args.tiny, args.force_cpu, args.seed, args.cifar, args.data_dir, args.one_hot_minus_one) == (
        False,
        False,
        False,
        0,
        False,
        None,
        False,
    )
    assert prologue.one_hot_style_of(args) == "zero_one"
    args = prologue.parse_args(
        ["--full", "--force_cpu", "--seed", "-1", "--cifar", "--data_dir", "/somewhere", "--one_hot_minus_one"]
    )
    assert (args.full, args.force_cpu, args.seed, args.cifar, args.data_dir) == (True, True, -1, True, "/somewhere")
    assert args.one_hot_minus_one and prologue.one_hot_style_of(args) == "minus_one"


def test_parser_tolerates_jupyter_and_the_host_scripts_arguments():
    args = prologue.parse_args(["-f", "/run/user/1000/jupyter/kernel-1234.json"])
    assert args.tiny is False and args.file.endswith("kernel-1234.json")
    # The host's own options are ignored, and not taken for abbreviations of ours.
    args = prologue.parse_args(["--epochs", "3", "--tiny", "input.txt", "--data", "x", "--s", "4"])
    assert args.tiny is True and args.data_dir is None and args.seed == 0
    # pytest-xdist's `-f` (loop on failure) has no value: that must not end the program.
    assert prologue.parse_args(["--cifar", "-f"]).cifar is True


def test_a_bad_seed_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        prologue.parse_args(["--seed", "zero"])
    assert "--seed" in capsys.readouterr().err


def test_import_reads_sys_argv_and_seeds_torch(legacy):
    module = legacy("--tiny", "--seed", "5", "-f", "/tmp/kernel.json", "--lr", "0.1")
    assert module.args.tiny and module.args.seed == 5
    after_import = torch.randperm(20)
    torch.manual_seed(5)
    assert torch.equal(after_import, torch.randperm(20))


def test_a_negative_seed_leaves_torch_alone(legacy):
    torch.manual_seed(1234)
    expected = torch.randperm(20)
    torch.manual_seed(1234)
    legacy("--seed", "-1")
    assert torch.equal(torch.randperm(20), expected)


def test_the_gpu_is_chosen_unless_force_cpu(legacy, monkeypatch):
    module = legacy("--force_cpu")
    with monkeypatch.context() as patch:  # undone before the module is imported again
        patch.setattr(torch.cuda, "is_available", lambda: True)
        assert module._device(prologue.parse_args(["--force_cpu"])).type == "cpu"
        assert module._device(prologue.parse_args([])).type == "cuda"
    assert module._device(prologue.parse_args([])).type == ("cuda" if torch.cuda.is_available() else "cpu")


@requires_mnist
def test_data_is_read_whatever_the_default_device(legacy, capsys):
    # On a CUDA machine the module makes CUDA the default device, as the original did; the
    # reading must not follow it. "meta" stands in for it here: nothing real is made there.
    module = legacy("--tiny", "--force_cpu")
    torch.set_default_device("meta")
    try:
        loaded = module.load_data(one_hot_labels=True, normalize=True)
        pairs = module.generate_pair_sets(10)
    finally:
        torch.set_default_device(None)
    capsys.readouterr()
    assert all(t.device.type == "cpu" for t in (*loaded, *pairs))
    assert abs(loaded[0].mean().item()) < 1e-4 and pairs[0].shape == (10, 2, 14, 14)


def test_full_with_tiny_is_an_error(legacy):
    with pytest.raises(ValueError, match="both --full and --tiny"):
        prologue.size_of(prologue.parse_args(["--full", "--tiny"]))
    module = legacy("--full", "--tiny")  # importing is fine, as in the original
    with pytest.raises(ValueError, match="both --full and --tiny"):
        module.load_data()


def test_load_refuses_an_unknown_size():
    with pytest.raises(ValueError, match="'tiny', 'default', 'full'"):
        prologue.load(size="small")


# -- load / load_data -----------------------------------------------------------


@requires_mnist
@pytest.mark.parametrize("size, counts", [("tiny", (500, 100)), ("default", (1000, 1000))])
def test_mnist_sizes_dtypes_and_first_samples(size, counts):
    train_input, train_target, test_input, test_target = prologue.load(size=size)
    assert train_input.shape == (counts[0], 784) and test_input.shape == (counts[1], 784)
    assert train_input.dtype == torch.float32 and train_target.dtype == torch.int64
    assert train_target.shape == (counts[0],) and test_target.shape == (counts[1],)
    assert train_input.device.type == "cpu"
    # Values are the raw grey levels, and the samples kept are the first ones, in order.
    assert 0 <= train_input.min() and train_input.max() <= 255 and train_input.max() > 200
    assert torch.equal(train_input, train_input.round())
    images, classes = mnist(train=True)
    assert torch.equal(train_input, images[: counts[0]].reshape(counts[0], -1).float())
    assert torch.equal(train_target, classes[: counts[0]])
    images, classes = mnist(train=False)
    assert torch.equal(test_input, images[: counts[1]].reshape(counts[1], -1).float())
    assert torch.equal(test_target, classes[: counts[1]])


@requires_mnist
def test_mnist_unflattened_keeps_the_image_structure():
    train_input, _, test_input, _ = prologue.load(size="tiny", flatten=False)
    assert train_input.shape == (500, 1, 28, 28) and test_input.shape == (100, 1, 28, 28)
    flat, _, _, _ = prologue.load(size="tiny", flatten=True)
    assert torch.equal(train_input.reshape(500, -1), flat)


@requires_cifar
def test_cifar_channels_first_and_flattened():
    train_input, train_target, test_input, test_target = prologue.load(cifar=True, size="tiny", flatten=False)
    assert train_input.shape == (500, 3, 32, 32) and test_input.shape == (100, 3, 32, 32)
    assert train_input.dtype == torch.float32 and train_target.dtype == torch.int64
    images, classes = cifar(train=True)
    assert torch.equal(train_input, images[:500].float())
    assert torch.equal(train_target, classes[:500])
    assert 0 <= train_input.min() and train_input.max() <= 255
    flat = prologue.load(cifar=True, size="tiny")[0]
    assert flat.shape == (500, 3072) and torch.equal(flat, train_input.reshape(500, -1))


@requires_mnist
@pytest.mark.parametrize("style, off", [(None, 0.0), ("zero_one", 0.0), ("minus_one", -1.0)])
def test_one_hot_labels_have_a_one_at_the_class_and_zeros_unless_minus_one(style, off):
    keywords = {} if style is None else {"one_hot_style": style}  # None: the default style
    _, train_target, _, test_target = prologue.load(size="tiny", one_hot_labels=True, **keywords)
    _, classes, _, test_classes = prologue.load(size="tiny")
    assert train_target.shape == (500, 10) and train_target.dtype == torch.float32
    assert test_target.shape == (100, 10)
    for one_hot, labels in ((train_target, classes), (test_target, test_classes)):
        expected = torch.full((len(labels), 10), off)
        expected[torch.arange(len(labels)), labels] = 1
        assert torch.equal(one_hot, expected)


def test_convert_to_one_hot_labels_on_any_targets():
    target = torch.tensor([3, 0, 2, 3, 1])
    like = torch.zeros(5, 7, dtype=torch.float64)
    expected = torch.zeros(5, 4, dtype=torch.float64)
    expected[torch.arange(5), target] = 1
    assert torch.equal(prologue.convert_to_one_hot_labels(like, target), expected)  # 0/1 by default
    assert torch.equal(prologue.convert_to_one_hot_labels(like, target, "zero_one"), expected)
    assert torch.equal(prologue.convert_to_one_hot_labels(like, target, style="minus_one"), 2 * expected - 1)


@pytest.mark.parametrize("style", ["-1/+1", "minus-one", "", None, True])
def test_an_unknown_one_hot_style_is_refused_naming_both_styles(style):
    target = torch.tensor([1, 0])
    with pytest.raises(InvalidArgument, match="'zero_one', 'minus_one'"):
        prologue.convert_to_one_hot_labels(torch.zeros(2, 3), target, style)
    with pytest.raises(InvalidArgument, match="one_hot_style must be one of"):  # before any data is read
        prologue.load(size="tiny", one_hot_labels=True, one_hot_style=style, data_dir="/nonexistent")


@requires_mnist
def test_normalize_uses_the_training_statistics_for_both_sets():
    raw_train, _, raw_test, _ = prologue.load()
    train_input, _, test_input, _ = prologue.load(normalize=True)
    assert abs(train_input.mean().item()) < 1e-4 and abs(train_input.std().item() - 1) < 1e-4
    mu, std = raw_train.mean(), raw_train.std()
    assert torch.allclose(test_input, (raw_test - mu) / std, atol=1e-5)
    assert abs(test_input.mean().item()) > 1e-3  # the test set's own statistics were not used


@requires_mnist
def test_missing_data_is_a_data_error(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError):
        prologue.load(size="tiny", data_dir=str(tmp_path / "nothing-here"))


# -- the original interface: prints and call styles ----------------------------


@requires_mnist
def test_load_data_prints_the_documented_lines(legacy, capsys, tmp_path, monkeypatch):
    # The course's example, word for word: no --data_dir, no $PYTORCH_DATA_DIR, ./data.
    (tmp_path / "data").symlink_to(data_dir(), target_is_directory=True)
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    module = legacy()
    train_input, train_target, test_input, test_target = module.load_data()
    assert lines(capsys.readouterr()) == [
        "data_dir ./data",
        "* Using MNIST",
        "** Reduce the data-set (use --full for the full thing)",
        "** Use 1000 train and 1000 test samples",
    ]
    assert train_input.shape == (1000, 784) and test_target.shape == (1000,)


@requires_mnist
def test_load_data_tiny_with_data_dir_option(legacy, capsys, monkeypatch):
    where = data_dir()
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    module = legacy("--tiny", "--data_dir", str(where))
    train_input, _, test_input, _ = module.load_data(flatten=False)
    assert lines(capsys.readouterr()) == [
        f"data_dir {where}",
        "* Using MNIST",
        "** Reduce the data-set to the tiny setup",
        "** Use 500 train and 100 test samples",
    ]
    assert train_input.shape == (500, 1, 28, 28) and test_input.shape == (100, 1, 28, 28)


@requires_mnist
def test_load_data_full(legacy, capsys):
    module = legacy("--full", "--force_cpu")
    train_input, train_target, test_input, test_target = module.load_data()
    assert lines(capsys.readouterr()) == [
        f"data_dir {os.environ['PYTORCH_DATA_DIR']}",
        "* Using MNIST",
        "** Use 60000 train and 10000 test samples",
    ]
    assert train_input.shape == (60000, 784) and test_input.shape == (10000, 784)
    assert train_target.shape == (60000,) and test_target.dtype == torch.int64
    assert torch.equal(train_target, mnist(train=True)[1])


@requires_cifar
def test_cifar_by_option_or_by_argument(legacy, capsys):
    module = legacy("--tiny", "--cifar")
    train_input = module.load_data()[0]
    assert lines(capsys.readouterr())[1] == "* Using CIFAR" and train_input.shape == (500, 3072)
    # An explicit cifar=False asks for MNIST, as documented; cifar=True needs no option.
    assert module.load_data(cifar=False)[0].shape == (500, 784)
    assert lines(capsys.readouterr())[1] == "* Using MNIST"
    module = legacy("--tiny")
    assert module.load_data(True, flatten=False)[0].shape == (500, 3, 32, 32)
    assert lines(capsys.readouterr())[1] == "* Using CIFAR"


@requires_mnist
def test_the_2018_call_style_takes_the_options_first(legacy, capsys):
    module = legacy()  # the module's own options: default size
    options = module.parser.parse_args(["--tiny"])
    train_input, train_target, _, test_target = module.load_data(
        options, cifar=False, one_hot_labels=True, normalize=True, flatten=False
    )
    assert "** Use 500 train and 100 test samples" in lines(capsys.readouterr())
    assert train_input.shape == (500, 1, 28, 28) and test_target.shape == (100, 10)
    assert abs(train_input.mean().item()) < 1e-4
    assert set(train_target.unique().tolist()) == {0.0, 1.0}
    # The 2018 prologue's -1/+1 targets are asked for in that namespace too.
    options = module.parser.parse_args(["--tiny", "--one_hot_minus_one"])
    assert set(module.load_data(options, one_hot_labels=True)[3].unique().tolist()) == {-1.0, 1.0}
    # A namespace with only some options takes the rest from the module's `args`.
    assert module.load_data(argparse.Namespace(tiny=True))[0].shape == (500, 784)
    # The original positional order still holds, and wrong arguments say so.
    assert module.load_data(False, True)[1].shape == (1000, 10)
    with pytest.raises(TypeError):  # the style is a keyword: the original four stay the only positionals
        module.load_data(False, True, False, True, "minus_one")
    with pytest.raises(TypeError):
        module.load_data(options, cifar=False, colour=True)
    capsys.readouterr()


@requires_mnist
def test_load_data_one_hot_style_by_flag_or_by_keyword(legacy, capsys):
    module = legacy("--tiny")
    assert module.args.one_hot_minus_one is False
    assert set(module.load_data(one_hot_labels=True)[1].unique().tolist()) == {0.0, 1.0}
    minus = module.load_data(one_hot_labels=True, one_hot_style="minus_one")[1]
    assert set(minus.unique().tolist()) == {-1.0, 1.0}
    module = legacy("--tiny", "--one_hot_minus_one")
    train_target, test_target = module.load_data(one_hot_labels=True)[1::2]
    assert torch.equal(train_target, minus) and set(test_target.unique().tolist()) == {-1.0, 1.0}
    # The keyword wins over the flag; labels without one_hot_labels are classes either way.
    assert set(module.load_data(one_hot_labels=True, one_hot_style="zero_one")[1].unique().tolist()) == {0.0, 1.0}
    assert module.load_data()[1].dtype == torch.int64
    for line in lines(capsys.readouterr()):  # the printed lines are the original's, no more
        assert line.startswith(("data_dir ", "* Using MNIST", "** Reduce the data-set", "** Use 500 train")), line
    with pytest.raises(ValueError, match="'zero_one', 'minus_one'"):
        module.load_data(one_hot_labels=True, one_hot_style="pm1")
    assert capsys.readouterr().out == ""  # refused before anything is printed or read


def test_the_drop_ins_convert_to_one_hot_labels_follows_the_flag(legacy):
    target = torch.tensor([2, 0, 1])
    expected = torch.eye(3)[target]
    assert torch.equal(legacy().convert_to_one_hot_labels(torch.zeros(3, 5), target), expected)
    assert torch.equal(
        legacy("--one_hot_minus_one").convert_to_one_hot_labels(torch.zeros(3, 5), target), 2 * expected - 1
    )


# -- mini-project 1: pairs -----------------------------------------------------


def pool_by_hand(images):
    """2 x 2 average pooling written out: the mean of each 2 x 2 block."""
    return (images[..., 0::2, 0::2] + images[..., 0::2, 1::2] + images[..., 1::2, 0::2] + images[..., 1::2, 1::2]) / 4


@requires_mnist
def test_generate_pair_sets_returns_the_six_documented_tensors():
    torch.manual_seed(0)
    sets = prologue.generate_pair_sets(1000)
    assert len(sets) == 6
    for offset, source in ((0, mnist(train=True)), (3, mnist(train=False))):
        pairs, target, classes = sets[offset : offset + 3]
        assert pairs.shape == (1000, 2, 14, 14) and pairs.dtype == torch.float32
        assert target.shape == (1000,) and target.dtype == torch.int64
        assert classes.shape == (1000, 2) and classes.dtype == torch.int64
        assert torch.equal(target, (classes[:, 0] <= classes[:, 1]).long())
        assert 0.3 < target.float().mean() < 0.7  # both answers occur (about 55% are 1)

        # Every half of every pair is the pooled image of a digit of the source set,
        # with that digit's class, and no digit is used twice.
        images, labels = source
        pooled = pool_by_hand(images.float()).reshape(len(images), -1).numpy()
        labels = labels.tolist()
        where = {}
        for index, row in enumerate(pooled):
            where.setdefault(row.tobytes(), []).append(index)
        used = []
        for half in (0, 1):
            rows = pairs[:, half].reshape(len(pairs), -1).numpy()
            for row, label in zip(rows, classes[:, half].tolist()):
                matches = [i for i in where[row.tobytes()] if labels[i] == label]
                assert matches, "a pair image whose class differs from its digit's"
                used.append(matches[0])
        assert len(set(used)) == 2000  # drawn without replacement


@requires_mnist
def test_pairs_follow_the_seed(legacy):
    module = legacy("--seed", "7")
    first = module.generate_pair_sets(50)
    module = legacy("--seed", "7")
    second = module.generate_pair_sets(50)
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    module = legacy("--seed", "8")
    other = module.generate_pair_sets(50)
    assert not torch.equal(first[2], other[2])


def test_mnist_to_pairs_on_synthetic_digits():
    # Each "digit" image is filled with its own index, so pooling keeps it and the pair
    # tells which samples were drawn.
    images = torch.arange(10.0).view(10, 1, 1, 1).expand(10, 1, 28, 28).contiguous()
    labels = torch.tensor([5, 3, 9, 0, 1, 1, 7, 2, 8, 4])
    torch.manual_seed(3)
    pairs, target, classes = prologue.mnist_to_pairs(4, images, labels)
    assert pairs.shape == (4, 2, 14, 14)
    drawn = pairs[:, :, 0, 0].long()
    assert torch.equal(pairs, drawn.view(4, 2, 1, 1).expand(4, 2, 14, 14).float())
    assert drawn.unique().numel() == 8
    assert torch.equal(classes, labels[drawn])
    assert torch.equal(target, (classes[:, 0] <= classes[:, 1]).long())
    # Grey levels as uint8 give the same pairs as the same levels as floats.
    torch.manual_seed(3)
    assert torch.equal(prologue.mnist_to_pairs(4, images.to(torch.uint8), labels)[0], pairs)
    with pytest.raises(ValueError, match="cannot make 6 pairs from 10 images"):
        prologue.mnist_to_pairs(6, images, labels)


# -- the course's own script, run as the students run it --------------------------


def run_script(name, *argv, cwd):
    """Run a script of tests/prologue_scripts as a student would: ``python script.py ARGS``."""
    env = dict(os.environ, PYTORCH_DATA_DIR=str(data_dir()))
    env.setdefault("OMP_NUM_THREADS", "1")  # small models: one thread, kind to a shared machine
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / name), *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def numbers(stdout, label):
    """The numbers of the lines ``<label> <number>`` (``label`` is a regular expression)."""
    return [float(x) for x in re.findall(rf"^{label} (\S+)$", stdout, re.MULTILINE)]


@requires_mnist
def test_minimal_example_script_runs_unchanged(tmp_path):
    stdout = run_script(
        "minimal_example.py",
        "--tiny",
        "--force_cpu",
        "-f",
        str(tmp_path / "kernel.json"),
        "--its-own-option",
        "3",
        cwd=tmp_path,
    )
    assert stdout.splitlines() == [
        f"data_dir {data_dir()}",
        "* Using MNIST",
        "** Reduce the data-set to the tiny setup",
        "** Use 500 train and 100 test samples",
        "train_input torch.Size([500, 784]) train_target torch.Size([500])",
        "test_input torch.Size([100, 784]) test_target torch.Size([100])",
    ]


# Scripts of the two generations of the prologue. From 2019 on its code built one-hot targets
# with `new_zeros` (0, and 1 at the class); the course page and the 2018 code say -1 and +1.
# Each script learns with its own style and fails, silently, with the other: why the default
# is 0/1 and why -1/+1 is kept behind `--one_hot_minus_one`.


@requires_mnist
def test_a_2019_mse_relu_script_learns_with_the_default_zero_one_targets(tmp_path):
    stdout = run_script("mse_relu_zero_one.py", "--tiny", "--force_cpu", cwd=tmp_path)
    losses, (error,) = numbers(stdout, r"epoch \d+ loss"), numbers(stdout, "test error")
    assert len(losses) == 30
    assert losses[-1] < 0.2 * losses[0]  # the loss falls well below its start
    assert error < 30  # percent, against 90 for chance


@requires_mnist
def test_the_same_script_learns_nothing_with_minus_one_targets(tmp_path):
    # The ReLU output cannot go below 0: pushed towards -1, every output unit dies, and the
    # loss sticks at 1 per entry (the issue: "stays at its initial loss for 1,000 epochs").
    stdout = run_script("mse_relu_zero_one.py", "--tiny", "--force_cpu", "--one_hot_minus_one", cwd=tmp_path)
    losses, (error,) = numbers(stdout, r"epoch \d+ loss"), numbers(stdout, "test error")
    assert losses[-1] > 0.9 * losses[0]
    assert losses[-10:] == [losses[-1]] * 10  # flat: no gradient reaches anything any more
    assert error > 75  # chance, or about


@requires_mnist
def test_a_2018_torch_equal_error_count_is_sensible_with_the_minus_one_switch(tmp_path):
    stdout = run_script("wta_equal_minus_one.py", "--tiny", "--force_cpu", "--one_hot_minus_one", cwd=tmp_path)
    (untrained,), (train,), (test,) = (
        numbers(stdout, k) for k in ("untrained test error", "train error", "test error")
    )
    losses = numbers(stdout, r"epoch \d+ loss")
    assert losses[-1] < 0.5 * losses[0]
    assert train < 20 and test < 35 and test < untrained / 2


@requires_mnist
def test_the_same_error_count_says_100_percent_with_the_default_targets(tmp_path):
    # The model learns (its loss falls) but no -1/+1 winner row equals a 0/1 target row.
    stdout = run_script("wta_equal_minus_one.py", "--tiny", "--force_cpu", cwd=tmp_path)
    losses = numbers(stdout, r"epoch \d+ loss")
    assert losses[-1] < 0.5 * losses[0]
    assert numbers(stdout, "train error") == [100.0] and numbers(stdout, "test error") == [100.0]
