"""Tumor3DNet: a compact 3D CNN over (1, C, p, p) patches of a reduced MSI cube (SPEC 8).

Inputs are standardised per channel (statistics of the training patches, stored with the
weights). Each block is Conv3d -> BatchNorm3d -> ReLU -> MaxPool3d; pooling halves the m/z axis
(unless ``pool_mz`` is off) and the two spatial axes while they are at least 2 long, so ``patch=1`` (spectral-only) and long
spectra (a 1D CNN over all candidates) run through the same code. The head averages over the
remaining pixels but keeps the remaining m/z positions apart (a spectrum is not shift-invariant). ``kind="2d"`` is the spatial-only
ablation: the same blocks in 2D, the C ion images as input channels, no convolution along m/z.
The config also carries what inference needs: the channels' m/z, the ion-image ppm and the class
names. Weights load and save through :class:`ionmorph.models.hub.PretrainedMixin`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from ionmorph.errors import InputError
from ionmorph.models.hub import PretrainedMixin

KINDS = ("3d", "2d")


@dataclass
class Tumor3DConfig:
    """Architecture and data contract of a :class:`Tumor3DNet`.

    Parameters
    ----------
    n_channels : int
        C, the ion images per patch (m/z depth).
    patch : int
        p, the patch side in pixels (1 = spectral-only).
    classes : sequence of str
        Output class names (annotation classes 1.. in order).
    widths : sequence of int
        Feature maps per block.
    kernel : int
        Kernel length along every axis (clipped to the axis length).
    hidden : int
        Width of the hidden layer of the head.
    dropout : float
        Dropout before the last layer.
    kind : {"3d", "2d"}
        "2d" is the spatial-only ablation.
    pool_mz : bool
        Halve the m/z axis in every block (3D); off, every m/z position reaches the head.
    mz : sequence of float
        The channels' m/z (what :func:`tumor3d.slide.predict_slide` extracts).
    ppm : float
        Ion-image window half-width used for training.
    normalisation : str
        The intensity normalisation of :func:`tumor3d.patches.normalise_cube`.
    slide_rule : dict
        The calibrated slide rule (:class:`tumor3d.slide.SlideRule`; empty: the uncalibrated default).
    domain : dict
        What the model was trained on (:func:`tumor3d.slide.domain_record`; empty: only the basic
        channel and intensity checks of :func:`tumor3d.slide.check_domain` run).
    """

    n_channels: int
    patch: int = 9
    classes: Sequence[str] = ("healthy", "tumour")
    widths: Sequence[int] = (16, 32, 64)
    kernel: int = 3
    hidden: int = 32
    dropout: float = 0.2
    kind: str = "3d"
    pool_mz: bool = True
    mz: Sequence[float] = field(default_factory=tuple)
    ppm: float = 10.0
    normalisation: str = "tic-permille-log1p"
    slide_rule: dict = field(default_factory=dict)
    domain: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.n_channels < 1 or self.patch < 1 or not self.widths:
            raise InputError(f"need n_channels >= 1, patch >= 1 and widths, got {self.n_channels}, "
                             f"{self.patch}, {self.widths}")
        if self.mz and len(self.mz) != self.n_channels:
            raise InputError(f"config lists {len(self.mz)} m/z for {self.n_channels} channels")
        self.classes, self.widths, self.mz = tuple(self.classes), tuple(self.widths), tuple(self.mz)


def _block(kind: str, c_in: int, c_out: int, sizes: list[int], kernel: int,
           pool_mz: bool = True) -> tuple[nn.Module, list[int]]:
    """One conv block for an input of ``sizes`` ((m/z,) y, x); returns it and the output sizes."""
    conv, bn, pool = (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d) if kind == "3d" else \
        (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)
    k = tuple(min(kernel, s) for s in sizes)
    step = tuple(2 if s >= 2 and (pool_mz or kind != "3d" or axis > 0) else 1 for axis, s in enumerate(sizes))
    layers = [conv(c_in, c_out, k, padding=tuple(x // 2 for x in k), bias=False), bn(c_out), nn.ReLU(inplace=True)]
    if max(step) > 1:
        layers.append(pool(step, step))
    return nn.Sequential(*layers), [s // t for s, t in zip(sizes, step)]


class Tumor3DNet(PretrainedMixin, nn.Module):
    """Compact 3D CNN classifying MSI patches; forward maps (N, 1, C, p, p) to logits (N, classes).

    The 2D (spatial-only) variant also accepts (N, 1, C, p, p) and treats C as input channels.
    """

    family: ClassVar[str] = "tumor3d"

    def __init__(self, config: Tumor3DConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.config = config if config is not None else Tumor3DConfig(**kwargs)
        cfg = self.config
        if cfg.kind == "3d":
            sizes, c_in = [cfg.n_channels, cfg.patch, cfg.patch], 1
        else:
            sizes, c_in = [cfg.patch, cfg.patch], cfg.n_channels
        blocks = []
        for width in cfg.widths:
            block, sizes = _block(cfg.kind, c_in, width, sizes, cfg.kernel, cfg.pool_mz)
            blocks.append(block)
            c_in = width
        self.features = nn.Sequential(*blocks)
        depth = sizes[0] if cfg.kind == "3d" else 1      # m/z positions left: kept apart, not averaged
        self.head = nn.Sequential(nn.Linear(c_in * depth, cfg.hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, len(cfg.classes)))
        self.register_buffer("input_mean", torch.zeros(cfg.n_channels))
        self.register_buffer("input_std", torch.ones(cfg.n_channels))

    def set_input_stats(self, patches: torch.Tensor) -> None:
        """Standardise each channel with the mean and sd of training ``patches`` (N, 1, C, p, p)."""
        values = patches.transpose(0, 2).reshape(self.config.n_channels, -1)
        self.input_mean.copy_(values.mean(dim=1))
        self.input_std.copy_(values.std(dim=1).clamp_min(1e-3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or tuple(x.shape[2:]) != (self.config.n_channels, self.config.patch, self.config.patch):
            raise InputError(f"expected patches (N, 1, {self.config.n_channels}, {self.config.patch}, "
                             f"{self.config.patch}), got {tuple(x.shape)}")
        x = (x - self.input_mean[:, None, None]) / self.input_std[:, None, None]
        if self.config.kind == "2d":
            x = x[:, 0]
        h = self.features(x).mean(dim=(-2, -1))         # average over the patch's pixels
        return self.head(h.flatten(1))

    @torch.inference_mode()
    def predict_proba(self, patches: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Class probabilities (N, classes) of patches (N, 1, C, p, p), in eval mode."""
        self.eval()
        return torch.cat([torch.softmax(self(patches[i:i + batch_size]), dim=1)
                          for i in range(0, len(patches), batch_size)]) if len(patches) else \
            torch.zeros(0, len(self.config.classes))

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def hub_config(self) -> dict:
        """The config.json content."""
        return {"architecture": "tumor3d", "tumor3d": asdict(self.config)}

    @classmethod
    def _from_hub_config(cls, config: dict) -> "Tumor3DNet":
        return cls(Tumor3DConfig(**config["tumor3d"]))
