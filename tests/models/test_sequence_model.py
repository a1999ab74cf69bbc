"""SequenceModel: shapes, causality, sizing by a parameter budget, chrono t_max, bad inputs."""

import math
from dataclasses import replace

import pytest
import torch

from rnnlab.config import override
from rnnlab.errors import InputError
from rnnlab.models.sequence import (
    MODELS,
    SequenceModel,
    SequenceModelConfig,
    count_parameters,
    size_for_params,
    with_width,
)
from rnnlab.tasks import get_task
from rnnlab.train.task import RunContext

B, T, F, K, V = 3, 12, 4, 5, 7


def small(model, **kw):
    base = dict(model=model, hidden=6, channels=(5, 5, 5), kernel_size=3)
    base.update(kw)
    return SequenceModelConfig(**base)


def quiet(*args, **kwargs):
    pass


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("every_step", [False, True])
def test_float_input_shapes(model, every_step):
    torch.manual_seed(0)
    net = SequenceModel(F, K, small(model), every_step=every_step)
    out = net(torch.randn(B, T, F))
    assert out.shape == ((B, T, K) if every_step else (B, K))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("embed_dim", [0, 3])
@pytest.mark.parametrize("every_step", [False, True])
def test_token_input_shapes(model, embed_dim, every_step):
    torch.manual_seed(0)
    net = SequenceModel(V, K, small(model, embed_dim=embed_dim), tokens=True, every_step=every_step)
    assert (net.embedding is None) == (embed_dim == 0)
    out = net(torch.randint(0, V, (B, T)))
    assert out.shape == ((B, T, K) if every_step else (B, K))


def test_one_hot_input_is_the_float_model_on_one_hot_vectors():
    torch.manual_seed(0)
    tokens = SequenceModel(V, K, small("gru"), tokens=True, every_step=True)
    floats = SequenceModel(V, K, small("gru"), every_step=True)
    floats.load_state_dict(tokens.state_dict())
    ids = torch.randint(0, V, (B, T))
    one_hot = torch.nn.functional.one_hot(ids, V).float()
    torch.testing.assert_close(tokens(ids), floats(one_hot))


def test_last_step_read_out_is_the_last_of_every_step():
    torch.manual_seed(0)
    every = SequenceModel(F, K, small("lstm"), every_step=True)
    last = SequenceModel(F, K, small("lstm"))
    last.load_state_dict(every.state_dict())
    x = torch.randn(B, T, F)
    torch.testing.assert_close(last(x), every(x)[:, -1])


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("tokens", [False, True])
def test_every_step_read_out_is_causal(model, tokens):
    torch.manual_seed(0)
    inputs = V if tokens else F
    net = SequenceModel(inputs, K, small(model, layers=2), tokens=tokens, every_step=True).eval()
    if tokens:
        x = torch.randint(0, V, (B, T))
    else:
        x = torch.randn(B, T, F)
    with torch.no_grad():
        base = net(x)
        for t in (0, 4, T - 2):
            changed = x.clone()
            if tokens:
                changed[:, t + 1 :] = (changed[:, t + 1 :] + 1) % V
            else:
                changed[:, t + 1 :] += torch.randn_like(changed[:, t + 1 :])
            out = net(changed)
            assert torch.equal(out[:, : t + 1], base[:, : t + 1]), (model, t)
            assert not torch.allclose(out[:, t + 1 :], base[:, t + 1 :]), (model, t)


def builder(inputs=F, outputs=K, **kw):
    return lambda cfg: SequenceModel(inputs, outputs, cfg, **kw)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("budget", [100, 1_000, 20_000, 70_000])
def test_size_for_params_picks_the_closest_width(model, budget):
    cfg = replace(small(model), params=budget)
    build = builder()
    before = torch.get_rng_state()
    chosen, n = size_for_params("test", cfg, build)
    assert torch.equal(before, torch.get_rng_state())
    width = chosen.channels[0] if model == "tcn" else chosen.hidden
    if model == "tcn":
        assert chosen.channels == (width,) * len(cfg.channels)
    else:
        assert chosen.layers == cfg.layers
    assert n == count_parameters(build(chosen))
    for other in (width - 1, width + 1):
        if other >= 1:
            m = count_parameters(build(with_width(cfg, other)))
            assert abs(m - budget) >= abs(n - budget), (width, other, n, m)


def test_size_for_params_keeps_the_other_options():
    cfg = replace(small("lstm", layers=2, proj_size=3, layer_norm=True), params=5_000)
    chosen, n = size_for_params("test", cfg, builder())
    assert chosen.hidden > 3 and chosen.layers == 2 and chosen.proj_size == 3
    assert chosen.layer_norm
    assert n == count_parameters(builder()(chosen))


