"""InsightFace's ``insightface.app``: :class:`FaceAnalysis` and :class:`Face`."""

from .common import Face
from .face_analysis import FaceAnalysis

__all__ = ["Face", "FaceAnalysis"]
