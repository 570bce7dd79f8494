"""Per-position MLPs (GELU between layers) on channel-first ``(features, N)`` data.

Both C3 networks are MLPs of width ~18 applied to ~0.4-0.5 million positions. Done layer by
layer over all positions, every matrix product and GELU streams tens of megabytes through
memory and the step is memory-bound. On a CPU we therefore run the MLP in column chunks that
stay in the caches, forward and backward, and keep only the input for the backward pass
(recomputing a chunk's activations is cheaper than reading them back from memory). With the
fused kernel (:mod:`.fused`) the chunks are shared out over ``torch.get_num_threads()`` Python
threads (the kernel releases the GIL), which take chunks from a shared counter (so that a
thread free early can help, see ``runtime.share_chunks``); backward, each chunk's weight
gradients go to its own partial sums and these are added in chunk order, so results do not
depend on the thread count. Without the kernel the chunks run one after the other through
PyTorch's own threaded operators. On other devices the plain layer-by-layer form is used.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..runtime import share_chunks
from ..fitting.kernels import fused_mlp, sum_lanes

CHUNK = 16384
"""Positions per chunk, chosen by measurement (ARM forward + backward, 1 and 2 threads): 8192 and
32768 were slower. A chunk's activations (~1.5 MB) exceed a 1 MB L2 but stay in L3; smaller chunks
lose more to per-chunk Python overhead than they gain in cache hits."""


def mlp_channels_first(layers: nn.ModuleList, x: torch.Tensor, scratch_input: bool = False) -> torch.Tensor:
    """``(in_features, N)`` -> ``(out_features, N)`` through ``layers`` with GELU in between.

    ``scratch_input``: ``x`` is a temporary that nothing else reads (the synthesis's upsampled
    latents), so the backward pass may write the input gradient over it (see
    :class:`_ChunkedMLP`); never for a tensor the caller keeps, nor with ``retain_graph``."""
    weights = [layer.weight for layer in layers]
    biases = [layer.bias for layer in layers]
    if x.device.type == "cpu" and x.shape[1] > CHUNK:
        return _ChunkedMLP.apply(x, scratch_input, len(layers), *weights, *biases)
    return plain_mlp(weights, biases, x)


def plain_mlp(weights: list[torch.Tensor], biases: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Reference layer-by-layer MLP (autograd does the backward pass)."""
    inputs = _hidden_layers(weights, biases, x)[1]
    return torch.addmm(biases[-1][:, None], weights[-1], inputs[-1])


def _hidden_layers(weights, biases, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Pre-activations of the hidden layers, and every layer's input (``x`` first)."""
    pre, inputs = [], [x]
    for weight, bias in zip(weights[:-1], biases[:-1]):
        pre.append(torch.addmm(bias[:, None], weight, inputs[-1]))
        inputs.append(F.gelu(pre[-1]))
    return pre, inputs


def _widths(weights) -> tuple[int, ...]:
    return (weights[0].shape[1], *(w.shape[0] for w in weights))


class _ChunkedMLP(torch.autograd.Function):
    """Chunks through the fused kernel (:mod:`.fused`) where it can run, else through PyTorch."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scratch_input: bool, depth: int,  # type: ignore[override]
                *params: torch.Tensor) -> torch.Tensor:
        weights, biases = params[:depth], params[depth:]
        x_ptr = x.data_ptr()
        x = x.contiguous()
        n = x.shape[1]
        out = x.new_empty(weights[-1].shape[0], n)
        starts = range(0, n, CHUNK)
        kernel = fused_mlp(_widths(weights), x.dtype)
        packed = None if kernel is None else kernel.pack(weights, biases)

        if kernel is None:
            with torch.no_grad():
                for s in starts:  # one after the other, through PyTorch's threaded operators
                    out[:, s:s + CHUNK] = plain_mlp(weights, biases, x[:, s:s + CHUNK])
        else:
            share_chunks(lambda k: kernel.forward(packed, x, out, starts[k], min(starts[k] + CHUNK, n)),
                         len(starts))
        ctx.depth, ctx.scratch_input = depth, scratch_input and x.data_ptr() == x_ptr
        ctx.kernel, ctx.packed = kernel, packed
        ctx.save_for_backward(x, *params)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        x, *params = ctx.saved_tensors
        depth, kernel, packed = ctx.depth, ctx.kernel, ctx.packed
        weights, biases = params[:depth], params[depth:]
        grad_out = grad_out.contiguous()
        need_x = ctx.needs_input_grad[0]
        # Over a scratch input, its gradient overwrites it: every block of positions is read
        # (copied into the kernel's scratch, or recomputed into fresh tensors below) before its
        # gradient is written, and blocks do not overlap. At 12 MP the synthesis's input is
        # 7 x 12 M floats (330 MB) that would otherwise be allocated again at the step's peak.
        grad_x = (x if ctx.scratch_input else torch.empty_like(x)) if need_x else None
        n = x.shape[1]
        starts = range(0, n, CHUNK)

        if kernel is not None:
            lanes = [kernel.new_lanes() for _ in starts]  # per chunk: any thread may run any chunk

            def fused_work(k: int) -> None:
                kernel.backward(packed, x, grad_out, grad_x, lanes[k], starts[k], min(starts[k] + CHUNK, n))

            share_chunks(fused_work, len(starts))
            grad_w, grad_b = kernel.gradients(sum_lanes(lanes))
            return (grad_x, None, None, *grad_w, *grad_b)

        grad_w = [torch.zeros_like(w) for w in weights]
        grad_b = [torch.zeros_like(b) for b in biases]
        with torch.no_grad():
            for s in starts:  # one after the other, through PyTorch's threaded operators
                pre, inputs = _hidden_layers(weights, biases, x[:, s:s + CHUNK])  # recomputed
                g = grad_out[:, s:s + CHUNK]
                for i in range(depth - 1, 0, -1):
                    grad_w[i].addmm_(g, inputs[i].T)
                    grad_b[i].add_(g.sum(dim=1))
                    g = torch.ops.aten.gelu_backward(weights[i].T @ g, pre[i - 1])
                grad_w[0].addmm_(g, inputs[0].T)
                grad_b[0].add_(g.sum(dim=1))
                if need_x:
                    torch.mm(weights[0].T, g, out=grad_x[:, s:s + CHUNK])
        return (grad_x, None, None, *grad_w, *grad_b)