@pytest.mark.parametrize("model", MODELS)
def test_size_for_params_counts_on_the_meta_device(model):
    """Sizing a large budget allocates nothing: the candidate models are built on meta."""
    devices = []
    build = builder()

    def spy(cfg):
        net = build(cfg)
        devices.append(next(net.parameters()).device.type)
        return net

    budget = 2_000_000
    _, n = size_for_params("test", replace(small(model, layers=2), params=budget), spy)
    assert set(devices) == {"meta"} and len(devices) > 5
    assert abs(n - budget) < 0.01 * budget


def test_size_for_params_without_a_budget_counts_the_given_widths():
    cfg = small("gru", hidden=9)
    chosen, n = size_for_params("test", cfg, builder())
    assert chosen == cfg and n == count_parameters(builder()(cfg))


@pytest.mark.parametrize("model", MODELS)
def test_budget_below_the_smallest_model_is_an_input_error(model):
    cfg = small(model)
    smallest = count_parameters(builder()(with_width(cfg, 1)))
    with pytest.raises(InputError, match="too small") as err:
        size_for_params("adding", replace(cfg, params=smallest - 1), builder())
    assert f"{smallest:,} parameters" in str(err.value)
    assert str(err.value).startswith("adding:")
    _, n = size_for_params("adding", replace(cfg, params=smallest), builder())
    assert n == smallest


def forget_biases(net, hidden):
    """The LSTM's total forget-gate bias (b_ih + b_hh) and input-gate bias, layer 0."""
    enc = net.encoder
    total = enc.bias_ih_l0.detach() + enc.bias_hh_l0.detach()  # (4H,)
    return total[hidden : 2 * hidden], total[:hidden]


def test_chrono_uses_the_tasks_t_max_when_unset():
    hidden = 64
    torch.manual_seed(0)
    short = SequenceModel(F, K, small("lstm", hidden=hidden, init="chrono"), t_max=3.0)
    f, i = forget_biases(short, hidden)
    assert f.min() >= 0 and f.max() <= math.log(2.0) + 1e-6  # log U(1, t_max − 1)
    torch.testing.assert_close(i, -f)
    torch.manual_seed(0)
    long = SequenceModel(F, K, small("lstm", hidden=hidden, init="chrono"), t_max=1000.0)
    f, _ = forget_biases(long, hidden)
    assert f.min() >= 0 and f.max() <= math.log(999.0) + 1e-6
    assert f.max() > math.log(100.0)


def test_chrono_t_max_given_in_the_config_wins():
    hidden = 64
    torch.manual_seed(0)
    net = SequenceModel(F, K, small("lstm", hidden=hidden, init="chrono", t_max=3.0), t_max=1000.0)
    f, _ = forget_biases(net, hidden)
    assert f.max() <= math.log(2.0) + 1e-6


def test_chrono_without_any_t_max_is_an_input_error():
    with pytest.raises(InputError, match="t_max"):
        SequenceModel(F, K, small("lstm", init="chrono"))


def test_adding_task_gives_chrono_its_sequence_length():
    spec = get_task("adding")
    hidden = 64
    for seq_len, top in ((4, math.log(3.0)), (500, math.log(499.0))):
        cfg = override(
            spec.config(), {"seq_len": seq_len, "hidden": hidden, "init": "chrono", "steps": 1}
        )
        task = spec.build(cfg, RunContext(log=quiet))
        torch.manual_seed(0)
        f, _ = forget_biases(task.build_model(), hidden)
        assert f.min() >= 0 and f.max() <= top + 1e-6
    assert f.max() > math.log(50.0)  # the long task's biases reach far beyond the short one's


@pytest.mark.parametrize("model", MODELS)
def test_wrong_feature_count_is_an_input_error(model):
    net = SequenceModel(F, K, small(model))
    with pytest.raises(InputError, match=rf"expected input of shape \(B, T, {F}\)"):
        net(torch.randn(B, T, F + 1))
    with pytest.raises(InputError, match="expected input of shape"):
        net(torch.randn(T, F))


def test_float_ids_are_an_input_error():
    net = SequenceModel(V, K, small("lstm"), tokens=True)
    with pytest.raises(InputError, match="dtype int64"):
        net(torch.randint(0, V, (B, T)).float())
    with pytest.raises(InputError, match=r"token ids of shape \(B, T\)"):
        net(torch.randint(0, V, (B, T, 1)))


@pytest.mark.parametrize(
    "options, text",
    [
        ({"model": "foo"}, "expected model in tcn, lstm, gru, rnn, mingru, minlstm, got 'foo'"),
        ({"hidden": 0}, "hidden >= 1"),
        ({"channels": ()}, "channels"),
        ({"channels": (4, 0)}, "channels"),
        ({"dropout": 1.0}, "dropout in"),
        ({"embed_dim": -1}, "embed_dim >= 0"),
    ],
)
def test_bad_config_is_an_input_error(options, text):
    with pytest.raises(InputError, match=text):
        SequenceModel(F, K, replace(small("lstm"), **options))
