"""facekit: face analysis in Rust with InsightFace's models and numbers.

A drop-in for ``insightface.app.FaceAnalysis`` (same names, same results):

>>> import cv2, facekit
>>> app = facekit.FaceAnalysis(name="buffalo_l")
>>> app.prepare(ctx_id=0, det_size=(640, 640))
>>> faces = app.get(cv2.imread("t1.jpg"))
>>> faces[0].bbox, faces[0].normed_embedding.shape

plus ``FaceAnalysis.get_batch`` (many images in parallel, the GIL
released), :class:`Gallery` (enroll, identify, verify) and
:func:`facekit.eval.verify` (the 10-fold verification protocol).
"""

from ._facekit import (
    ORT_VERSION,
    EvalError,
    FacekitError,
    GalleryError,
    ImageError,
    ModelError,
    OnnxRuntimeNotFound,
    __version__,
)
from ._runtime import onnxruntime_library
from .app import Face, FaceAnalysis
from .gallery import Gallery
from . import app, eval, face_align, model_zoo, utils


def imread(path, rgb=False):
    """Decodes an image file as ``cv2.imread`` does (BGR ``uint8``, EXIF
    orientation applied, grayscale expanded, alpha dropped), with facekit's
    own decoder: no OpenCV needed. ``rgb=True`` returns RGB order."""
    from ._facekit import decode

    return decode(path, rgb)


__all__ = [
    "EvalError",
    "Face",
    "FaceAnalysis",
    "FacekitError",
    "Gallery",
    "GalleryError",
    "ImageError",
    "ModelError",
    "ORT_VERSION",
    "OnnxRuntimeNotFound",
    "app",
    "eval",
    "face_align",
    "imread",
    "model_zoo",
    "onnxruntime_library",
    "utils",
    "__version__",
]
