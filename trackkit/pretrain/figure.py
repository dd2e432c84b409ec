"""MAE's reconstruction figure (masked input | reconstruction | original), and reloading a
pretrained MAE from its output folder for a notebook."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from trackkit.errors import DataError
from trackkit.pretrain.data import normalize
from trackkit.pretrain.mae import MaskedAutoencoder


def load_mae(out_dir: str | Path) -> tuple[MaskedAutoencoder, dict]:
    """The MAE (encoder and decoder, eval mode) of a ``trackkit pretrain`` folder, and its
    ``pretrain.json`` (settings, seed, log: the backbone fields and pretrain config it was built from)."""
    from trackkit.models.weights import read_state_dict
    from trackkit.pretrain.config import PretrainConfig
    from trackkit.pretrain.loop import LOG, WEIGHTS

    out_dir = Path(out_dir)
    log_path = out_dir / LOG
    if not log_path.is_file():
        raise DataError(log_path, "not found: not a `trackkit pretrain` output folder")
    info = json.loads(log_path.read_text())
    settings = info["settings"]
    cfg = PretrainConfig(**{k: tuple(v) if isinstance(v, list) else v
                            for k, v in settings["pretrain"].items()})
    model = MaskedAutoencoder.build(settings["backbone"], cfg)
    model.load_state_dict(read_state_dict(out_dir / WEIGHTS))
    return model.eval(), info


@torch.no_grad()
def reconstruction_figure(model: MaskedAutoencoder, images: torch.Tensor, mean, std,
                          rows: int = 4, seed: int = 0, title: str | None = None):
    """A matplotlib Figure, one row per image: masked input, reconstruction, original.

    ``images``: uint8 (B, S, S, 3) crops at the model's size (e.g. from the pretraining
    datasets). ``mean`` / ``std``: the normalisation the model was trained with. The masks are
    drawn from ``seed``. With ``norm_pix_loss`` the prediction is in per-patch normalised
    units; it is mapped back with each patch's own mean and std (the original's), so the
    figure shows structure, not the absolute grey levels the model never had to predict. The
    reconstruction column pastes the visible patches back, as MAE's demo does.
    """
    import matplotlib.pyplot as plt

    images = images[:rows]
    model.eval()
    x = normalize(images, mean, std)
    noise = torch.rand(x.shape[0], model.grid ** 2, generator=torch.Generator().manual_seed(seed))
    loss, pred, mask = model(x, noise=noise)
    patches = model.patchify(x)
    if model.norm_pix_loss:
        mu = patches.mean(dim=-1, keepdim=True)
        sd = (patches.var(dim=-1, keepdim=True) + 1e-6) ** 0.5
        pred = pred * sd + mu
    m = mask[..., None]
    recon = model.unpatchify(pred * m + patches * (1 - m))
    masked = model.unpatchify(patches * (1 - m))

    def show(t):  # normalised (3,S,S) -> HWC in [0, 1]
        mt = torch.tensor(mean)[:, None, None]
        st = torch.tensor(std)[:, None, None]
        return (t * st + mt).clamp(0, 1).permute(1, 2, 0).numpy()

    n = x.shape[0]
    fig, axes = plt.subplots(n, 3, figsize=(6.6, 2.2 * n), squeeze=False)
    for r in range(n):
        masked_img = show(masked[r])
        masked_img[np.repeat(np.repeat(mask[r].reshape(model.grid, model.grid).numpy() > 0,
                                       model.patch_size, 0), model.patch_size, 1)] = 0.5
        for c, (img, name) in enumerate([(masked_img, "masked input"), (show(recon[r]), "reconstruction"),
                                         (show(x[r]), "original")]):
            ax = axes[r, c]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=9)
    fig.suptitle(title or f"MAE reconstruction, {model.mask_ratio:.0%} masked (loss {loss.item():.3f})",
                 fontsize=10)
    fig.tight_layout()
    return fig
