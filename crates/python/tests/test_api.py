"""The rest of the package: inputs, batches, single models, alignment,
errors, the gallery and evaluation, each against InsightFace or the
library's own results."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from insightface.utils import face_align as insightface_align

import facekit
from conftest import SHARED

T1 = SHARED / "images" / "t1.jpg"
BBT = SHARED / "identities" / "face_api_bbt"
CORRUPT = SHARED / "images" / "format_edge_cases"


def same_faces(a, b, exact=True):
    assert len(a) == len(b) and len(a) > 0
    for x, y in zip(a, b):
        if exact:
            assert np.array_equal(x.bbox, y.bbox) and np.array_equal(x.embedding, y.embedding)
        else:
            assert np.max(np.abs(x.bbox - y.bbox)) < 0.5
            assert float(np.dot(x.normed_embedding, y.normed_embedding)) > 0.9999


def test_paths_rgb_and_views_give_the_same_faces(sface_app):
    bgr = cv2.imread(str(T1))
    expected = sface_app.get(bgr)
    same_faces(sface_app.get(str(T1)), expected)
    same_faces(sface_app.get(T1), expected)
    same_faces(sface_app.get(np.ascontiguousarray(bgr[:, :, ::-1]), rgb=True), expected)
    # A non-contiguous view (every other column of a wider array) is read by its strides.
    wide = np.zeros((bgr.shape[0], bgr.shape[1] * 2, 3), np.uint8)
    wide[:, ::2] = bgr
    same_faces(sface_app.get(wide[:, ::2]), expected)


def test_max_num_and_metric(sface_app):
    img = cv2.imread(str(T1))
    every = sface_app.get(img)
    two = sface_app.get(img, max_num=2)
    assert len(every) == 6 and len(two) == 2
    assert len(sface_app.get(img, max_num=2, det_metric="max")) == 2
    largest = sorted(every, key=lambda f: -(f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))[:2]
    assert {tuple(f.bbox) for f in sface_app.get(img, max_num=2, det_metric="max")} == {tuple(f.bbox) for f in largest}
    with pytest.raises(ValueError, match="det_metric"):
        sface_app.get(img, det_metric="biggest")


def test_get_batch_matches_get_and_goes_past_a_corrupt_file(auto_app):
    sface_app = auto_app
    paths = sorted(str(p) for p in BBT.glob("*/*1.png"))
    assert len(paths) >= 8
    arrays = [cv2.imread(p) for p in paths]
    one_by_one = [sface_app.get(a) for a in arrays]
    for got, expected in zip(sface_app.get_batch(arrays), one_by_one):
        same_faces(got, expected)
    broken = str(CORRUPT / "corrupted.png")
    mixed = sface_app.get_batch([paths[0], broken, arrays[1]], errors="return")
    same_faces(mixed[0], one_by_one[0])
    assert isinstance(mixed[1], facekit.ImageError) and broken in str(mixed[1])
    same_faces(mixed[2], one_by_one[1])
    with pytest.raises(facekit.ImageError, match="corrupted.png"):
        sface_app.get_batch([paths[0], broken])


def test_bad_inputs_are_clear_errors(sface_app):
    with pytest.raises(TypeError, match="uint8"):
        sface_app.get(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        sface_app.get(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        sface_app.get(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(facekit.ImageError, match="missing.jpg"):
        sface_app.get("missing.jpg")
    with pytest.raises(facekit.ModelError, match="not found"):
        facekit.FaceAnalysis(name="no_such_pack", root="/nonexistent")
    with pytest.raises(ValueError, match="multiples of 32"):
        sface_app.prepare(ctx_id=0, det_size=(100, 100))
    assert sface_app.get(np.zeros((64, 64), np.uint8)) == []


def test_allowed_modules_keep_only_those_tasks(full_pack):
    app = facekit.FaceAnalysis(name=str(full_pack), allowed_modules=["detection", "genderage"])
    app.prepare(ctx_id=0, det_size=(640, 640))
    assert sorted(app.models) == ["detection", "genderage"]
    face = app.get(cv2.imread(str(T1)))[0]
    assert face.embedding is None and face.gender is not None and face.landmark_3d_68 is None
    with pytest.raises(ValueError, match="detection"):
        facekit.FaceAnalysis(name=str(full_pack), allowed_modules=["recognition"])


def test_a_missing_accelerator_is_an_error_or_a_loud_fallback(sface_pack):
    # The test machines' ONNX Runtime is the CPU build: CUDA is not in it.
    app = facekit.FaceAnalysis(name=str(sface_pack))
    assert app.providers == ["CPUExecutionProvider"]
    with pytest.raises(facekit.ModelError, match="cuda.*onnxruntime-gpu"):
        facekit.FaceAnalysis(name=str(sface_pack), providers=["CUDAExecutionProvider"])
    with pytest.warns(RuntimeWarning, match="'cuda' is not in this ONNX Runtime build; using cpu"):
        app = facekit.FaceAnalysis(name=str(sface_pack), providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert app.providers == ["CPUExecutionProvider"]
    assert len(app.get(cv2.imread(str(T1)))) == 6
    with pytest.raises(ValueError, match="unknown execution provider 'TPU'"):
        facekit.FaceAnalysis(name=str(sface_pack), providers=["TPU"])
    with pytest.raises(facekit.ModelError, match="openvino"):
        facekit.model_zoo.get_model(str(sface_pack / "0_det.onnx"), providers=[("OpenVINOExecutionProvider", {})])


def test_auto_det_size_is_insightfaces_pair(sface_pack):
    app = facekit.FaceAnalysis(name=str(sface_pack))
    app.prepare(ctx_id=0)
    assert app.det_size == [(128, 128), (640, 640)]


def test_single_models_give_the_pipelines_numbers(full_app, full_pack):
    img = cv2.imread(str(T1))
    faces = full_app.get(img)
    det = facekit.model_zoo.get_model(str(full_pack / "0_det.onnx"))
    assert det.taskname == "detection"
    det.prepare(ctx_id=0, input_size=(640, 640), det_thresh=0.5)
    boxes, kpss = det.detect(img)
    assert boxes.shape == (6, 5) and kpss.shape == (6, 5, 2) and boxes.dtype == np.float32
    assert np.allclose(boxes[:, :4], np.stack([f.bbox for f in faces]), atol=1e-4)
    rec = facekit.model_zoo.get_model(str(full_pack / "synthetic_w600k.onnx"))
    ga = facekit.model_zoo.get_model(str(full_pack / "synthetic_genderage.onnx"))
    lmk = facekit.model_zoo.get_model(str(full_pack / "synthetic_1k3d68.onnx"))
    assert (rec.taskname, ga.taskname, lmk.taskname) == ("recognition", "genderage", "landmark_3d_68")
    for f in faces[:3]:
        probe = facekit.Face(bbox=f.bbox, kps=f.kps, det_score=f.det_score)
        assert np.allclose(rec.get(img, probe), f.embedding, atol=1e-4)
        assert ga.get(img, probe) == (f.gender, f.age)
        lmk.get(img, probe)
        assert np.allclose(probe.landmark_3d_68, f.landmark_3d_68, atol=1e-3)
        assert np.allclose(probe.pose, f.pose, atol=1e-3)
    crop = facekit.face_align.norm_crop(img, faces[0].kps, 112)
    assert np.allclose(rec.get_feat(crop)[0], faces[0].embedding, atol=1e-4)


def test_norm_crop_is_insightfaces(sface_app):
    img = cv2.imread(str(T1))
    for face in sface_app.get(img):
        ours = facekit.face_align.norm_crop(img, face.kps)
        theirs = insightface_align.norm_crop(img, landmark=face.kps, image_size=112)
        assert ours.shape == theirs.shape == (112, 112, 3)
        assert np.abs(ours.astype(int) - theirs.astype(int)).mean() <= 1.0
        assert np.allclose(facekit.utils.face_align.estimate_norm(face.kps), insightface_align.estimate_norm(face.kps), atol=1e-3)


def test_imread_decodes_as_opencv():
    for path in [T1, CORRUPT / "einstein.png", CORRUPT / "einstein.webp"]:
        assert np.array_equal(facekit.imread(path), cv2.imread(str(path)))


def test_missing_onnx_runtime_says_how_to_install_it(sface_pack):
    code = (
        "import importlib.util\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'onnxruntime' else real(name, *a)\n"
        "import facekit\n"
        "try:\n"
        f"    facekit.FaceAnalysis(name={str(sface_pack)!r})\n"
        "except facekit.OnnxRuntimeNotFound as e:\n"
        "    print('refused:', e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ORT_DYLIB_PATH"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout and "pip install onnxruntime" in done.stdout


def test_gallery_enroll_identify_verify_delete(tmp_path, auto_app):
    sface_app = auto_app
    g = facekit.Gallery(str(tmp_path / "people.db"))
    record = g.create_collection("bbt", sface_app)
    assert record["name"] == "bbt"
    people = sorted(p.name for p in BBT.iterdir())
    for person in people:
        ids = g.enroll("bbt", person, str(BBT / person / f"{person}1.png"), sface_app)
        assert len(ids) == 1
    assert sorted(p["key"] for p in g.persons("bbt")) == people
    right = 0
    for person in people:
        probe = cv2.imread(str(BBT / person / f"{person}2.png"))
        found = g.identify("bbt", probe, sface_app)
        assert len(found) >= 1
        best = found[0]["best"]
        right += best is not None and best["key"] == person
        v = g.verify("bbt", person, probe, sface_app)
        assert set(v) >= {"score", "same", "threshold"}
    assert right >= len(people) - 1, right
    with pytest.raises(facekit.GalleryError, match="no face"):
        g.enroll("bbt", "nobody", np.zeros((200, 200, 3), np.uint8), sface_app)
    assert g.delete_person("bbt", people[0]) == 1
    assert people[0] not in [p["key"] for p in g.persons("bbt")]
    # Every enroll, identify, verify and delete above is in the audit trail.
    ops = [e["operation"] for e in g.audit()]
    assert ops == ["enroll"] * len(people) + ["identify", "verify"] * len(people) + ["delete"], ops
    assert all(e["actor"].startswith("user:") for e in g.audit())
    export = g.export_person("bbt", people[1])
    assert export["person"]["key"] == people[1] and len(export["samples"]) == 1
    assert len(export["samples"][0]["embedding"]) == 128
    receipt = g.erase_person("bbt", people[1])
    last = g.audit(collection="bbt")[-1]
    assert (receipt["samples_erased"], receipt["audit_hash"]) == (1, last["hash"])
    assert last["operation"] == "erase" and last["persons"] == [people[1]]
    assert g.set_retention("bbt", 30)["retention_days"] == 30
    reports = g.purge()
    assert [(r["collection"], r["retention_days"], r["samples_erased"]) for r in reports] == [("bbt", 30, 0)]
    verified = g.verify_audit()
    assert verified["broken"] is None and verified["entries"] == len(g.audit())
    with pytest.raises(facekit.GalleryError):
        g.identify("no_such_collection", str(T1), sface_app)


def test_eval_verify_on_a_bin_set(sface_app):
    report = facekit.eval.verify(sface_app, bin=str(SHARED / "verification" / "small_lfw.bin"), jobs=2)
    assert report["pairs"] == len(report["scores"]) == len(report["same"]) > 0
    assert 0.5 < report["accuracy"]["mean"] <= 1.0
    with pytest.raises(facekit.EvalError, match="give a set"):
        facekit.eval.verify(sface_app)
