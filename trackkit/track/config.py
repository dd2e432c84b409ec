"""Online tracking settings (the crop geometry and post-processing of a tracker)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrackConfig:
    """How a tracker crops and post-processes.

    Defaults are OSTrack-B/256: template 128 px at factor 2.0, search 256 px at factor 4.0,
    a Hanning window on the score map, boxes clipped to the image with a 10 px margin.
    """

    template_size: int = 128
    template_factor: float = 2.0
    search_size: int = 256
    search_factor: float = 4.0
    hanning: bool = True
    clip_margin: int = 10
    # OSTrack's sample_target pads one pixel too many at the right/bottom, so the image's last
    # column and row never enter a crop (see trackkit.track.crop). False = textbook crop.
    border_quirk: bool = True
    # ImageNet statistics: frames are divided by 255 then normalised.
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
