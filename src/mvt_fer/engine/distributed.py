"""Several processes under `torchrun`: the process group and the few collectives the loops need.

Without torchrun (no WORLD_SIZE in the environment) there is one process, and every helper below is the
identity or a no-op, so the loops read the same either way. Under `torchrun --nproc-per-node N` (and
multi-node with its usual rendezvous flags) each process trains on its shard of every epoch
(`DistributedSampler`, seeded per epoch), gradients are averaged after every backward pass, epoch
metrics are summed over processes, relabel decisions are gathered so every process holds the same labels,
and only process 0 writes outputs.

The classifier (train_mvt) trains through DistributedDataParallel (`ddp`): its bucketed all-reduce
overlaps the backward pass, and it keeps BatchNorm buffers in step with process 0's. train_mgn averages
gradients by hand (`average_gradients`, one flattened all-reduce per update) instead: it updates D and G in
turns, G through `G.logits` rather than its forward, with the other network frozen in each step, and one
D forward serves both D's update and (through no_grad) G's view; DDP expects every forward of a wrapped
module to be followed by a backward through it, and would sync at the wrong time. DDP per network can be
made to work (D's step through DDP(D), G's through DDP of a module whose forward is G.logits, every other
call unwrapped); `make bench`'s `mgn_manual_vs_ddp` times both in 2 gloo processes: the same weights after
the same updates (exactly, with SGD), and the hand all-reduce as fast or faster (DDP's time / ours 0.98 to
1.08 over four runs). DDP's one gain, overlapping the all-reduce with the backward pass, is small here:
an update's gradients are one network's (DeiT-S: 22M floats, 88 MB; G: half of it), a few ms over NVLink
against a step of tens of ms. The hand path keeps the loop as the paper writes it, with no wrappers, and
`update` broadcasts process 0's BatchNorm statistics after each step as DDP would.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from ..errors import UserError


def setup() -> None:
    """Join the process group torchrun describes (gloo on CPU, nccl on GPUs); nothing in one process."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        # gloo for the few CPU-side collectives (epoch sums, gathered objects), nccl for CUDA tensors.
        dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo")


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def broadcast_from_main(module: torch.nn.Module) -> None:
    """Make every process start from process 0's weights (equal seeds already agree; this guarantees it)."""
    if world_size() > 1:
        for t in module.state_dict().values():
            dist.broadcast(t, src=0)


def ddp(module: torch.nn.Module, dev: torch.device) -> torch.nn.Module:
    """`module` under DistributedDataParallel with several processes (gloo on CPU, NCCL on CUDA), else itself."""
    if world_size() == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[dev.index] if dev.type == "cuda" else None)


def average_gradients(module: torch.nn.Module) -> None:
    """Replace every gradient of `module` by its mean over processes (one all-reduce); nothing for a module
    under DistributedDataParallel (compiled or not), whose backward pass already did."""
    from torch.nn.parallel import DistributedDataParallel

    if world_size() == 1 or isinstance(getattr(module, "_orig_mod", module), DistributedDataParallel):
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= world_size()
    for g, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(synced)


def sync_buffers(module: torch.nn.Module) -> None:
    """Process 0's floating-point buffers (BatchNorm running statistics) on every process, in one broadcast,
    as DistributedDataParallel does before each forward; nothing for a module under DDP."""
    from torch.nn.parallel import DistributedDataParallel

    if world_size() == 1 or isinstance(getattr(module, "_orig_mod", module), DistributedDataParallel):
        return
    buffers = [b for b in module.buffers() if b.is_floating_point()]
    if not buffers:
        return
    flat = _flatten_dense_tensors(buffers)
    dist.broadcast(flat, src=0)
    for b, synced in zip(buffers, _unflatten_dense_tensors(flat, buffers)):
        b.copy_(synced)


def any_process(flag: bool) -> bool:
    """True on every process if `flag` is true on any (so that all of them stop together)."""
    if world_size() == 1:
        return flag
    t = torch.tensor([float(flag)])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def from_main(obj):
    """Process 0's `obj` on every process."""
    if world_size() == 1:
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_over_processes(values: dict[str, float]) -> dict[str, float]:
    """Each value summed over processes (epoch sums of losses, hits and counts)."""
    if world_size() == 1:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64)
    dist.all_reduce(t)
    return dict(zip(values, t.tolist()))


def gather(obj):
    """[obj of process 0, obj of process 1, ...] on every process (any picklable object)."""
    if world_size() == 1:
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def epoch_sampler(dataset, seed: int):
    """A DistributedSampler (same permutation on every process, this process's share of it), or None in
    one process. Call `.set_epoch(epoch)` before each epoch."""
    if world_size() == 1:
        return None
    from torch.utils.data import DistributedSampler

    return DistributedSampler(dataset, world_size(), rank(), shuffle=True, seed=seed, drop_last=True)


def shard(n: int) -> slice:
    """This process's contiguous share of n items (the shares, in rank order, make up range(n))."""
    w, r = world_size(), rank()
    return slice(n * r // w, n * (r + 1) // w)


def per_process_batch(batch_size: int, what: str) -> int:
    """The per-process batch that keeps the global batch at `batch_size`."""
    if batch_size % world_size():
        raise UserError(
            f"{what}: {batch_size} is not divisible by the {world_size()} processes; "
            "the global batch is split evenly between them"
        )
    return batch_size // world_size()
