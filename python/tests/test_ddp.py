"""DistributedDataParallel: weight gradients with exactly their weights' strides (DDP compares
them exactly), and examples/ddp_train.py on two gloo processes on the CPU: its final loss
equals a single-process run on the same global batch, with no grad-stride warning."""
import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

import safeconv

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, os.pardir, os.pardir, "examples", "ddp_train.py")


def _layers():
    return nn.Sequential(nn.Conv2d(4, 6, 1), nn.Conv2d(6, 6, 3, padding=1, groups=2),
                         nn.ConvTranspose2d(6, 3, 2, stride=2), nn.Conv2d(3, 2, (1, 3)),
                         nn.ConvTranspose2d(2, 2, 1))


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("model_cl,input_cl", [(False, False), (True, True), (False, True),
                                               (True, False)])
def test_weight_gradients_have_their_weights_strides(model_cl, input_cl, create_graph):
    """Where a weight has dimensions of size 1 (1x1 kernels) several strides describe its
    dense layout; its gradient must have the very strides of the weight, or AccumulateGrad
    keeps other ones (it re-lays out only gradients of another layout) and DDP warns and
    copies. Before: a contiguous 1x1 weight fed
    channels_last inputs got gradient strides (4, 1, 4, 4) for weight strides (4, 1, 1, 1)."""
    torch.manual_seed(0)
    m = _layers()
    if model_cl:
        m = m.to(memory_format=torch.channels_last)
    safeconv.patch_model(m)
    x = torch.randn(2, 4, 5, 5)
    if input_cl:
        x = x.contiguous(memory_format=torch.channels_last)
    m(x).square().sum().backward(create_graph=create_graph)
    for p in m.parameters():  # .grad: what DDP's reducer reads (after AccumulateGrad)
        assert p.grad.stride() == p.stride(), (tuple(p.shape), p.stride(), p.grad.stride())
    for p in m.parameters():
        p.grad = None  # create_graph: the .grad refer to the graph


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _launch(nproc, args, timeout=300):
    """What `torchrun --nproc_per_node N` does for one machine (static rendezvous through the
    environment), without torchrun itself: Debian's PyTorch 1.13 torchrun fails on Python
    3.11 unless given --redirects/--tee (its Std flag parsing)."""
    port = _free_port()
    procs = []
    for rank in range(nproc):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc),
                   LOCAL_WORLD_SIZE=str(nproc), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, EXAMPLE] + args, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            outs.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return outs


def test_ddp_example_two_gloo_processes_match_one():
    args = ["--steps", "8", "--batch", "8", "--size", "12", "--channels-last-input"]
    outs = _launch(2, args)
    if any("ddress already in use" in err for _, _, err in outs):
        outs = _launch(2, args)  # the free port was taken in between: once more
    for rank, (rc, out, err) in enumerate(outs):
        assert rc == 0, "rank %d exited %d:\n%s\n%s" % (rank, rc, out, err)
        assert "Grad strides do not match" not in err
    result = json.loads(outs[0][1].strip().splitlines()[-1])
    assert result["world"] == 2 and result["ok"] and result["stride_warnings"] == 0
    assert result["relative_difference"] <= 1e-5
