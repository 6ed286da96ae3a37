"""The face record, as InsightFace's ``insightface.app.common.Face``."""

import numpy as np


class Face(dict):
    """One detected face: a dict whose keys are also attributes (a missing
    one reads as ``None``), as InsightFace's ``Face``.

    Keys set by :meth:`FaceAnalysis.get`: ``bbox`` (4,) float32, ``kps``
    (5, 2) float32, ``det_score`` float32, ``embedding`` (D,) float32 and,
    when the pack has the models, ``gender`` (int64, 1 male), ``age`` (int),
    ``landmark_2d_106`` (106, 2), ``landmark_3d_68`` (68, 3), ``pose`` (3,)
    (pitch, yaw, roll in degrees), and ``liveness`` (a dict) with liveness
    models. ``embedding_norm``, ``normed_embedding`` and ``sex`` are derived.
    """

    def __init__(self, d=None, **kwargs):
        super().__init__()
        for key, value in dict(d or {}, **kwargs).items():
            self[key] = value

    def __setitem__(self, key, value):
        super().__setitem__(key, value)

    def __setattr__(self, key, value):
        self[key] = value

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        return self.get(key)

    def __delattr__(self, key):
        try:
            del self[key]
        except KeyError:
            raise AttributeError(key) from None

    @property
    def embedding_norm(self):
        """L2 norm of the raw embedding (``None`` without one)."""
        embedding = self.get("embedding")
        return None if embedding is None else np.linalg.norm(embedding)

    @property
    def normed_embedding(self):
        """The embedding scaled to unit length (``None`` without one)."""
        embedding = self.get("embedding")
        return None if embedding is None else embedding / np.linalg.norm(embedding)

    @property
    def sex(self):
        """``'M'`` or ``'F'`` from ``gender`` (``None`` without it)."""
        gender = self.get("gender")
        return None if gender is None else ("M" if gender == 1 else "F")
