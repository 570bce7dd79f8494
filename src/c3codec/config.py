"""Every choice that defines a C3 model, in one place.

The architecture config is what the decoder needs to rebuild the networks: it is serialised into
the file header (see ``coding/bitstream.py``). The fitting config only drives the encoder.
Defaults follow C3's Kodak setting (c3-supplementary, Tables 4 and 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

# Natural logs of C3's Laplace scale clip range [1e-3, 150], kept as literals so that the decoder
# never evaluates a transcendental function whose last bit could differ between machines.
LOG_SCALE_MIN_DEFAULT = -6.907755278982137  # math.log(1e-3)
LOG_SCALE_MAX_DEFAULT = 5.0106352940962555  # math.log(150.0)

Approximation = Literal["c3", "coolchic", "coolchic_v2"]
"""Quantisation approximation used while fitting the latents.

- ``c3``: stage 1 soft-round + Kumaraswamy noise, stage 2 hard rounding with soft-round gradients.
- ``coolchic``: stage 1 uniform noise, stage 2 straight-through estimator.
- ``coolchic_v2``: stage 1 uniform noise, stage 2 epsilon-STE (gradient scaled by 0.01).
"""

NetworkInit = Literal["random", "pretrained"]
"""How fitting starts the networks: C3's random initialisation, or the pretrained weights the
package ships for the architecture (random where it ships none)."""


class ConfigError(ValueError):
    """An architecture or fitting setting is out of range."""


MAX_FRAME_OFFSET = 32
"""Largest offset (latents, each axis) of a video grid's previous-frame window."""


@dataclass(frozen=True)
class LatentConfig:
    """Multi-resolution latent grids (c3-supplementary A.1.1).

    Grid ``n`` (0-based) has shape ``ceil(h / 2**e_n), ceil(w / 2**e_n)`` with exponent
    ``e_n = n`` or ``n + 1`` when the finest (full-resolution) grid is dropped.
    """

    num_grids: int = 7
    step: float = 0.4
    drop_finest: bool = False
    gain_factor: float = 2.0  # latent parameter of grid n is multiplied by gain_factor**e_n

    def __post_init__(self) -> None:
        if not 1 <= self.num_grids <= 12:
            raise ConfigError(f"num_grids must be in 1..12, got {self.num_grids}")
        if not (1e-3 <= self.step <= 16.0):
            raise ConfigError(f"latent step must be in [0.001, 16], got {self.step}")
        if not (0.0 < self.gain_factor <= 16.0):
            raise ConfigError(f"gain_factor must be in (0, 16], got {self.gain_factor}")

    @property
    def exponents(self) -> tuple[int, ...]:
        """Downsampling exponent of each grid (finest first)."""
        first = 1 if self.drop_finest else 0
        return tuple(range(first, first + self.num_grids))

    def grid_shapes(self, size: tuple[int, ...]) -> list[tuple[int, ...]]:
        """Shape of every latent grid of an image of ``size``, finest first:
        ``ceil(size / 2**e)`` per dimension."""
        return [tuple(math.ceil(s / 2**e) for s in size) for e in self.exponents]


@dataclass(frozen=True)
class SynthesisConfig:
    """Synthesis network (A.1.3): 1x1 layers with GELU, then residual 3-channel convs."""

    widths: tuple[int, ...] = (18, 18)
    num_residual: int = 2
    residual_kernel: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if not self.widths or len(self.widths) > 8 or not all(1 <= w <= 255 for w in self.widths):
            raise ConfigError(f"synthesis widths must be 1..8 values in 1..255, got {self.widths}")
        if not 0 <= self.num_residual <= 8:
            raise ConfigError(f"num_residual must be in 0..8, got {self.num_residual}")
        if self.residual_kernel not in (1, 3, 5):
            raise ConfigError(f"residual_kernel must be 1, 3 or 5, got {self.residual_kernel}")


