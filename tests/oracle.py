"""Networks for plumbing tests: an oracle that knows the clean slices, and a recorder."""

import torch

from diffblend_astra.diffusion import VPSchedule


class OracleNetwork:
    """``net(x, t, spacing) → ε̂`` that knows the clean volume ``truth`` ``(Z, Y, X)``.

    For each input channel it picks the clean slice nearest to ``x_t / √ᾱ_t`` and returns the
    exact noise ``(x_t − √ᾱ_t x0)/√(1−ᾱ_t)`` for it. At low noise the match is exact, so a
    sampler with correct plumbing (gather, scatter, Tweedie, DDIM) returns ``truth``.
    ``out_channels = 1`` returns the centre channel only (a conditional network).
    """

    def __init__(self, truth, out_channels=3, schedule=VPSchedule()):
        self.truth = truth
        self.out_channels = out_channels
        self.alpha_bar = schedule.alphas_cumprod().to(torch.float32)

    def __call__(self, x, t, spacing):
        a = self.alpha_bar[t][:, None, None, None]
        flat = self.truth.reshape(self.truth.shape[0], -1)
        scaled = (x / a.sqrt()).reshape(x.shape[0] * x.shape[1], -1)
        nearest = torch.cdist(scaled, flat).argmin(dim=1)
        x0 = self.truth[nearest].reshape(x.shape)
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        return eps if self.out_channels == x.shape[1] else eps[:, 1:2]


class RecordingNetwork:
    """Returns a function of its input (``0.5 x``) and records every call's arguments."""

    def __init__(self, out_channels=3):
        self.out_channels = out_channels
        self.calls = []

    def __call__(self, x, t, spacing):
        self.calls.append((x.clone(), t.clone(), None if spacing is None else spacing.clone()))
        return 0.5 * x[:, : self.out_channels] if self.out_channels == x.shape[1] else 0.5 * x[:, 1:2]
