"""Atomic writes, RNG capture/restore, checkpoint files and run directories."""

import json
import os
import random
import stat
import zlib

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from rnnlab import atomic
from rnnlab.atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from rnnlab.errors import CheckpointError, InputError
from rnnlab.train import checkpoint
from rnnlab.train.checkpoint import (
    Checkpoint,
    check_compatible,
    check_state_dict,
    checkpoint_name,
    find_checkpoint,
    load_checkpoint,
    save_checkpoint,
    save_run_checkpoint,
)
from rnnlab.train.config import TrainConfig
from rnnlab.train.optim import build_optimizer
from rnnlab.train.rng import capture_rng_state, restore_rng_state

# ---------------------------------------------------------------- atomic writes


def test_atomic_round_trips(tmp_path):
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\xffdata")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xffdata"
    atomic_write_text(tmp_path / "t.txt", "héllo\nworld\n")
    assert (tmp_path / "t.txt").read_bytes() == "héllo\nworld\n".encode()
    atomic_write_json(tmp_path / "j.json", {"b": 1, "a": ["ü", 2.5]})
    text = (tmp_path / "j.json").read_text(encoding="utf-8")
    assert text == '{\n  "a": [\n    "ü",\n    2.5\n  ],\n  "b": 1\n}\n'
    atomic_write_bytes(tmp_path / "b.bin", b"new")
    assert (tmp_path / "b.bin").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "j.json", "t.txt"]


def test_atomic_path_yields_sibling_temp_file(tmp_path):
    target = tmp_path / "out.dat"
    with atomic_path(target) as temp:
        assert temp.parent == tmp_path and temp.exists() and temp != target
        assert not target.exists()
        temp.write_bytes(b"payload")
    assert target.read_bytes() == b"payload"
    assert [p.name for p in tmp_path.iterdir()] == ["out.dat"]


def test_atomic_new_file_respects_umask(tmp_path):
    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644


def test_atomic_crash_in_replace_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    atomic_write_json(target, {"v": 1})

    def crash(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_atomic_crash_in_writer_keeps_old_file(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError, match="writer died"), atomic_path(target) as temp:
        temp.write_bytes(b"half of the new")
        raise RuntimeError("writer died")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_json_rejects_unserialisable_without_litter(tmp_path):
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "f.json", {"x": object()})
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- rng


def _draws():
    return (
        [random.random() for _ in range(3)] + [random.gauss(0, 1) for _ in range(3)],
        np.random.rand(3).tolist() + np.random.standard_normal(3).tolist(),  # noqa: NPY002
        torch.rand(3).tolist() + torch.randn(3).tolist() + torch.randint(0, 1000, (3,)).tolist(),
    )


def test_rng_restore_reproduces_draws():
    random.seed(1)
    np.random.seed(2)  # noqa: NPY002
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached second normal (gauss_next) in the state
    np.random.standard_normal()  # noqa: NPY002 (sets NumPy's legacy has_gauss/gauss)
    state = json.loads(json.dumps(capture_rng_state()))
    expected = _draws()
    _draws()
    restore_rng_state(state)
    assert _draws() == expected


def test_rng_state_is_compact_json():
    state = capture_rng_state()
    assert set(state) == {"python", "numpy", "torch", "cuda"}
    assert len(json.dumps(state)) < 20_000


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda s: s.pop("numpy"), "numpy"),
        (lambda s: s["python"].update(state="!!notbase64"), "base64"),
        (lambda s: s["numpy"].update(key="AAAA"), "expected 2496 bytes for numpy.key, got 3"),
        (lambda s: s.update(torch="AAAA"), "cannot restore"),
        (lambda s: s.update(cuda="x"), "cuda"),
    ],
)
def test_rng_restore_rejects_bad_state(mutate, match):
    state = capture_rng_state()
    mutate(state)
    with pytest.raises(CheckpointError, match=match):
        restore_rng_state(state)


def test_rng_restore_rejects_non_dict():
    with pytest.raises(CheckpointError, match="python"):
        restore_rng_state([])


@pytest.mark.gpu
def test_rng_restore_reproduces_cuda_draws():
    torch.randn(1, device="cuda")
    state = json.loads(json.dumps(capture_rng_state()))
    assert len(state["cuda"]) == torch.cuda.device_count()
    expected = torch.randn(5, device="cuda").cpu()
    restore_rng_state(state)
    assert torch.equal(torch.randn(5, device="cuda").cpu(), expected)


# ---------------------------------------------------------------- checkpoint files


