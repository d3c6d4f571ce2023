"""Several processes (torchrun, gloo on CPU): gradients averaged exactly, and the stages under torchrun.

The stage test is the acceptance check of the distributed path: train_mgn, masks and train_mvt run under
`torchrun --nproc-per-node 2`; the masks equal those of one process; train_mvt (with relabeling) ends
with the same label store on both processes (it checks and fails otherwise) and writes its outputs once.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml

from conftest import ROOT, merge
from mvt_fer.engine import distributed
from mvt_fer.engine.loop import update

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _half_batch_grads(rank: int, port: int, x: torch.Tensor, y: torch.Tensor, out):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.LayerNorm(5), torch.nn.Linear(5, 3))
    half = slice(rank * 4, rank * 4 + 4)
    torch.nn.functional.cross_entropy(model(x[half]), y[half]).backward()
    distributed.average_gradients(model)
    out[rank] = [p.grad.clone() for p in model.parameters()]
    out[f"shard{rank}"] = distributed.shard(10)
    out[f"any{rank}"] = distributed.any_process(rank == 1)  # true on one process: true on both
    out[f"main{rank}"] = distributed.from_main(f"from {rank}")
    out[f"bn{rank}"] = _bn_after_update(x[half])  # through train_mgn's `update`, as DDP keeps them
    dist.destroy_process_group()


def _bn_after_update(x: torch.Tensor) -> torch.Tensor:
    """BatchNorm's running mean after one `update` on `x` (every process its own batch)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    update(model, model(x).square().mean(), optimizer=opt, scheduler=sched)
    return model[1].running_mean.clone()


def test_averaged_half_batch_gradients_equal_the_full_batch_gradient():
    x, y = torch.randn(8, 6, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 0, 1, 2, 2, 1])
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_half_batch_grads, args=(_free_port(), x, y, out), nprocs=2)
        grads = {k: out[k] for k in (0, 1)}
        shards = [out["shard0"], out["shard1"]]
        assert out["any0"] is out["any1"] is True and out["main0"] == out["main1"] == "from 0"
        # BatchNorm statistics: process 0's on both (as DDP broadcasts them), not each its own half's.
        torch.testing.assert_close(out["bn1"], out["bn0"], rtol=0, atol=0)
        torch.testing.assert_close(out["bn0"], _bn_after_update(x[:4]), rtol=0, atol=0)
        assert not torch.equal(_bn_after_update(x[4:]), out["bn0"])
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.LayerNorm(5), torch.nn.Linear(5, 3))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    for rank in (0, 1):
        for got, want in zip(grads[rank], (p.grad for p in model.parameters())):
            torch.testing.assert_close(got, want)
    assert shards == [slice(0, 5), slice(5, 10)]


TINY_PATCH = dict(patch_size=8, embed_dim=32, depth=2, num_heads=2, drop_path_rate=0.0, stem="patch")


def _ddp_step(rank: int, port: int, x: torch.Tensor, y: torch.Tensor, out):
    from mvt_fer.engine.train import classifier_step
    from mvt_fer.models import create_classifier
    from mvt_fer.params import ModelParams

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = create_classifier(ModelParams(**TINY_PATCH), 3, 16).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    half = slice(rank * 4, rank * 4 + 4)
    step_model = distributed.ddp(model, torch.device("cpu"))
    classifier_step(step_model, optimizer, scheduler, images=x[half], keep=None, targets=y[half])
    out[rank] = {k: v.clone() for k, v in model.state_dict().items()}
    out[f"ddp{rank}"] = type(step_model).__name__
    dist.destroy_process_group()


def test_one_ddp_step_on_half_batches_equals_one_step_on_the_whole_batch():
    # The classifier under DistributedDataParallel (gloo, 2 processes, 4 images each) against one process on
    # all 8: the same weights after one AdamW step. The patch stem: BatchNorm's batch statistics are per
    # process under DDP, as everywhere without SyncBatchNorm, so the conv stem would differ by design.
    from mvt_fer.engine.train import classifier_step
    from mvt_fer.models import create_classifier
    from mvt_fer.params import ModelParams

    x, y = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 0, 1, 2, 2, 1])
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_ddp_step, args=(_free_port(), x, y, out), nprocs=2)
        weights = {k: out[k] for k in (0, 1)}
        assert out["ddp0"] == out["ddp1"] == "DistributedDataParallel"
    torch.manual_seed(0)
    model = create_classifier(ModelParams(**TINY_PATCH), 3, 16).train()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    # SGD: AdamW's first step is lr * sign(gradient), and the attention's key bias has a gradient of zero up
    # to rounding, whose sign two ways of summing need not share; SGD moves each weight by its gradient.
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    classifier_step(model, optimizer, scheduler, images=x, keep=None, targets=y)
    moved = 0
    for name, want in model.state_dict().items():
        for rank in (0, 1):
            torch.testing.assert_close(weights[rank][name], want, atol=1e-5, rtol=0, msg=name)
        moved += not torch.equal(want, start[name])
    assert moved > 10  # the step moved the weights, so the comparison says something


def _run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_stages_under_torchrun_two_processes(tmp_path, tiny_params):
    params = merge(
        tiny_params,
        {
            "mvt": {"use_masks": True},
            "prepare": {"noise_rate": 0.3},
            "relabel": {"enabled": True, "fn": "constant", "delta": 0.0, "start_epoch": 1, "min_train_acc": None},
        },
    )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    def stage(name):
        return str(ROOT / "stages" / f"{name}.py")

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    _run([sys.executable, stage("prepare")], tmp_path)
    out = _run(torchrun + [stage("train_mgn")], tmp_path)
    assert "2 process(es)" in out and out.count("train_mgn epoch=1 ") == 1  # process 0 alone reports
    _run(torchrun + [stage("masks")], tmp_path)
    out = _run(torchrun + [stage("train_mvt")], tmp_path)
    assert "2 process(es)" in out
    _run([sys.executable, stage("evaluate")], tmp_path)
    train = json.loads((tmp_path / "metrics" / "train.json").read_text())
    assert train["relabel"]["count"] > 0 and json.loads((tmp_path / "metrics" / "eval.json").read_text())["n"] == 42

    # The same G masking in one process gives the same masks, in the same order.
    single = tmp_path / "single"
    single.mkdir()
    shutil.copy(tmp_path / "params.yaml", single)
    shutil.copytree(tmp_path / "data" / "prepared", single / "data" / "prepared")
    shutil.copytree(tmp_path / "models", single / "models")
    _run([sys.executable, stage("masks")], single)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(
            np.load(tmp_path / "data" / "masks" / f"{split}.npy"), np.load(single / "data" / "masks" / f"{split}.npy")
        )
