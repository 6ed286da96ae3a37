from os import PathLike
from typing import Union

import numpy as np
import numpy.typing as npt

from . import app as app, eval as eval, face_align as face_align, model_zoo as model_zoo, utils as utils
from ._facekit import (
    ORT_VERSION as ORT_VERSION,
    EvalError as EvalError,
    FacekitError as FacekitError,
    GalleryError as GalleryError,
    ImageError as ImageError,
    ModelError as ModelError,
    OnnxRuntimeNotFound as OnnxRuntimeNotFound,
    __version__ as __version__,
)
from ._runtime import onnxruntime_library as onnxruntime_library
from .app import Face as Face, FaceAnalysis as FaceAnalysis
from .gallery import Gallery as Gallery

def imread(path: Union[str, PathLike], rgb: bool = False) -> npt.NDArray[np.uint8]: ...
