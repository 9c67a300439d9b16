"""Data: annotations, video decoding, datasets, splits, the built-in synthetic benchmark.

Annotations load at once; everything that reads or writes video (PyAV) loads on first use, so
``import tan_video`` and ``tan_video.create_model(...)`` work without PyAV installed.
"""

from importlib import import_module

from .annotations import VideoAnnotation, dense_targets
from .annotations import ANNOTATION_FORMATS, AnnotationList, read_annotations, read_class_names, write_dense_json

# name -> the submodule that defines it (imported on first access)
_LAZY = {
    "synthetic": None, "transforms": None, "datasets": None, "video": None, "split": None, "preprocess": None,
    "Preprocess": "preprocess",
    "ClipDataset": "datasets", "ClipSampler": "datasets", "EpochOrder": "datasets", "LabelListDataset": "datasets",
    "VideoDataset": "datasets",
    "VideoResolver": "datasets", "VideoInfo": "video", "read_frames": "video", "read_frames_dir": "video",
    "read_video": "video", "sample_times": "video", "video_info": "video", "read_split": "split",
    "check_videos": "split", "features": None, "FeatureFolder": "features", "FeatureClipDataset": "features",
    "FeatureVideoDataset": "features", "read_features": "features",
}

__all__ = ["VideoAnnotation", "dense_targets", "ANNOTATION_FORMATS", "AnnotationList", "read_annotations",
           "read_class_names", "write_dense_json", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = import_module(f".{_LAZY[name] or name}", __name__)
    value = module if _LAZY[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
