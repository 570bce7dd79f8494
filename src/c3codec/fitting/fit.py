"""Two-stage fitting of a C3 model to one image (c3-supplementary A.2.2, A.2.3).

Stage 1: Adam with cosine learning-rate decay to 0 (after ``lr_hold`` of the steps at the peak),
global gradient-norm clipping, latents passed through soft-rounding with Kumaraswamy noise while
T anneals 0.3 -> 0.1 and a anneals 2 -> 1.
Stage 2: hard rounding forward (soft-round T=1e-4 gradients), lr 1e-4 multiplied by 0.8 whenever
the loss has not improved for 20 steps, with parameters and optimiser state reset to the best so
far; stops when lr < 1e-8 or after the step limit.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field, replace

import torch

from ..config import FitConfig
from ..model.c3 import C3Model
from ..runtime import run_branches, torch_threads
from .quantize import QuantMode, quantize_grids

STAGES: dict[str, tuple[QuantMode, QuantMode]] = {
    "c3": ("softround_noise", "softround_ste"),
    "coolchic": ("uniform_noise", "ste"),
    "coolchic_v2": ("uniform_noise", "epsilon_ste"),
}


@dataclass
class FitReport:
    stage1_steps: int = 0
    stage2_steps: int = 0
    seconds: float = 0.0
    final_loss: float = math.nan
    history: list[tuple[int, float, float, float]] = field(default_factory=list)  # step, loss, psnr, bpp


def rd_loss(model: C3Model, target: torch.Tensor, lmbda: float, mode: QuantMode,
            **quant_kwargs: object) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss = MSE + lambda * bits / pixels (C3's normalisation), with its MSE and bpp."""
    out = model(_quantized(model, mode, quant_kwargs))
    mse, bpp = _mse(out.image, target), _bpp(out.bits, target)
    return mse + lmbda * bpp, mse, bpp


def loss_and_gradients(model: C3Model, target: torch.Tensor, lmbda: float, mode: QuantMode,
                       **quant_kwargs: object) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`rd_loss` and its gradients, added to the parameters' ``.grad``; returns the loss,
    MSE and bpp, detached.

    The distortion depends on the quantised latents only through the synthesis network, the rate
    only through the ARM. Two branches therefore share the work: the synthesis, and the rate
    of all grids. On a CPU with two or more threads they run at the same time, each on half of
    the threads, from their own detached copies of the quantised latents, whose gradients are
    then added and taken back through the quantiser (quantiser and sum use all threads:
    measured faster). The branch that ends first helps the other with its chunks still waiting
    (synthesis MLP chunks, bands of the rate: ``runtime.run_branches``). One thread runs the
    branches one after the other: the results are the same, bit for bit.
    """
    bins = _quantized(model, mode, quant_kwargs)
    leaves = ([b.detach().requires_grad_() for b in bins], [b.detach().requires_grad_() for b in bins])

    def synthesis_branch() -> torch.Tensor:
        mse = _mse(model.synthesize(leaves[0]), target, scratch_image=True)  # a temporary image
        mse.backward()
        return mse.detach()

    def rate_branch() -> torch.Tensor:
        bits = model.rate(leaves[1])[0]
        (lmbda * _bpp(bits, target)).backward()
        return bits.detach()

    threads = torch.get_num_threads()
    if target.device.type == "cpu" and threads >= 2:
        with torch_threads(threads // 2):
            mse, bits = run_branches([synthesis_branch, rate_branch])
    else:
        mse, bits = synthesis_branch(), rate_branch()
    torch.autograd.backward(bins, [_grad(a) + _grad(b) for a, b in zip(*leaves)])
    bpp = _bpp(bits, target)
    return mse + lmbda * bpp, mse, bpp


def _quantized(model: C3Model, mode: QuantMode, quant_kwargs: dict) -> list[torch.Tensor]:
    return quantize_grids(model.latents.in_bins(), mode, **quant_kwargs)  # type: ignore[arg-type]


def _mse(image: torch.Tensor, target: torch.Tensor, scratch_image: bool = False) -> torch.Tensor:
    """``scratch_image``: ``image`` is a temporary that nothing else reads (nor saves for a
    backward pass), and the difference may be written over it."""
    return _MeanSquaredError.apply(image, target, scratch_image)


class _MeanSquaredError(torch.autograd.Function):
    """``mean((image - target) ** 2)`` keeping one image-sized tensor (the difference) instead of
    the four temporaries of the autograd graph (a 12 MP photo: 140 MB each); over a scratch
    image, none (at 12 MP every image-sized allocation in a step costs heap: fragmentation)."""

    @staticmethod
    def forward(ctx, image: torch.Tensor, target: torch.Tensor,  # type: ignore[override]
                scratch_image: bool = False) -> torch.Tensor:
        diff = image.sub_(target) if scratch_image else image - target
        ctx.save_for_backward(diff)
        flat = diff.reshape(-1)
        return torch.dot(flat, flat) / diff.numel()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (diff,) = ctx.saved_tensors
        return diff.mul_(grad * (2.0 / diff.numel())), None, None


def _bpp(bits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Bits per pixel of a (C, H, W) image or (C, T, H, W) video target."""
    return bits / target[0].numel()