class TiedLM(torch.nn.Module):
    """Embedding → LSTM → decoder sharing the embedding matrix."""

    def __init__(self, vocab=11, hidden=6):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, hidden)
        self.rnn = torch.nn.LSTM(hidden, hidden)
        self.decoder = torch.nn.Linear(hidden, vocab)
        self.decoder.weight = self.embedding.weight

    def forward(self, tokens, state=None):
        out, state = self.rnn(self.embedding(tokens), state)
        return self.decoder(out), state


OPTIMIZERS = {
    "adam": lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-3),
    "adam-fused": lambda p: build_optimizer(p, TrainConfig(optimizer="adam", lr=1e-2)),
    "adamw-amsgrad": lambda p: torch.optim.AdamW(p, lr=1e-2, amsgrad=True),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.9, centered=True),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=1e-2),
    "sgd": lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9, nesterov=True),
}


def _train(model, optimizer, steps, seed):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        tokens = torch.randint(0, 11, (5, 3), generator=gen)
        logits, _ = model(tokens[:-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 11), tokens[1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def _assert_same(a, b):
    """Recursive equality: exact tensors and dtypes, container types, dict keys in any order."""
    assert type(a) is type(b)
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.cpu(), b.cpu())
    elif isinstance(a, dict):
        assert sorted(a, key=repr) == sorted(b, key=repr)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    else:
        assert a == b


META = {
    "config": {"hidden": 6, "layers": 1, "betas": [0.9, 0.99]},
    "vocab": ["a", "b", "é"],
    "step": 3,
    "metrics": {"val_loss": 1.5},
    "data": {"offset": 1234},
    "elapsed": 12.5,
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_checkpoint_round_trip_continues_bit_identically(tmp_path, name):
    torch.manual_seed(0)
    model = TiedLM()
    optimizer = OPTIMIZERS[name](model.parameters())
    _train(model, optimizer, 3, seed=1)
    carry = (torch.randn(1, 3, 6), torch.randn(1, 3, 6))
    meta = {**META, "rng": capture_rng_state()}
    file = save_checkpoint(
        tmp_path / "c.safetensors",
        model_state=model.state_dict(),
        optimizer_state=optimizer.state_dict(),
        extra_tensors={"carry.0": carry[0], "carry.1": carry[1]},
        meta=meta,
    )
    ckpt = load_checkpoint(file)
    assert isinstance(ckpt, Checkpoint) and ckpt.path == file
    _assert_same(ckpt.model_state, dict(model.state_dict()))
    _assert_same(ckpt.optimizer_state, optimizer.state_dict())
    _assert_same(ckpt.extra_tensors, {"carry.0": carry[0], "carry.1": carry[1]})
    assert ckpt.meta == json.loads(json.dumps(meta))

    torch.manual_seed(99)
    fresh = TiedLM()
    fresh_optimizer = OPTIMIZERS[name](fresh.parameters())
    fresh.load_state_dict(ckpt.model_state)
    fresh_optimizer.load_state_dict(ckpt.optimizer_state)
    assert fresh.decoder.weight is fresh.embedding.weight
    _train(model, optimizer, 3, seed=2)
    _train(fresh, fresh_optimizer, 3, seed=2)
    for (n, p), (_, q) in zip(model.named_parameters(), fresh.named_parameters(), strict=True):
        assert torch.equal(p, q), n


def test_checkpoint_file_layout(tmp_path):
    model = TiedLM()
    optimizer = torch.optim.Adam(model.parameters())
    _train(model, optimizer, 1, seed=0)
    file = save_checkpoint(
        tmp_path / "c.safetensors",
        model_state=model.state_dict(),
        optimizer_state=optimizer.state_dict(),
        extra_tensors={"carry.0": torch.zeros(2)},
        meta={"step": 1},
    )
    with safe_open(file, framework="pt") as f:
        keys = set(f.keys())
        doc = json.loads(f.metadata()["rnnlab"])
        step = f.get_tensor("optim.state.0.step")
    assert {"model.embedding.weight", "model.decoder.weight", "extra.carry.0"} <= keys
    assert {"optim.state.0.exp_avg", "optim.state.0.exp_avg_sq"} <= keys
    assert step.dtype == torch.float32 and step.ndim == 0 and step.item() == 1
    assert (doc["format"], doc["version"], doc["step"]) == ("rnnlab-checkpoint", 1, 1)
    crc = zlib.crc32(bytes(8))  # two float32 zeros
    assert doc["tensors"]["extra.carry.0"] == {"dtype": "float32", "shape": [2], "crc32": crc}
    loaded = load_checkpoint(file).optimizer_state
    assert isinstance(loaded["param_groups"][0]["betas"], tuple)
    assert isinstance(next(iter(loaded["state"])), int)


def test_checkpoint_tensors_are_independent_contiguous_copies(tmp_path):
    base = torch.arange(12.0).reshape(3, 4)
    state = {
        "w": base,
        "w_t": base.t(),
        "row": base[1],
        "half": torch.ones(3, dtype=torch.bfloat16),
        "flag": torch.tensor(True),
    }
    file = save_checkpoint(tmp_path / "c.safetensors", model_state=state, meta={})
    loaded = load_checkpoint(file).model_state
    _assert_same(loaded, state)
    assert all(t.is_contiguous() for t in loaded.values())
    loaded["w"].zero_()
    assert loaded["row"].sum() == base[1].sum()


def test_checkpoint_optimizer_state_with_tensor_hyperparameters(tmp_path):
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.Adam([param], lr=torch.tensor(0.01), betas=(0.9, 0.95))
    param.grad = torch.full((3,), 0.5)
    optimizer.step()
    save_checkpoint(
        tmp_path / "c.safetensors", model_state={}, optimizer_state=optimizer.state_dict(), meta={}
    )
    _assert_same(
        load_checkpoint(tmp_path / "c.safetensors").optimizer_state, optimizer.state_dict()
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"meta": {"format": "x"}}, "reserved"),
        ({"meta": {"when": object()}}, "JSON"),
        ({"meta": {}, "model_state": {"w": [1.0]}}, "model_state"),
        ({"meta": {}, "extra_tensors": {"h": 1}}, "extra_tensors"),
        ({"meta": {}, "optimizer_state": {"state": {0: {"buf": object()}}}}, "state.0.buf"),
        ({"meta": {}, "optimizer_state": {"state": {(1, 2): {}}}}, r"\(1, 2\)"),
    ],
)
def test_save_checkpoint_rejects_bad_input(tmp_path, kwargs, match):
    kwargs = {"model_state": {"w": torch.ones(1)}, **kwargs}
    with pytest.raises(InputError, match=match):
        save_checkpoint(tmp_path / "c.safetensors", **kwargs)
    assert list(tmp_path.iterdir()) == []


