"""tan-video: the Temporal Aggregation Network for dense multi-label action recognition."""

from . import data, metrics, models
from .errors import InputError
from .models import create_model, list_models, video_scores

__version__ = "0.1.0"
__all__ = ["create_model", "list_models", "video_scores", "data", "metrics", "models", "InputError"]
