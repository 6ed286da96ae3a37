"""``insightface.utils`` names: ``face_align``."""

from .. import face_align

__all__ = ["face_align"]
