"""InsightFace's ``face_align``: ArcFace 5-point alignment."""

from ._facekit import estimate_norm, norm_crop

__all__ = ["estimate_norm", "norm_crop"]
