"""CUDA graphs: a training step through safeconv (forward, backward, optimizer step) captured
with torch.cuda.graph and replayed gives the results of the same steps run eagerly.

What makes capture possible (functional._call_gpu): workspace from PyTorch's caching allocator
(and a non-NULL pointer of size 0 where none is needed, so the library never allocates its own
device pool), no timing events, no synchronization; the stream changes from the warm-up stream
to the capture stream without waiting, because sc_context_set_stream waits for the old stream
only when that pool exists. A capture that synchronized would fail ("operation not permitted
when stream is capturing"). Skipped without CUDA."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import safeconv
from conftest import CUDA_SKIP, rel_err

pytestmark = pytest.mark.skipif(CUDA_SKIP is not None, reason=str(CUDA_SKIP))


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2), nn.ReLU(),
                         nn.ConvTranspose2d(8, 4, 2, stride=2), nn.ReLU(),
                         nn.Conv2d(4, 2, 1, bias=False)).cuda()


def _step(model, opt, x, t):
    y = model(x)
    loss = F.mse_loss(y, t)
    loss.backward()
    opt.step()
    return loss


@pytest.mark.parametrize("nhwc", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("how", ["patch_model", "enable"])
def test_captured_training_step_replays_like_eager(how, nhwc):
    model = _model()
    fmt = torch.channels_last if nhwc else torch.contiguous_format
    model = model.to(memory_format=fmt)
    if how == "patch_model":
        safeconv.patch_model(model, strategy="gpu")
    with safeconv.enable(strategy="gpu"):
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        g = torch.Generator(device="cuda").manual_seed(1)
        batches = [(torch.randn(4, 3, 16, 16, device="cuda", generator=g).contiguous(
            memory_format=fmt), torch.randn(4, 2, 16, 16, device="cuda", generator=g))
            for _ in range(6)]
        static_x = batches[0][0].clone()
        static_t = batches[0][1].clone()
        # warm-up on a side stream (as PyTorch's documentation does), then capture
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                opt.zero_grad(set_to_none=True)
                _step(model, opt, static_x, static_t)
        torch.cuda.current_stream().wait_stream(s)
        ref = copy.deepcopy(model)
        ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05)
        graph = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            static_loss = _step(model, opt, static_x, static_t)
        for x, t in batches[1:]:
            static_x.copy_(x)
            static_t.copy_(t)
            graph.replay()
            ref_opt.zero_grad(set_to_none=True)
            loss = _step(ref, ref_opt, x, t)
            torch.cuda.synchronize()
            assert rel_err(static_loss, loss) < 1e-5
        for (name, p), q in zip(model.named_parameters(), ref.parameters()):
            assert rel_err(p, q) < 1e-5, name
