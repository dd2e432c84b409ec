"""Sequences, dataset readers and the procedural benchmark."""
from trackkit.data.sequence import ArrayFrames, Dataset, FrameSource, ImageFiles, Sequence

__all__ = ["ArrayFrames", "Dataset", "FrameSource", "ImageFiles", "Sequence"]