@dataclass(frozen=True)
class EntropyConfig:
    """Autoregressive entropy model, ARM (A.1.4).

    ``context`` is the odd side of the causal square mask: 7 means the 24 already decoded
    neighbours of a 7x7 window. With ``use_prev_grid`` the input also holds a
    ``prev_kernel x prev_kernel`` neighbourhood of the previous (finer) grid, downsampled.
    The network outputs ``(mu, raw)``; ``raw + log_scale_shift`` is clipped to
    ``[-2 log_scale_max, -2 log_scale_min]`` and the scale is ``exp(-0.5 * clipped)``
    (C3's Cool-chic style clipping).

    MARM (marm-fast-decoding.md): the ``aru_grids`` coarsest grids are coded by autoregressive
    upsampler blocks instead of the ARM (``model/aru.py``): two MLPs of hidden widths
    ``aru_widths``, one for the anchors of a checkerboard and one for the other half, which
    predict a grid's (mu, scale) from the coarser grid. 0 is C3 (every grid by the ARM).

    ``per_grid``: each ARM grid has its own ARM of these widths instead of one shared by all
    (C3's video settings E2 and E3, c3-supplementary Table 6).
    """

    widths: tuple[int, ...] = (18, 18)
    context: int = 7
    use_prev_grid: bool = False
    prev_kernel: int = 3
    log_scale_shift: float = 8.0
    log_scale_min: float = LOG_SCALE_MIN_DEFAULT
    log_scale_max: float = LOG_SCALE_MAX_DEFAULT
    aru_grids: int = 0
    aru_widths: tuple[int, ...] = (12,)
    per_grid: bool = False
    prev_frame: int = 0
    prev_frame_offsets: tuple[tuple[int, int] | None, ...] = ()

    # Video (C3 section 3.3): with ``prev_frame`` = k > 0 the input also holds a k x k window of
    # the same grid's previous latent frame (zeros before the first). 0 for images.
    # ``prev_frame_offsets``: per grid, where that window is centred relative to the latent,
    # (rows, columns), or None for a grid that does not read the previous frame (its inputs are
    # zeros); empty: centred on every grid. C3 learns the place for its finest grids (A.3).

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "aru_widths", tuple(int(w) for w in self.aru_widths))
        if not self.widths or len(self.widths) > 8 or not all(1 <= w <= 255 for w in self.widths):
            raise ConfigError(f"entropy widths must be 1..8 values in 1..255, got {self.widths}")
        if not (self.aru_widths and len(self.aru_widths) <= 8 and all(1 <= w <= 255 for w in self.aru_widths)):
            raise ConfigError(f"ARU widths must be 1..8 values in 1..255, got {self.aru_widths}")
        if not 0 <= self.aru_grids <= 12:
            raise ConfigError(f"aru_grids must be in 0..12, got {self.aru_grids}")
        if self.context not in (3, 5, 7, 9):
            raise ConfigError(f"context must be 3, 5, 7 or 9, got {self.context}")
        if self.prev_kernel not in (1, 3, 5):
            raise ConfigError(f"prev_kernel must be 1, 3 or 5, got {self.prev_kernel}")
        if self.prev_frame not in (0, 1, 3, 5, 7, 9):
            raise ConfigError(f"prev_frame must be 0 (images), 1, 3, 5, 7 or 9, got {self.prev_frame}")
        object.__setattr__(self, "prev_frame_offsets", tuple(
            None if o is None else (int(o[0]), int(o[1])) for o in self.prev_frame_offsets))
        if any(o is not None and max(abs(o[0]), abs(o[1])) > MAX_FRAME_OFFSET for o in self.prev_frame_offsets):
            raise ConfigError(f"previous-frame window offsets must be within +-{MAX_FRAME_OFFSET}")
        if self.prev_frame_offsets and not self.prev_frame:
            raise ConfigError("previous-frame window offsets need the previous-frame context")
        if self.prev_frame and (self.use_prev_grid or self.aru_grids):
            raise ConfigError("the previous-frame context excludes the previous-grid context and MARM")
        if not (-20.0 <= self.log_scale_min < self.log_scale_max <= 20.0):
            raise ConfigError("log-scale clip range must satisfy -20 <= min < max <= 20")
        if not math.isfinite(self.log_scale_shift) or abs(self.log_scale_shift) > 100:
            raise ConfigError(f"log_scale_shift out of range: {self.log_scale_shift}")

    @property
    def num_causal(self) -> int:
        """Number of already decoded neighbours in the causal window."""
        return (self.context * self.context - 1) // 2

    @property
    def extra_kernel(self) -> int:
        """Side of the extra context window: the previous frame's (video), else the previous
        grid's (read only with ``use_prev_grid``)."""
        return self.prev_frame or self.prev_kernel

    @property
    def num_inputs(self) -> int:
        extra = self.prev_frame**2 if self.prev_frame else (self.prev_kernel**2 if self.use_prev_grid else 0)
        return self.num_causal + extra


