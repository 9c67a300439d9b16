"""tan-video: the Temporal Aggregation Network for dense multi-label action recognition.

The calls a user reaches for::

    import tan_video as tv
    model = tv.create_model("tan_r50", pretrained="imagenet")      # the model zoo
    tv.list_models("tan_*")
    model, meta = tv.load_model("runs/x/model.pt")                  # a trained model + its metadata
    scores = tv.predict_video("runs/x/model.pt", "video.mp4")       # times, probabilities, class names
"""

from . import data, metrics, models
from .checkpoint import load_model
from .errors import InputError
from .inference import VideoScores, predict_video
from .models import create_model, list_models, video_scores

__version__ = "0.1.0"
__all__ = ["create_model", "list_models", "load_model", "predict_video", "VideoScores", "video_scores", "data",
           "metrics", "models", "InputError"]
