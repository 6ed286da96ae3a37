"""InsightFace's ``FaceAnalysis`` over facekit's Rust pipeline."""

import os
import warnings

import numpy as np

from .. import _facekit
from ..model_zoo import _PackModel, runtime_settings
from .common import Face

#: What ``det_size=None`` means in InsightFace 2.1: detect at 128×128 and
#: 640×640 and merge with one NMS.
DEFAULT_DET_SIZES = [(128, 128), (640, 640)]

_COLUMNS = (
    "bbox",
    "kps",
    "det_score",
    "embedding",
    "gender",
    "landmark_2d_106",
    "landmark_3d_68",
    "pose",
)


def _model_dir(name, root):
    """InsightFace's rule: a folder given as ``name``, else
    ``root/models/name``; then facekit's ``~/.facekit/models/name``."""
    direct = os.path.expanduser(str(name))
    if os.path.isdir(direct):
        return os.path.abspath(direct)
    candidates = [os.path.join(os.path.expanduser(root), "models", str(name))]
    home = os.environ.get("FACEKIT_HOME") or os.path.join(os.path.expanduser("~"), ".facekit")
    candidates.append(os.path.join(home, "models", str(name)))
    for folder in candidates:
        if os.path.isdir(folder):
            return folder
    raise _facekit.ModelError(
        f"model pack '{name}' not found; looked in: {', '.join(candidates)}. "
        f"Download it with `facekit models fetch {name}` or pass a folder of .onnx files"
    )


def _det_sizes(det_size):
    """``None`` or ``(0, 0)``: InsightFace's default pair; ``(w, h)``: one
    size; a list of pairs: each, merged."""
    if det_size is None:
        return None
    sizes = np.asarray(det_size, dtype=np.int64)
    if sizes.shape == (2,):
        if sizes[0] == 0 and sizes[1] == 0:
            return None
        return [(int(sizes[0]), int(sizes[1]))]
    if sizes.ndim == 2 and sizes.shape[1] == 2:
        return [(int(w), int(h)) for w, h in sizes]
    raise ValueError(f"det_size must be (width, height) or a list of them; got {det_size!r}")


def _faces(columns):
    """``Face`` records from the engine's columns: each field a row view
    of one array, in InsightFace's dtypes."""
    n = len(columns["det_score"])
    faces = []
    for i in range(n):
        face = Face()
        for key in _COLUMNS:
            column = columns.get(key)
            if column is not None:
                face[key] = column[i]
        if "age" in columns:
            face["age"] = int(columns["age"][i])
        for key in ("liveness", "quality"):
            if key in columns:
                face[key] = columns[key][i]
        faces.append(face)
    return faces