@dataclass(frozen=True)
class ArchitectureConfig:
    """Everything the decoder needs to rebuild the model. Written into the file header."""

    latents: LatentConfig = field(default_factory=LatentConfig)
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)
    entropy: EntropyConfig = field(default_factory=EntropyConfig)

    def __post_init__(self) -> None:
        offsets = self.entropy.prev_frame_offsets
        if offsets and len(offsets) != self.latents.num_grids:
            raise ConfigError(f"{len(offsets)} previous-frame offsets for {self.latents.num_grids} grids")
        if self.entropy.aru_grids > self.latents.num_grids:
            raise ConfigError(f"{self.entropy.aru_grids} ARU grids but only {self.latents.num_grids} grids")

    @property
    def arm_grids(self) -> int:
        """Grids coded by the ARM: the finest ``num_grids - aru_grids``."""
        return self.latents.num_grids - self.entropy.aru_grids

    @property
    def num_arms(self) -> int:
        """ARM networks sent: one per ARM grid with ``per_grid``, else one (none when the ARU
        codes every grid)."""
        return self.arm_grids if self.entropy.per_grid else min(1, self.arm_grids)

    def arm_index(self, grid: int) -> int:
        """Which ARM network codes ARM grid ``grid``."""
        return grid if self.entropy.per_grid else 0

    def with_per_grid(self, per_grid: bool, width: int | None = None) -> ArchitectureConfig:
        """Same config with one ARM per grid (``per_grid``) or one shared by all grids, of
        hidden widths (``width``, ``width``) (default: the widths unchanged)."""
        widths = self.entropy.widths if width is None else (width, width)
        return replace(self, entropy=replace(self.entropy, per_grid=per_grid, widths=widths))

    def with_per_grid_arm(self, width: int) -> ArchitectureConfig:
        """What ``--per-grid-arm W`` asks: one (W, W) ARM per grid; 0: this config unchanged."""
        return self.with_per_grid(True, width) if width else self

    def with_marm(self, aru_grids: int) -> ArchitectureConfig:
        """Same config with the ``aru_grids`` coarsest grids coded by ARU blocks."""
        return replace(self, entropy=replace(self.entropy, aru_grids=aru_grids))

    def with_drop_finest(self, drop: bool) -> ArchitectureConfig:
        """Same config without (``drop``) or with the full-resolution latent grid."""
        return replace(self, latents=replace(self.latents, drop_finest=drop))

    def with_prev_grid(self, kernel: int) -> ArchitectureConfig:
        """Same config with the previous-grid context's ``kernel`` x ``kernel`` window (0:
        without the context, its window back at the default)."""
        return replace(self, entropy=replace(self.entropy, use_prev_grid=bool(kernel),
                                             prev_kernel=kernel or EntropyConfig.prev_kernel))

    def with_widths(self, width: int) -> ArchitectureConfig:
        """Same config with (width, width) synthesis and entropy networks (C3 adaptive sizes)."""
        return replace(
            self,
            synthesis=replace(self.synthesis, widths=(width, width)),
            entropy=replace(self.entropy, widths=(width, width)),
        )


BUDGET_WIDTH = 12
"""Hidden width of both networks when a wall-clock budget is given and no width is asked for.

(12, 12) is the smallest of C3's adaptive widths. At equal time it makes steps about 25 % faster
and reached a lower RD cost than (18, 18) on every Kodak crop and lambda of the fitting ablation
(benchmarks/README.md, 90 s per 256x256 crop: -1 to -5 % at lambda 3e-4 and 1e-3, -10 to -13 %
at 1e-2, where the network parameters are a larger share of the file). Decoding also costs
fewer MACs per pixel."""


BUDGET_GAIN = 1.75
"""Latent gain factor of budgeted encodings (C3: 2). The stored parameter of grid n is scaled by
``gain ** n``, which makes Adam's steps on coarse grids that much larger; C3's 2 suits its 100k
steps, but on the short schedules of a budget it over-drives the coarse grids. In the fitting
ablation (benchmarks/README.md, four 256x256 Kodak crops, budget settings) 1.75 lowered the RD
cost by 2.3 % at lambda 1e-3 (1.1 % with another seed) and 4.1 % at 3e-4, neutral at 1e-2
(+0.9 %); 1.5 and 1.25 helped less, 2.5 cost 9 %."""


Complexity = Literal["default", "low"]


def default_architecture(budget: bool = False, complexity: Complexity = "default") -> ArchitectureConfig:
    """C3's Kodak architecture; budgeted encodings get ``BUDGET_WIDTH`` networks and the
    ``BUDGET_GAIN`` latent gain. ``complexity="low"``: :func:`low_complexity`."""
    arch = ArchitectureConfig()
    if budget:
        arch = replace(arch, latents=replace(arch.latents, gain_factor=BUDGET_GAIN)).with_widths(BUDGET_WIDTH)
    return low_complexity(arch) if complexity == "low" else arch


def low_complexity(arch: ArchitectureConfig) -> ArchitectureConfig:
    """The low-complexity setting (issue 26 item 4): ``arch`` with an 8-wide synthesis of one
    hidden layer and one residual conv, an (8, 8) ARM and its 5x5 context (12 neighbours):
    443 MACs/pixel to decode at Kodak's size instead of 1082 (budget networks) or 1770 (C3's).
    Chosen among three such settings by the equal-time ablation in benchmarks/README.md ("Low
    complexity")."""
    synthesis = replace(arch.synthesis, widths=LOW_SYNTHESIS_WIDTHS, num_residual=LOW_SYNTHESIS_RESIDUAL)
    return replace(arch, synthesis=synthesis, entropy=replace(arch.entropy, widths=LOW_ENTROPY_WIDTHS, context=5))


