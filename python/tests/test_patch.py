"""enable/disable (identity restore, idempotence, context manager), patch_model on a ResNet built
here, SafeConv2d as a drop-in (constructor, state_dict), padding modes, report()."""
import copy
import io

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import safeconv
from conftest import DEVICES, rel_err, tol


# --- a small ResNet (no torchvision) ----------------------------------------------------------
class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class SmallResNet(nn.Module):
    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, (3, 5), 2, (1, 2))
        self.layers = nn.Sequential(Block(8, 8, 1), Block(8, 16, 2),
                                    nn.Conv2d(16, 16, 3, padding=1, groups=16),  # depthwise
                                    Block(16, 16, 1))
        self.head = nn.Linear(16, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.stem(x)))
        return self.head(x.mean((2, 3)))


def _conv_layers(model):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


# --- enable / disable --------------------------------------------------------------------------
TARGETS = [(F, "conv2d"), (F, "conv1d"), (F, "conv_transpose2d"),
           (nn.Conv2d, "_conv_forward"), (nn.Conv1d, "_conv_forward"),
           (nn.ConvTranspose2d, "forward")]


def _snapshot():
    return [o.__dict__[a] if isinstance(o, type) else getattr(o, a) for o, a in TARGETS]


def test_enable_disable_restores_by_identity():
    before = _snapshot()
    safeconv.enable()
    during = _snapshot()
    assert all(a is not b for a, b in zip(before, during))
    assert F.conv2d is safeconv.conv2d
    safeconv.enable(strategy="gpu")       # idempotent: nothing patched twice
    assert all(a is b for a, b in zip(during, _snapshot()))
    assert safeconv.is_enabled()
    safeconv.disable()
    assert all(a is b for a, b in zip(before, _snapshot()))
    safeconv.disable()                    # idempotent
    assert all(a is b for a, b in zip(before, _snapshot()))
    assert not safeconv.is_enabled()


def test_enable_context_manager_and_nesting():
    before = _snapshot()
    with safeconv.enable(strategy="gpu", verbose=0) as h:
        assert F.conv2d is safeconv.conv2d and h.config.strategy == "gpu"
        with safeconv.enable(strategy="cpu"):
            assert safeconv.config.current_config().strategy == "cpu"
        assert safeconv.is_enabled()
        assert safeconv.config.current_config().strategy == "gpu"
    assert not safeconv.is_enabled()
    assert all(a is b for a, b in zip(before, _snapshot()))


def test_enable_context_manager_restores_on_error():
    before = _snapshot()
    with pytest.raises(KeyError):
        with safeconv.enable():
            raise KeyError("x")
    assert all(a is b for a, b in zip(before, _snapshot()))


def _third_party_factory():
    """Stands for library code that builds its layers itself."""
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.Conv1d(4, 4, 1), nn.ConvTranspose2d(4, 2, 2))


class Functional(nn.Module):
    def forward(self, x, w):
        return F.conv2d(x, w, padding=1)


def test_enable_covers_models_built_before_and_inside_third_party_code():
    built_before = SmallResNet()
    x = torch.randn(2, 3, 12, 12)
    ref = built_before(x)
    with safeconv.enable():
        built_inside = _third_party_factory()
        y = built_before(x)
        assert rel_err(y, ref) < 1e-5
        z = built_inside[0](torch.randn(1, 2, 5, 5))
        z = built_inside[1](z.flatten(2)).unsqueeze(-1)
        built_inside[2](z)
        Functional()(torch.randn(1, 3, 4, 4), torch.randn(2, 3, 3, 3))
    rep = safeconv.report(built_before, print_table=False)
    convs = [n for n, m in built_before.named_modules() if isinstance(m, nn.Conv2d)]
    assert all(rep[n]["forward_calls"] == 1 and rep[n]["path"] == "cpu" for n in convs)
    rep2 = safeconv.report(built_inside, print_table=False)
    assert [rep2[n]["forward_calls"] for n in ("0", "1", "2")] == [1, 1, 1]
    assert any(k.startswith("F.conv2d") for k in rep2)   # the functional call
    # disabled again: no more safeconv calls
    built_before(x)
    assert safeconv.report(built_before, print_table=False)["stem"]["forward_calls"] == 1


def test_enable_rejects_bad_strategy_and_options():
    with pytest.raises(safeconv.SafeConvInputError, match="strategy"):
        safeconv.enable(strategy="fastest")
    with pytest.raises(safeconv.SafeConvInputError, match="size_treshold"):
        safeconv.enable(size_treshold=3)
    assert not safeconv.is_enabled()