def _small_checkpoint(path):
    return save_checkpoint(
        path,
        model_state={"w": torch.arange(6.0).reshape(2, 3)},
        optimizer_state={"state": {0: {"step": torch.tensor(2.0)}}, "param_groups": []},
        meta={"step": 2, "config": {"hidden": 3}},
    )


CORRUPTIONS = {
    "empty": lambda data: b"",
    "header-length-only": lambda data: data[:8],
    "truncated-header": lambda data: data[:40],
    "truncated-data": lambda data: data[:-3],
    "extra-bytes": lambda data: data + b"\0\0\0\0",
    "garbage": lambda data: bytes(range(256)) * 4,
    "plain-json": lambda data: b'{"format": "rnnlab-checkpoint", "version": 1}\n',
    "flipped-data-byte": lambda data: data[:-5] + bytes([data[-5] ^ 0x10]) + data[-4:],
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_load_corrupted_checkpoint_names_file(tmp_path, corruption):
    file = _small_checkpoint(tmp_path / "c.safetensors")
    file.write_bytes(CORRUPTIONS[corruption](file.read_bytes()))
    with pytest.raises(CheckpointError, match=r"c\.safetensors"):
        load_checkpoint(file)


def test_every_single_bit_flip_is_detected(tmp_path):
    data = _small_checkpoint(tmp_path / "good.safetensors").read_bytes()
    file = tmp_path / "c.safetensors"
    for offset in range(len(data)):
        flipped = bytearray(data)
        flipped[offset] ^= 0x01
        file.write_bytes(bytes(flipped))
        with pytest.raises(CheckpointError, match=r"c\.safetensors"):
            load_checkpoint(file)
            pytest.fail(f"flip at byte {offset} of {len(data)} went unnoticed")


def _write_with_metadata(path, metadata):
    save_file({"model.w": torch.ones(2)}, path, metadata=metadata)


def test_load_rejects_foreign_or_wrong_metadata(tmp_path):
    file = tmp_path / "c.safetensors"
    _write_with_metadata(file, None)
    with pytest.raises(CheckpointError, match="not an rnnlab checkpoint"):
        load_checkpoint(file)

    def with_doc(doc):
        text = json.dumps(doc)
        _write_with_metadata(
            file, {"rnnlab": text, "rnnlab.crc32": f"{zlib.crc32(text.encode()):08x}"}
        )

    with_doc({"format": "other", "version": 1})
    with pytest.raises(CheckpointError, match="expected format 'rnnlab-checkpoint', got 'other'"):
        load_checkpoint(file)
    with_doc({"format": "rnnlab-checkpoint", "version": 2})
    with pytest.raises(CheckpointError, match="version 2 is newer"):
        load_checkpoint(file)
    with_doc({"format": "rnnlab-checkpoint", "version": "1"})
    with pytest.raises(CheckpointError, match="invalid checkpoint version"):
        load_checkpoint(file)
    with_doc(["not", "an", "object"])
    with pytest.raises(CheckpointError, match="expected format"):
        load_checkpoint(file)
    _write_with_metadata(file, {"rnnlab": "{}"})
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(file)


def test_load_missing_path(tmp_path):
    with pytest.raises(CheckpointError, match=r"no checkpoint file or run directory at .*nope"):
        load_checkpoint(tmp_path / "nope")


# ---------------------------------------------------------------- run directories


def _save_step(run, step, keep=2, **kwargs):
    return save_run_checkpoint(
        run,
        step,
        model_state={"w": torch.full((2,), float(step))},
        meta={"config": {"hidden": 2}},
        keep=keep,
        **kwargs,
    )


def _steps_on_disk(run):
    return sorted(p.name for p in run.iterdir() if p.name != "latest.json")


def test_checkpoint_name():
    assert checkpoint_name(1234) == "step-00001234.safetensors"
    assert checkpoint_name(123456789) == "step-123456789.safetensors"
    with pytest.raises(InputError, match="step >= 0"):
        checkpoint_name(-1)


def test_run_checkpoint_keep_policy_and_latest(tmp_path):
    run = tmp_path / "run"
    for step in (10, 20, 30):
        file = _save_step(run, step)
    assert file == run / "step-00000030.safetensors"
    assert _steps_on_disk(run) == ["step-00000020.safetensors", "step-00000030.safetensors"]
    latest = json.loads((run / "latest.json").read_text())
    assert latest == {"path": "step-00000030.safetensors", "step": 30}
    ckpt = load_checkpoint(run)
    assert ckpt.path == file and ckpt.meta["step"] == 30
    assert ckpt.model_state["w"].tolist() == [30.0, 30.0]
    _save_step(run, 40, keep=1)
    assert _steps_on_disk(run) == ["step-00000040.safetensors"]


def test_run_checkpoint_resumed_from_earlier_step_drops_abandoned_future(tmp_path):
    run = tmp_path / "run"
    for step in (10, 20, 30):
        _save_step(run, step, keep=3)
    _save_step(run, 15, keep=2)
    assert _steps_on_disk(run) == ["step-00000010.safetensors", "step-00000015.safetensors"]
    assert find_checkpoint(run).name == "step-00000015.safetensors"


def test_run_checkpoint_rejects_bad_keep_and_step(tmp_path):
    with pytest.raises(InputError, match="keep >= 1"):
        _save_step(tmp_path, 1, keep=0)
    with pytest.raises(InputError, match="meta step 5 != step 1"):
        save_run_checkpoint(tmp_path, 1, model_state={}, meta={"step": 5})


@pytest.mark.parametrize("where", ["writer", "replace", "latest"])
def test_crash_while_saving_leaves_previous_checkpoint(tmp_path, monkeypatch, where):
    run = tmp_path / "run"
    _save_step(run, 10)
    before = sorted(p.name for p in run.iterdir())

    def partial_write(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b'\x10\x00\x00\x00\x00\x00\x00\x00{"half')
        raise OSError("disk full")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    if where == "writer":
        monkeypatch.setattr(checkpoint, "save_file", partial_write)
    elif where == "replace":
        monkeypatch.setattr(atomic.os, "replace", fail)
    else:
        monkeypatch.setattr(checkpoint, "atomic_write_json", fail)
    with pytest.raises(OSError, match="disk full"):
        _save_step(run, 20)
    monkeypatch.undo()
    ckpt = load_checkpoint(run)
    assert ckpt.meta["step"] == 10
    after = sorted(p.name for p in run.iterdir())
    if where == "latest":
        assert after == sorted([*before, "step-00000020.safetensors"])
    else:
        assert after == before


def test_find_checkpoint_forms(tmp_path):
    run = tmp_path / "run"
    _save_step(run, 5, keep=5)
    newest = _save_step(run, 7, keep=5)
    ckdir = run
    assert find_checkpoint(run) == newest
    assert find_checkpoint(ckdir) == newest
    assert find_checkpoint(ckdir / "latest.json") == newest
    assert (
        find_checkpoint(ckdir / "step-00000005.safetensors") == ckdir / "step-00000005.safetensors"
    )
    (ckdir / "latest.json").write_text(json.dumps({"path": "step-00000005.safetensors", "step": 5}))
    assert find_checkpoint(run).name == "step-00000005.safetensors"


@pytest.mark.parametrize(
    "latest",
    [
        "not json",
        '{"path": "step-00000099.safetensors"}',
        '{"path": "../escape.safetensors"}',
        '{"path": 3}',
        "[]",
    ],
)
def test_find_checkpoint_falls_back_to_highest_step(tmp_path, latest):
    ckdir = tmp_path / "run"
    ckdir.mkdir()
    for step in (3, 12, 9):
        _small_checkpoint(ckdir / checkpoint_name(step))
    (ckdir / ".step-00000050.safetensors.1a2b.tmp").write_bytes(b"partial")
    (ckdir / "step-00000040.safetensors.tmp").write_bytes(b"partial")
    (tmp_path / "escape.safetensors").write_bytes(b"")
    (ckdir / "latest.json").write_text(latest)
    assert find_checkpoint(ckdir) == ckdir / "step-00000012.safetensors"


def test_find_checkpoint_empty_directory(tmp_path):
    (tmp_path / ".step-00000001.safetensors.ab.tmp").write_bytes(b"")
    with pytest.raises(CheckpointError) as info:
        find_checkpoint(tmp_path)
    message = str(info.value)
    assert f"no checkpoint in {tmp_path};" in message
    assert f"`rnnlab train ... --out {tmp_path}`" in message
    with pytest.raises(CheckpointError, match=f"--out {tmp_path}`"):
        load_checkpoint(tmp_path)


# ---------------------------------------------------------------- mismatch helpers


def test_check_compatible_lists_differences():
    saved = {"hidden": 512, "layers": 2, "cell": "lstm", "model": {"dropout": 0.1}}
    current = {"hidden": 256, "layers": 2, "cell": "gru", "model": {"dropout": 0.1}}
    with pytest.raises(CheckpointError) as info:
        check_compatible(current, saved, ["hidden", "layers", "model.dropout"], source="run/c")
    assert str(info.value) == (
        "checkpoint run/c does not match the current settings:\n  hidden: checkpoint 512, now 256"
    )
    with pytest.raises(CheckpointError, match='cell: checkpoint "lstm", now "gru"'):
        check_compatible(current, saved)
    with pytest.raises(CheckpointError, match=r"extra: checkpoint \(missing\), now 1"):
        check_compatible({**saved, "extra": 1}, saved)


def test_check_compatible_accepts_json_equal_values():
    check_compatible({"betas": (0.9, 0.99), "n": 1}, {"betas": [0.9, 0.99], "n": 1})
    check_compatible({"a": 1, "b": 2}, {"a": 1, "b": 3}, ["a"])


def test_check_state_dict_reports_names_and_shapes():
    model = torch.nn.LSTM(4, 8).state_dict()
    saved = dict(torch.nn.LSTM(4, 16).state_dict())
    saved["extra.weight"] = saved.pop("bias_hh_l0")
    with pytest.raises(CheckpointError) as info:
        check_state_dict(model, saved, source="c.safetensors")
    assert str(info.value) == (
        "checkpoint c.safetensors does not fit the model:\n"
        "  missing from the checkpoint (1): bias_hh_l0\n"
        "  not in the model (1): extra.weight\n"
        "  shape mismatch (3):\n"
        "    bias_ih_l0: checkpoint (64,), model (32,)\n"
        "    weight_hh_l0: checkpoint (64, 16), model (32, 8)\n"
        "    weight_ih_l0: checkpoint (64, 4), model (32, 4)"
    )
    check_state_dict(model, torch.nn.LSTM(4, 8).state_dict())


def test_check_state_dict_hints_wrapper_prefix():
    model = torch.nn.Linear(2, 2).state_dict()
    wrapped = {f"module.{k}": v for k, v in model.items()}
    with pytest.raises(CheckpointError, match=r"differ only by the prefix 'module\.'"):
        check_state_dict(model, wrapped)
    many = {f"w{i:02d}": torch.zeros(1) for i in range(15)}
    with pytest.raises(CheckpointError, match=r"\(15\): w00, .*w09, … and 5 more"):
        check_state_dict(many, {})


def test_checkpoint_files_get_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    file = save_checkpoint(
        tmp_path / "c.safetensors", model_state={"w": torch.ones(2)}, meta={"step": 1}
    )
    assert file.stat().st_mode & 0o777 == 0o666 & ~umask