LOW_SYNTHESIS_WIDTHS = (8,)
LOW_SYNTHESIS_RESIDUAL = 1
LOW_ENTROPY_WIDTHS = (8, 8)


@dataclass(frozen=True)
class FitConfig:
    """The two-stage fitting of c3-supplementary A.2 (values of Table 4)."""

    steps: int = 2000  # stage-1 steps
    stage2_fraction: float = 0.1  # stage 2 runs at most this fraction of stage-1 steps
    lr: float = 1e-2
    lr_hold: float = 0.0  # fraction of stage 1 at the peak lr before the cosine decay (C3: 0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    grad_clip: float = 0.1
    temperature: tuple[float, float] = (0.3, 0.1)
    kumaraswamy: tuple[float, float] = (2.0, 1.0)
    stage2_lr: float = 1e-4
    stage2_patience: int = 20
    stage2_decay: float = 0.8
    stage2_min_lr: float = 1e-8
    stage2_temperature: float = 1e-4
    epsilon_ste: float = 1e-2
    approximation: Approximation = "c3"
    seed: int = 0
    network_init: NetworkInit = "random"  # "pretrained": shipped networks where they fit (C3: random)

    def __post_init__(self) -> None:
        if self.steps < 0 or self.steps > 10_000_000:
            raise ConfigError(f"steps must be in 0..10^7, got {self.steps}")
        if self.approximation not in get_args(Approximation):
            raise ConfigError(f"unknown approximation {self.approximation!r}")
        if not 0.0 <= self.stage2_fraction <= 1.0:
            raise ConfigError("stage2_fraction must be in [0, 1]")
        if len(self.adam_betas) != 2 or not all(0.0 <= b < 1.0 for b in self.adam_betas):
            raise ConfigError(f"adam_betas must be two values in [0, 1), got {self.adam_betas}")
        if not 0.0 <= self.lr_hold < 1.0:
            raise ConfigError(f"lr_hold must be in [0, 1), got {self.lr_hold}")
        if self.network_init not in get_args(NetworkInit):
            raise ConfigError(f"network_init must be one of {get_args(NetworkInit)}, got {self.network_init!r}")
        if not 0.0 < self.adam_eps <= 1.0:
            raise ConfigError(f"adam_eps must be in (0, 1], got {self.adam_eps}")

    @property
    def stage2_steps(self) -> int:
        return int(self.steps * self.stage2_fraction)

PRESETS: dict[str, int] = {
    "test": 40,  # seconds-long smoke runs
    "fast": 2000,
    "medium": 20_000,
    "paper": 100_000,  # C3's schedule: 100k stage-1 + at most 10k stage-2 steps
}
"""Stage-1 step counts of the named presets; stage 2 is at most 10 % on top."""

SHORT_SCHEDULE: dict[str, object] = {"lr": 2e-2, "adam_betas": (0.9, 0.95), "lr_hold": 0.3,
                                     "network_init": "pretrained"}
"""Fitting settings of the short schedules that fit a CPU budget (``test``, ``fast`` and every
``--budget``), chosen by the fitting ablation (benchmarks/README.md, RD cost of real files on four
Kodak crops): a peak learning rate of 2e-2 instead of C3's 1e-2 (mean -2.3 %, 3e-2 unstable),
Adam's beta2 0.95 instead of 0.999 (a further -3.5 %, confirmed with a second seed), whose
shorter memory of gradient scale suits a few thousand steps with annealed noise, and the peak
held for the first 30 % of stage 1 before the cosine decay (a further -1.0 to -1.6 % at lambda
3e-4, 1e-3 and 1e-2 and with a second seed, lower on all 16 crop encodings), and networks that
start from pretrained weights where the package ships some for the architecture (the budget one
and C3's default one; see :mod:`c3codec.fitting.pretrained`). ``medium`` and
``paper`` keep C3's settings: their 20k-100k steps were not ablated."""

PRESET_FIT: dict[str, dict[str, object]] = {
    "test": SHORT_SCHEDULE, "fast": SHORT_SCHEDULE, "medium": {}, "paper": {}}


def preset_fit_config(preset: str = "fast", **overrides: object) -> FitConfig:
    """FitConfig of a named preset, with keyword overrides (e.g. ``steps=500``)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values: dict[str, object] = {"steps": PRESETS[preset], **PRESET_FIT[preset]}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return FitConfig(**values)  # type: ignore[arg-type]