class FaceAnalysis:
    """Loads a model pack (a folder of ``.onnx`` files, each routed to its
    task by its signature, the first file per task kept) as InsightFace's
    ``FaceAnalysis`` does.

    ``name`` is a pack under ``root/models`` (``~/.insightface/models/buffalo_l``)
    or a folder path; ``allowed_modules`` keeps only those tasks
    (``detection`` must be one); ``providers`` lists ONNX Runtime execution
    providers in order of preference (``['CUDAExecutionProvider',
    'CPUExecutionProvider']``; default: CUDA when the installed ONNX Runtime
    has it, then the CPU). One that the installed ONNX Runtime lacks raises
    ``ModelError`` unless a later one takes over, which is warned about
    (``RuntimeWarning``), never silent. ``self.providers``: those in use.
    ``threads``: ONNX Runtime threads per model (default: every core).
    """

    def __init__(
        self,
        name="buffalo_l",
        root="~/.insightface",
        allowed_modules=None,
        providers=None,
        threads=None,
        **kwargs,
    ):
        if allowed_modules is not None:
            allowed_modules = [str(m) for m in allowed_modules]
            if "detection" not in allowed_modules:
                raise ValueError("allowed_modules must include 'detection'")
        self.model_dir = _model_dir(name, root)
        runtime = runtime_settings(providers, threads)
        self._engine = _facekit.Analyzer(self.model_dir, allowed_modules=allowed_modules, **runtime)
        for fallback in self._engine.fallbacks():
            warnings.warn(f"facekit: {fallback}", RuntimeWarning, stacklevel=2)
        self.providers = self._engine.providers()
        runtime["providers"] = self.providers
        self.models = {
            task: _PackModel.make(task, file, size, mean, std, runtime)
            for task, file, size, mean, std in self._engine.models()
        }
        if "detection" not in self.models:
            raise _facekit.ModelError(f"no face detection model in {self.model_dir}")
        self.det_model = self.models["detection"]
        self.det_thresh = 0.5
        self.det_size = list(DEFAULT_DET_SIZES)

    def prepare(self, ctx_id=0, det_thresh=0.5, det_size=None):
        """Sets the detection threshold and input size(s): ``det_size=None``
        (or ``(0, 0)``) detects at 128×128 and 640×640, as InsightFace 2.1.
        ``ctx_id`` is accepted for compatibility."""
        sizes = _det_sizes(det_size)
        self._engine.configure(float(det_thresh), sizes)
        self.det_thresh = det_thresh
        self.det_size = list(DEFAULT_DET_SIZES) if sizes is None else sizes
        for model in self.models.values():
            if model.taskname == "detection":
                model.prepare(ctx_id, input_size=self.det_size[-1], det_thresh=det_thresh)
            else:
                model.prepare(ctx_id)

    def get(self, img, max_num=0, det_metric="default", *, rgb=False):
        """The faces of ``img``: a ``uint8`` array in BGR order as
        ``cv2.imread`` returns (``rgb=True`` for RGB), or an image path.
        ``max_num`` keeps that many faces (ranked by ``det_metric``,
        ``'default'`` or ``'max'``), 0 all."""
        return _faces(self._engine.get(img, rgb, int(max_num), det_metric))

    def get_batch(self, images, max_num=0, det_metric="default", *, rgb=False, errors="raise"):
        """The faces of each image (arrays or paths), analysed in parallel
        in Rust with the GIL released; one list per image, in order.

        ``errors='raise'`` raises the first failed image's exception after
        all have run; ``errors='return'`` puts it in that image's place."""
        if errors not in ("raise", "return"):
            raise ValueError(f"errors must be 'raise' or 'return'; got {errors!r}")
        results = self._engine.get_batch(list(images), rgb, int(max_num), det_metric)
        out = []
        for result in results:
            if isinstance(result, BaseException):
                if errors == "raise":
                    raise result
                out.append(result)
            else:
                out.append(_faces(result))
        return out

    def draw_on(self, img, faces):
        """A copy of ``img`` with each face's box, its five landmarks and,
        when known, ``sex,age`` drawn as InsightFace draws them (the label
        needs OpenCV, as InsightFace's does)."""
        drawn = np.array(img, dtype=np.uint8, order="C", copy=True)
        cv2 = None
        for face in faces:
            box = [int(v) for v in np.asarray(face.bbox)[:4].astype(int)]
            kps = None if face.kps is None else [[int(x), int(y)] for x, y in np.asarray(face.kps).astype(int)]
            _facekit.draw_faces(drawn, [box], [kps])
            if face.gender is None or face.age is None:
                continue
            if cv2 is None:
                try:
                    import cv2
                except ImportError:
                    warnings.warn(
                        "draw_on: the sex,age labels need OpenCV (pip install opencv-python-headless)",
                        stacklevel=2,
                    )
                    cv2 = False
            if cv2:
                cv2.putText(
                    drawn,
                    "%s,%d" % (face.sex, face.age),
                    (box[0] - 1, box[1] - 4),
                    cv2.FONT_HERSHEY_COMPLEX,
                    0.7,
                    (0, 255, 0),
                    1,
                )
        return drawn
