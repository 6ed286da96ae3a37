"""A script written for InsightFace runs unchanged under facekit except for
its import line, and prints the same; its drawn image is the same pixels."""

import os
import re
import pathlib
import subprocess
import sys

import cv2
import numpy as np

from conftest import SHARED, SFACE, SYNTHETIC_FULL, make_pack

HERE = pathlib.Path(__file__).parent
IMAGES = [SHARED / "images" / "t1.jpg", SHARED / "identities" / "face_api_bbt" / "raj" / "raj1.png"]


def run(script, pack, out):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, str(script), str(pack), *map(str, IMAGES), str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


NUMBER = re.compile(r"-?\d+\.\d+(?:e-?\d+)?")


def assert_same_output(ours, theirs):
    """The same text; printed numbers equal but for one rounding step at
    their printed precision (embeddings agree to cosine 0.9999, not to the
    bit, so a rounded value on a boundary may flip)."""
    assert NUMBER.split(ours) == NUMBER.split(theirs), (ours, theirs)
    for a, b in zip(NUMBER.findall(ours), NUMBER.findall(theirs)):
        decimals = len(b.split(".")[1].split("e")[0])
        step = max(10.0 ** -decimals, 1e-3)
        assert abs(float(a) - float(b)) <= 1.01 * step, (a, b)


def check_pack(tmp_path, pack):
    original = (HERE / "insightface_script.py").read_text()
    ported = original.replace("from insightface.app import FaceAnalysis", "from facekit.app import FaceAnalysis")
    assert ported != original and ported.count("\n") == original.count("\n")
    (tmp_path / "ported.py").write_text(ported)
    theirs = run(HERE / "insightface_script.py", pack, tmp_path / "insightface.png")
    ours = run(tmp_path / "ported.py", pack, tmp_path / "facekit.png")
    assert theirs.count("\n") > 5
    assert_same_output(ours, theirs)
    a, b = cv2.imread(str(tmp_path / "insightface.png")), cv2.imread(str(tmp_path / "facekit.png"))
    assert a.shape == b.shape
    differing = int(np.count_nonzero(np.any(a != b, axis=2)))
    assert differing == 0, f"{differing} pixels differ"
    assert np.count_nonzero(np.any(a != cv2.imread(str(IMAGES[0])), axis=2)) > 1000


def test_script_for_insightface_runs_unchanged(tmp_path):
    check_pack(tmp_path, make_pack(tmp_path / "pack", "det_500m.onnx", [SFACE]))


def test_script_with_gender_age_labels(tmp_path):
    check_pack(tmp_path, make_pack(tmp_path / "pack", "det_500m.onnx", SYNTHETIC_FULL))