# --- patch_model -------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_patch_model_resnet_matches_and_keeps_state(device):
    torch.manual_seed(0)
    model = SmallResNet().to(device)
    ref_model = copy.deepcopy(model)
    model.eval()
    ref_model.eval()
    convs = _conv_layers(model)
    ids = [id(m) for m in model.modules()]
    hook_calls = []
    convs[0].register_forward_hook(lambda *a: hook_calls.append(1))
    assert safeconv.patch_model(model) is model
    assert [id(m) for m in model.modules()] == ids            # in place
    assert all(isinstance(m, safeconv.SafeConv2d) for m in convs)
    assert not model.training
    assert all(p.device.type == device and p.dtype == torch.float32 for p in model.parameters())
    x = torch.randn(3, 3, 16, 14, device=device)
    y, y_ref = model(x), ref_model(x)
    assert hook_calls == [1]
    assert rel_err(y, y_ref) < tol(device)
    # training mode, gradients of every parameter
    model.train()
    ref_model.train()
    target = torch.randint(0, 5, (3,), device=device)
    F.cross_entropy(model(x), target).backward()
    F.cross_entropy(ref_model(x), target).backward()
    for (n, p), q in zip(model.named_parameters(), ref_model.parameters()):
        assert rel_err(p.grad, q.grad) < 10 * tol(device), n
    rep = safeconv.report(model, print_table=False)
    assert rep["stem"]["forward_calls"] == 2 and rep["stem"]["backward_calls"] == 1
    assert rep["stem"]["bypass_rate"] == 1.0
    # idempotent, and undone by unpatch_model
    safeconv.patch_model(model)
    assert type(convs[0]) is safeconv.SafeConv2d
    safeconv.unpatch_model(model)
    assert all(type(m) is nn.Conv2d for m in convs)


def test_patch_model_training_steps_follow_pytorch():
    torch.manual_seed(1)
    model = SmallResNet()
    ref_model = copy.deepcopy(model)
    safeconv.patch_model(model, strategy="cpu", deterministic=True)
    assert convs_cfg(model) == {"cpu"}
    opts = [torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in (model, ref_model)]
    g = torch.Generator().manual_seed(2)
    x = torch.randn(8, 3, 12, 12, generator=g)
    t = torch.randint(0, 5, (8,), generator=g)
    for _ in range(5):
        losses = []
        for m, opt in zip((model, ref_model), opts):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), t)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert abs(losses[0] - losses[1]) <= 1e-4 * abs(losses[1])


def convs_cfg(model):
    return {m.safeconv_config.strategy for m in _conv_layers(model)}


class MyConv(nn.Conv2d):
    """A third-party subclass that keeps nn.Conv2d's forward."""
    def extra(self):
        return "kept"


def test_patch_model_handles_subclasses_and_other_layer_types():
    model = nn.Sequential(MyConv(2, 3, 3), nn.Conv1d(3, 3, 2), nn.ConvTranspose2d(3, 2, 2, stride=2))
    ref = copy.deepcopy(model)
    safeconv.patch_model(model)
    assert isinstance(model[0], MyConv) and model[0].extra() == "kept"
    assert safeconv.is_patched(model[0]) and safeconv.is_patched(model[1])
    assert safeconv.is_patched(model[2])
    x = torch.randn(2, 2, 6, 6)
    a = model[0](x)
    assert rel_err(a, ref[0](x)) < 1e-5
    s = a.flatten(2)
    assert rel_err(model[1](s), ref[1](s)) < 1e-5
    u = model[1](s).unsqueeze(-1)
    assert rel_err(model[2](u), ref[2](u)) < 1e-5
    assert rel_err(model[2](u, output_size=(31, 3)), ref[2](u, output_size=(31, 3))) < 1e-5
    safeconv.unpatch_model(model)
    assert type(model[0]) is MyConv and type(model[1]) is nn.Conv1d


