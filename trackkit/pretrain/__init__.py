"""Masked-autoencoder pretraining of a tracker preset's ViT (MAE, with MAE-Lite's recipe
for small ViTs), so trackers start from pretrained weights where none can be downloaded.

    trackkit pretrain --preset ostrack-cpu --out runs/pretrain/ostrack-cpu
    build_model(get_preset("ostrack-cpu", ["model.pretrained=runs/pretrain/ostrack-cpu/mae_pretrain.pth"]))

Taken from MAE (facebookresearch/mae, commit efb2a80: models_mae.py, main_pretrain.py,
engine_pretrain.py, util/pos_embed.py, util/lr_sched.py): per-sample random masking by argsort
of uniform noise at 75%; the encoder sees only the visible patches plus its class token; fixed
2-D sin-cos position tables in encoder and decoder; a decoder of its own width and depth with
a shared mask token; norm_pix_loss; MSE over masked patches only; MAE's initialisation; AdamW
(betas 0.9 / 0.95, weight decay 0.05, none on biases and norm weights); lr = base_lr *
batch / 256 set every iteration, linear warm-up then half-cycle cosine to min_lr; random
resized crops with horizontal flips; the checkpoint layout {"model": state_dict}.

Taken from MAE-Lite (wangsr126/mae-lite, commit f3090d4: projects/mae_lite/models_mae.py,
mae_lite_exp.py) for tiny ViTs: the light decoder (ViT-Tiny: 96 wide = half the encoder, one
block, 32-dim heads -> here 64 wide, 1 block, 2 heads for dim 128), the random resized crop
scale (0.08, 1) instead of MAE's (0.2, 1), mask ratio 0.75, no colour jitter.

Not taken, and why:
- MAE-Lite's ViT-Tiny with 12 heads: the encoder is the preset's ViT (ostrack-cpu: 4 heads).
- Their schedules (MAE 800-1600 epochs on ImageNet, MAE-Lite 400 at batch 4096, warm-up 40):
  the default here fits ~10 minutes on 2 shared CPU cores (6 epochs x 6,144 crops at batch
  128, warm-up 1 epoch, 288 steps: 211 s of CPU time, 17 min wall at load average 10-17 on
  2 cores, final loss 0.61; 8 epochs reached 0.60 with the curve flat from epoch 5). base_lr is 1.5e-3 (10x MAE-Lite's 1.5e-4): at batch 128 the linear rule
  gives 7.5e-4, where 1.5e-4 would leave a run of ~400 steps barely past warm-up.
- Mixed precision and gradient accumulation (GPU throughput tools; the loop is fp32), MAE-Lite's
  optional EMA, mixup and distillation (off in its MAE recipe).
- ImageNet: not available here. The default source is crops of procedural frames (see
  trackkit.pretrain.data); ``--images FOLDER`` reads any image folder, ImageNet included.

Readings: the encoder keeps a class token by default (MAE does). The checkpoint's pos_embed is
then (1, 1 + G*G, D) with MAE's zero class row; trackers without a class token (ostrack-cpu)
drop it exactly as OSTrack drops MAE ViT-B's, and trackers with one (simtrack-cpu) load
cls_token and its position row, so one file serves every CPU preset of that size.
``pretrain.cls_token=false`` pretrains without one (those files load only into trackers
without a class token).
"""
from trackkit.pretrain.config import PretrainConfig
from trackkit.pretrain.data import FolderCrops, SynthCrops, decode_image, list_images
from trackkit.pretrain.figure import load_mae, reconstruction_figure
from trackkit.pretrain.loop import CHECKPOINT, LOG, WEIGHTS, pretrain
from trackkit.pretrain.mae import MaskedAutoencoder, random_masking, sincos_pos_embed
from trackkit.pretrain.run import build_mae, image_size, make_source, pretrain_preset

__all__ = [
    "CHECKPOINT", "LOG", "WEIGHTS", "FolderCrops", "MaskedAutoencoder", "PretrainConfig", "SynthCrops",
    "build_mae", "decode_image", "image_size", "list_images", "load_mae", "make_source", "pretrain",
    "pretrain_preset", "random_masking", "reconstruction_figure", "sincos_pos_embed",
]
