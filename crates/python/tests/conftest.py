"""Shared test data for the Python package's tests: ../shared (or
$FACEKIT_SHARED), model packs assembled from its models the way users have
them, and InsightFace 2.1's golden outputs. Missing data fails, never skips."""

import glob
import json
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
SHARED = pathlib.Path(os.environ.get("FACEKIT_SHARED", REPO.parent / "shared"))
MODELS = pathlib.Path(os.environ.get("FACEKIT_MODELS", SHARED / "models"))
SFACE = "face_recognition_sface_2021dec_fp32.onnx"
SYNTHETIC_FULL = [
    "synthetic/synthetic_w600k.onnx",
    "synthetic/synthetic_genderage.onnx",
    "synthetic/synthetic_2d106det.onnx",
    "synthetic/synthetic_1k3d68.onnx",
]


def model(name):
    path = MODELS / name
    assert path.is_file(), f"test model missing: {path}"
    return path


def make_pack(folder, detector, others):
    """A pack folder of links; the detector's name sorts first, as in the
    Rust parity test."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "0_det.onnx").symlink_to(model(detector))
    for name in others:
        (folder / pathlib.Path(name).name).symlink_to(model(name))
    return folder


def golden_cases(reference):
    """``(image path, golden dict)`` for every golden of a reference pack."""
    root = SHARED / "golden" / "insightface-2.1" / reference
    cases = []
    for path in sorted(glob.glob(str(root / "**" / "*.json"), recursive=True)):
        rel = pathlib.Path(path).relative_to(root).with_suffix("")
        cases.append((SHARED / rel, json.loads(pathlib.Path(path).read_text())))
    assert cases, f"no goldens under {root}"
    return cases


@pytest.fixture(scope="session")
def sface_pack(tmp_path_factory):
    return make_pack(tmp_path_factory.mktemp("packs") / "scrfd500m_sface", "det_500m.onnx", [SFACE])


@pytest.fixture(scope="session")
def full_pack(tmp_path_factory):
    return make_pack(tmp_path_factory.mktemp("packs") / "scrfd500m_synthetic", "det_500m.onnx", SYNTHETIC_FULL)


@pytest.fixture(scope="session")
def sface_app(sface_pack):
    import facekit

    app = facekit.FaceAnalysis(name=str(sface_pack))
    app.prepare(ctx_id=0, det_size=(640, 640))
    return app


@pytest.fixture(scope="session")
def full_app(full_pack):
    import facekit

    app = facekit.FaceAnalysis(name=str(full_pack))
    app.prepare(ctx_id=0, det_size=(640, 640))
    return app


@pytest.fixture(scope="session")
def auto_app(sface_pack):
    """InsightFace 2.1's default sizes (128 and 640): face crops such as
    the 150-px identity photos need the 128 pass."""
    import facekit

    app = facekit.FaceAnalysis(name=str(sface_pack))
    app.prepare(ctx_id=0)
    return app
