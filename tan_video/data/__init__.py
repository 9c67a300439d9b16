"""Data: annotations, video decoding, datasets, the built-in synthetic benchmark."""

from .annotations import VideoAnnotation, dense_targets

__all__ = ["VideoAnnotation", "dense_targets"]