# --- SafeConv2d as a drop-in ----------------------------------------------------------------------
def test_state_dict_round_trip():
    torch.manual_seed(3)
    stock = nn.Sequential(nn.Conv2d(3, 4, 3, bias=True), nn.Conv2d(4, 2, 1, bias=False))
    safe = nn.Sequential(safeconv.SafeConv2d(3, 4, 3, bias=True),
                         safeconv.SafeConv2d(4, 2, 1, bias=False))
    assert list(stock.state_dict()) == list(safe.state_dict())
    buf = io.BytesIO()
    torch.save(stock.state_dict(), buf)
    buf.seek(0)
    safe.load_state_dict(torch.load(buf))        # a stock checkpoint loads unchanged
    x = torch.randn(2, 3, 7, 7)
    assert rel_err(safe(x), stock(x)) < 1e-5
    back = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1, bias=False))
    back.load_state_dict(safe.state_dict())      # and the other way
    assert rel_err(back(x), stock(x)) < 1e-5
    patched = safeconv.patch_model(copy.deepcopy(stock), strategy="cpu")
    assert list(patched.state_dict()) == list(stock.state_dict())
    buf = io.BytesIO()
    torch.save(patched, buf)                     # a whole patched model pickles
    buf.seek(0)
    again = torch.load(buf, weights_only=False)  # 2.6+ defaults to weights_only=True
    assert rel_err(again(x), stock(x)) < 1e-5


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [(1, 2), "same"])
def test_padding_modes(mode, padding):
    torch.manual_seed(4)
    kw = dict(padding=padding, padding_mode=mode, dilation=(1, 2), groups=2, bias=True)
    ref = nn.Conv2d(4, 6, (3, 2), **kw)
    safe = safeconv.SafeConv2d(4, 6, (3, 2), **kw)
    safe.load_state_dict(ref.state_dict())
    x = torch.randn(2, 4, 7, 9, requires_grad=True)
    y, yr = safe(x), ref(x)
    assert y.shape == yr.shape and rel_err(y, yr) < 1e-5
    g = torch.randn_like(yr)
    for a, b in zip(torch.autograd.grad(y, (x, safe.weight, safe.bias), g),
                    torch.autograd.grad(yr, (x, ref.weight, ref.bias), g)):
        assert rel_err(a, b) < 1e-5
    ref1, safe1 = nn.Conv1d(4, 6, 3, padding=1, padding_mode=mode), safeconv.SafeConv1d(
        4, 6, 3, padding=1, padding_mode=mode)
    safe1.load_state_dict(ref1.state_dict())
    s = torch.randn(2, 4, 11)
    assert rel_err(safe1(s), ref1(s)) < 1e-5


def test_constructor_matches_nn_conv2d():
    a = safeconv.SafeConv2d(in_channels=4, out_channels=8, kernel_size=(3, 1), stride=2,
                            padding=1, dilation=1, groups=2, bias=False, padding_mode="zeros",
                            device="cpu", dtype=torch.float32)
    b = nn.Conv2d(in_channels=4, out_channels=8, kernel_size=(3, 1), stride=2, padding=1,
                  dilation=1, groups=2, bias=False, padding_mode="zeros")
    assert repr(a).replace("SafeConv2d", "Conv2d") == repr(b)
    assert a.weight.shape == b.weight.shape and a.bias is None
    assert isinstance(a, nn.Conv2d)


# --- report ------------------------------------------------------------------------------------
def test_report_table_and_dict(capsys):
    model = safeconv.patch_model(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 1),
                                               nn.Conv2d(4, 4, 1)))
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    model[:3](x).sum().backward()
    rep = safeconv.report(model)
    assert capsys.readouterr().out == ""  # returns, does not print
    print(rep)  # the README's print(safeconv.report(model)): the table, once, no dict dump
    out = capsys.readouterr().out
    assert "layer" in out and "bypass" in out and "0 " in out
    assert out.count("bypass") == 1 and "{" not in out and "Dict" not in out, out
    assert out == str(rep) + "\n"
    assert safeconv.report(model, print_table=True) == rep  # prints when asked
    assert capsys.readouterr().out == out
    assert set(rep) == {"0", "2", "3"}
    r0 = rep["0"]
    assert r0["forward_calls"] == 1 and r0["backward_calls"] == 1
    assert r0["calls"] == {"forward": 1, "backward_data": 1, "backward_weight": 1}
    assert r0["path"] == "cpu" and r0["paths"] == {"cpu": 3} and r0["bypass_rate"] == 1.0
    assert r0["time_s"] > 0 and r0["shape"] == (2, 3, 8, 8)
    assert sum(r0["algos"].values()) == 3
    assert rep["3"]["forward_calls"] == 0 and rep["3"]["path"] == "-"
    safeconv.reset_stats()
    assert safeconv.report(model, print_table=False)["0"]["forward_calls"] == 0
