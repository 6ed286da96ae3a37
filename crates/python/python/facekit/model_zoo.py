"""Single models, as InsightFace's ``insightface.model_zoo``.

:func:`get_model` loads one ``.onnx`` file and routes it by its signature
to a detector, recognizer, gender/age (attribute), landmark or liveness
model, each with InsightFace's methods.
"""

import os

import numpy as np

from . import _facekit
from ._runtime import onnxruntime_library


class _PackModel:
    """A model of a pack or a single file; its ONNX Runtime session is
    created on first direct use (``FaceAnalysis`` runs the pack's own)."""

    def __init__(self, taskname, model_file, input_size, input_mean, input_std, runtime, native=None):
        self.taskname = taskname
        self.model_file = str(model_file)
        self.input_size = None if input_size is None else tuple(input_size)
        self.input_mean = input_mean
        self.input_std = input_std
        self._runtime = runtime  # Model.load's library, threads and providers
        self._loaded = native

    @staticmethod
    def make(taskname, model_file, input_size, input_mean, input_std, runtime, native=None):
        if taskname == "detection":
            kind = Detector
        elif taskname == "recognition":
            kind = ArcFaceONNX
        elif taskname.startswith("landmark_"):
            kind = Landmark
        elif taskname == "genderage" or taskname.startswith("attribute_"):
            kind = Attribute
        else:
            kind = _PackModel
        return kind(taskname, model_file, input_size, input_mean, input_std, runtime, native)

    @property
    def _native(self):
        if self._loaded is None:
            self._loaded = _facekit.Model.load(self.model_file, **self._runtime)
        return self._loaded

    def prepare(self, ctx_id, **kwargs):
        """Accepted for compatibility (``ctx_id``: see ``FaceAnalysis``)."""

    def __repr__(self):
        return f"<facekit {type(self).__name__} {self.taskname} {self.model_file}>"


class Detector(_PackModel):
    """A face detector (SCRFD, YuNet or RetinaFace), as InsightFace's ``SCRFD``."""

    det_thresh = 0.5
    nms_thresh = 0.4

    def prepare(self, ctx_id, **kwargs):
        if kwargs.get("det_thresh") is not None:
            self.det_thresh = kwargs["det_thresh"]
        if kwargs.get("input_size") is not None:
            self.input_size = tuple(kwargs["input_size"])

    def detect(self, img, input_size=None, max_num=0, metric="default", *, rgb=False):
        """``(det, kpss)``: an ``(N, 5)`` float32 array of boxes and scores
        and an ``(N, 5, 2)`` array of landmarks (``None`` without them)."""
        size = input_size if input_size is not None else self.input_size
        columns = self._native.detect(
            img, rgb, float(self.det_thresh), None if size is None else tuple(size), int(max_num), metric
        )
        det = np.concatenate([columns["bbox"], columns["det_score"][:, None]], axis=1).astype(np.float32)
        return det, columns.get("kps", np.zeros((0, 5, 2), np.float32) if len(det) == 0 else None)


class ArcFaceONNX(_PackModel):
    """An ArcFace-family recognizer, as InsightFace's ``ArcFaceONNX``."""

    def get(self, img, face, *, rgb=False):
        """Aligns the face by its ``kps``, embeds it and stores ``face.embedding``."""
        face["embedding"] = self._native.embed(img, rgb, face["kps"])
        return face["embedding"]

    def get_feat(self, imgs, *, rgb=False):
        """Raw embeddings of aligned crops (BGR, at the input size), one row each."""
        if not isinstance(imgs, list):
            imgs = [imgs]
        return self._native.get_feat(imgs, rgb)

    def compute_sim(self, feat1, feat2):
        """Cosine similarity of two embeddings."""
        a, b = np.ravel(feat1), np.ravel(feat2)
        return np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))


class Attribute(_PackModel):
    """A 96×96 attribute model (gender/age), as InsightFace's ``Attribute``."""

    def get(self, img, face, *, rgb=False):
        """For gender/age, stores and returns ``(gender, age)``; otherwise
        returns the model's outputs."""
        outputs, genderage = self._native.attribute(img, rgb, face["bbox"])
        if genderage is None:
            return outputs
        gender, age = np.int64(genderage[0]), int(genderage[1])
        face["gender"], face["age"] = gender, age
        return gender, age


class Landmark(_PackModel):
    """A 192×192 landmark model (106 2-D or 68 3-D points), as InsightFace's ``Landmark``."""

    def get(self, img, face, *, rgb=False):
        """Stores the points as ``face[taskname]`` (and ``face.pose`` for
        the 3-D model) and returns them."""
        points, pose = self._native.landmarks(img, rgb, face["bbox"])
        face[self.taskname] = points
        if pose is not None:
            face["pose"] = pose
        return points


def get_model(name, **kwargs):
    """Loads one ``.onnx`` file (a path, or a file under ``root/models``)
    and returns its model object, or ``None`` when its signature matches no
    task facekit runs. ``threads``: ONNX Runtime threads; ``providers``: as
    ``FaceAnalysis``'s."""
    path = os.path.expanduser(str(name))
    if not os.path.exists(path):
        root = os.path.expanduser(kwargs.get("root", "~/.insightface"))
        candidate = os.path.join(root, "models", str(name))
        if os.path.exists(candidate):
            path = candidate
    if os.path.isdir(path):
        raise _facekit.ModelError(f"{path} is a folder; FaceAnalysis(name=...) loads a pack")
    if not os.path.isfile(path):
        raise _facekit.ModelError(f"model file {name} not found")
    runtime = runtime_settings(kwargs.get("providers"), kwargs.get("threads"))
    native = _facekit.Model.load(path, **runtime)
    if native is None:
        return None
    return _PackModel.make(
        native.taskname, path, native.input_size, native.input_mean, native.input_std, runtime, native
    )


def runtime_settings(providers, threads):
    """``Model.load``'s and ``Analyzer``'s ONNX Runtime settings: the
    library, the threads, and InsightFace's ``providers`` list (ONNX
    Runtime's names, ``CUDAExecutionProvider``, or facekit's, ``cuda``;
    a ``(name, options)`` pair keeps the name). ``None``: CUDA when the
    installed ONNX Runtime has it, then the CPU."""
    if providers is not None:
        providers = [p[0] if isinstance(p, (tuple, list)) else p for p in providers]
        if not all(isinstance(p, str) for p in providers):
            raise TypeError(f"providers must be names of execution providers; got {providers!r}")
    return {"library": onnxruntime_library(), "threads": threads, "providers": providers}
