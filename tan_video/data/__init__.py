"""Data: annotations, video decoding, datasets, the built-in synthetic benchmark."""

from .annotations import VideoAnnotation, dense_targets
from .annotations import ANNOTATION_FORMATS, AnnotationList, read_annotations, read_class_names, write_dense_json

__all__ = ["VideoAnnotation", "dense_targets"]
__all__ += ["ANNOTATION_FORMATS", "AnnotationList", "read_annotations", "read_class_names", "write_dense_json"]
from . import synthetic, transforms
from .datasets import ClipDataset, ClipSampler, LabelListDataset, VideoDataset, VideoResolver
from .video import VideoInfo, read_frames, read_frames_dir, read_video, sample_times, video_info

__all__ += ["synthetic", "transforms", "ClipDataset", "ClipSampler", "LabelListDataset", "VideoDataset",
            "VideoResolver", "VideoInfo", "read_frames", "read_frames_dir", "read_video", "sample_times", "video_info"]