def _grad(leaf: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(leaf) if leaf.grad is None else leaf.grad


def make_optimizer(params, config: FitConfig, lr: float) -> torch.optim.Adam:
    """Adam with the configured moments (every stage and the budget probe use the same); the
    fused implementation where PyTorch has one (one kernel instead of a dozen per-tensor
    operators: 0.4 ms instead of 1.9 ms per kodim01 step on a CPU)."""
    params = list(params)
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, betas=config.adam_betas, eps=config.adam_eps,
                            fused=fused or None)


def _psnr(mse: float) -> float:
    return 10.0 * math.log10(1.0 / max(mse, 1e-20))


class _Progress:
    """tqdm bar on a terminal, silent otherwise; shows loss, PSNR, bpp and time left."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled and total > 0:
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=sys.stderr, unit="step", dynamic_ncols=True,
                            leave=False, desc="fitting")

    def update(self, stage: int, loss: float, mse: float, bpp: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if self.bar.n % 10 == 0 or self.bar.n == self.bar.total:
                self.bar.set_postfix_str(
                    f"stage {stage} loss {loss:.5f} PSNR {_psnr(mse):.2f} bpp {bpp:.4f}")

    def set_total(self, total: int) -> None:
        if self.bar is not None and self.bar.total != total:
            self.bar.total = total
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def stage1_lr(config: FitConfig, i: int) -> float:
    """Learning rate of stage-1 step ``i``: the peak for the first ``lr_hold`` of the steps, then
    a cosine decay to 0 over the rest (C3: cosine over all steps)."""
    hold = int(config.lr_hold * config.steps)
    progress = (i - hold) / max(config.steps - hold, 1)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * max(progress, 0.0)))


def stage1_step(model: C3Model, optimizer: torch.optim.Optimizer, target: torch.Tensor,
                lmbda: float, config: FitConfig, i: int, generator: torch.Generator | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One stage-1 step at step index ``i``: schedules, noisy forward, clipped Adam update."""
    steps = config.steps
    frac = i / max(steps - 1, 1)
    for group in optimizer.param_groups:
        group["lr"] = stage1_lr(config, i)
    t0, t1 = config.temperature
    a0, a1 = config.kumaraswamy
    optimizer.zero_grad(set_to_none=True)
    loss, mse, bpp = loss_and_gradients(model, target, lmbda, STAGES[config.approximation][0],
                                        temperature=t0 + (t1 - t0) * frac,
                                        kumaraswamy_a=a0 + (a1 - a0) * frac, generator=generator)
    torch.nn.utils.clip_grad_norm_(list(model.parameters()), config.grad_clip)
    optimizer.step()
    return loss, mse, bpp


