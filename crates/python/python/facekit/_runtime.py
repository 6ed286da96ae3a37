"""Finding ONNX Runtime: the ``libonnxruntime.so`` of PyPI's ``onnxruntime``
(or ``onnxruntime-gpu``) package, without importing its Python module."""

import glob
import importlib.util
import os

from ._facekit import ORT_VERSION, OnnxRuntimeNotFound

_INSTALL = (
    "facekit runs models with the libonnxruntime.so of PyPI's onnxruntime package; "
    "install it with `pip install onnxruntime` (CPU) or `pip install onnxruntime-gpu` (CUDA)"
)


def onnxruntime_library():
    """The path of the ``libonnxruntime.so`` facekit loads: ``$ORT_DYLIB_PATH``
    when set, else the one inside the installed ``onnxruntime`` package.

    Raises :class:`OnnxRuntimeNotFound` saying how to install it."""
    explicit = os.environ.get("ORT_DYLIB_PATH")
    if explicit:
        if not os.path.isfile(explicit):
            raise OnnxRuntimeNotFound(f"ORT_DYLIB_PATH names {explicit}, which is not a file")
        return explicit
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise OnnxRuntimeNotFound(f"ONNX Runtime is not installed: {_INSTALL}")
    for folder in spec.submodule_search_locations:
        found = sorted(glob.glob(os.path.join(folder, "capi", "libonnxruntime.so*")))
        if found:
            return found[0]
    raise OnnxRuntimeNotFound(
        f"the onnxruntime package in {list(spec.submodule_search_locations)} has no "
        f"libonnxruntime.so (facekit is tested with {ORT_VERSION}): {_INSTALL}"
    )
