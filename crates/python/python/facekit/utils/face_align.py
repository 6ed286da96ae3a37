"""``insightface.utils.face_align``."""

from ..face_align import estimate_norm, norm_crop

__all__ = ["estimate_norm", "norm_crop"]