def fit(model: C3Model, target: torch.Tensor, lmbda: float, config: FitConfig,
        progress: bool = False, stage1_seconds: float | None = None) -> FitReport:
    """Fit ``model`` to ``target`` ((C, H, W) in [0, 1]) in place; returns what happened.

    With ``stage1_seconds`` stage 1 lasts that wall-clock time instead of ``config.steps`` steps
    (which is then only the first plan): the step count is re-planned after every step from the
    measured step rate, so the learning-rate and annealing schedules still span the whole stage
    however the machine's load changes. Stage 2 runs at most ``stage2_fraction`` of the stage-1
    steps actually taken.
    """
    torch.manual_seed(config.seed)
    generator = torch.Generator(device=target.device)
    generator.manual_seed(config.seed)
    report = FitReport()
    start = time.perf_counter()
    bar = _Progress(config.steps + config.stage2_steps, progress)
    try:
        optimizer = make_optimizer(model.parameters(), config, config.lr)
        plan = config
        while report.stage1_steps < plan.steps:
            i = report.stage1_steps
            loss, mse, bpp = stage1_step(model, optimizer, target, lmbda, plan, i, generator)
            report.stage1_steps += 1
            if stage1_seconds is not None:
                plan = _replan(plan, report.stage1_steps, time.perf_counter() - start, stage1_seconds)
                bar.set_total(plan.steps + plan.stage2_steps)
            _record(report, bar, 1, i, loss, mse, bpp)
        _stage2(model, target, lmbda, replace(config, steps=report.stage1_steps),
                STAGES[config.approximation][1], report, bar)
    finally:
        bar.close()
    report.seconds = time.perf_counter() - start
    return report


def _replan(plan: FitConfig, done: int, elapsed: float, seconds: float) -> FitConfig:
    """Stage-1 plan after ``done`` steps in ``elapsed`` s: as many steps as fit in ``seconds`` at
    the mean rate so far (never fewer than done, so the loop stops when time is up)."""
    steps = max(done, int(seconds * done / max(elapsed, 1e-9)))
    return plan if steps == plan.steps else replace(plan, steps=steps)


def _record(report: FitReport, bar: _Progress, stage: int, i: int, loss: torch.Tensor,
            mse: torch.Tensor, bpp: torch.Tensor) -> None:
    if bar.bar is not None or i % 100 == 0:
        values = (loss.item(), mse.item(), bpp.item())
        bar.update(stage, *values)
        if i % 100 == 0:
            report.history.append((report.stage1_steps + report.stage2_steps, values[0],
                                   _psnr(values[1]), values[2]))


def _stage2(model: C3Model, target: torch.Tensor, lmbda: float, config: FitConfig,
            mode: QuantMode, report: FitReport, bar: _Progress) -> None:
    params = list(model.parameters())
    lr = config.stage2_lr
    optimizer = make_optimizer(params, config, lr)
    best_loss = math.inf
    best_state = None
    not_improved = 0
    quant_kwargs = {"temperature": config.stage2_temperature, "epsilon": config.epsilon_ste}
    for i in range(config.stage2_steps):
        optimizer.zero_grad(set_to_none=True)  # gradients are computed with the loss
        loss, mse, bpp = loss_and_gradients(model, target, lmbda, mode, **quant_kwargs)
        value = loss.item()  # loss of the current parameters (hard rounding: deterministic)
        if value < best_loss:
            best_loss, not_improved = value, 0
            best_state = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()))
        else:
            not_improved += 1
            if not_improved >= config.stage2_patience:
                lr *= config.stage2_decay
                if lr < config.stage2_min_lr:
                    break
                model.load_state_dict(best_state[0])
                optimizer.load_state_dict(best_state[1])
                for group in optimizer.param_groups:
                    group["lr"] = lr
                not_improved = 0
                continue
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        report.stage2_steps += 1
        _record(report, bar, 2, i, loss, mse, bpp)
    if best_state is not None:
        model.load_state_dict(best_state[0])
        report.final_loss = best_loss
    else:
        with torch.no_grad():
            report.final_loss = float(rd_loss(model, target, lmbda, "round")[0])
