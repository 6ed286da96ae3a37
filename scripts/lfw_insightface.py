"""InsightFace 2.1's own components on LFW in detect mode: the reference the
facekit LFW test compares with (`crates/eval/tests/protocols.rs`).

    python lfw_insightface.py PAIRS_TXT IMAGES_DIR DET_ONNX REC_ONNX [PER_FOLD]

Detection with FaceAnalysis (detection only, InsightFace's default sizes),
the largest face aligned with `face_align.norm_crop`, the whole image
resized when no face is found; embeddings of the crop and its mirror
summed, then normalised; 10-fold accuracy as InsightFace's
`verification.py` computes it (squared distances, thresholds 0 to 4 by
0.01, contiguous folds). PER_FOLD keeps the first PER_FOLD matched and
PER_FOLD mismatched pairs of each official fold (the fast test's subset).
Prints one JSON line.
"""

import json
import os
import shutil
import sys
import tempfile

import cv2
import numpy as np
from insightface.app import FaceAnalysis
from insightface.model_zoo import get_model
from insightface.utils import face_align


def read_pairs(path, per_fold):
    lines = [line.split() for line in open(path) if line.strip()]
    folds, size = int(lines[0][0]), int(lines[0][1])
    pairs = []
    for fold in range(folds):
        block = lines[1 + 2 * size * fold: 1 + 2 * size * (fold + 1)]
        keep = per_fold or size
        for fields in block[:keep] + block[size: size + keep]:
            if len(fields) == 3:
                pairs.append(((fields[0], int(fields[1])), (fields[0], int(fields[2])), True))
            else:
                pairs.append(((fields[0], int(fields[1])), (fields[2], int(fields[3])), False))
    return pairs, folds


def accuracy(dist, same, folds):
    thresholds = np.arange(0, 4, 0.01)
    n = len(dist)
    bounds = np.linspace(0, n, folds + 1).astype(int)
    accs = []
    for k in range(folds):
        test = np.zeros(n, bool)
        test[bounds[k]: bounds[k + 1]] = True
        train = ~test
        train_acc = [np.mean((dist[train] < t) == same[train]) for t in thresholds]
        best = thresholds[int(np.argmax(train_acc))]
        accs.append(np.mean((dist[test] < best) == same[test]))
    return float(np.mean(accs)), float(np.std(accs))


def main():
    pairs_txt, images, det, rec_path = sys.argv[1:5]
    per_fold = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    pairs, folds = read_pairs(pairs_txt, per_fold)
    pack = tempfile.mkdtemp()
    try:
        os.symlink(os.path.abspath(det), os.path.join(pack, "det.onnx"))
        app = FaceAnalysis(name=pack, allowed_modules=["detection"], providers=["CPUExecutionProvider"])
        app.prepare(ctx_id=-1)
        rec = get_model(rec_path, providers=["CPUExecutionProvider"])
        rec.prepare(ctx_id=-1)
        side = rec.input_size[0]
        cache, no_face = {}, 0
        for a, b, _ in pairs:
            for name, number in (a, b):
                if (name, number) in cache:
                    continue
                img = cv2.imread(os.path.join(images, name, f"{name}_{number:04d}.jpg"))
                faces = app.get(img)
                if faces:
                    face = max(faces, key=lambda f: (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
                    crop = face_align.norm_crop(img, face.kps, side)
                else:
                    no_face += 1
                    crop = cv2.resize(img, (side, side))
                # One crop a run: SFace's batch dimension is fixed at 1.
                mirror = np.ascontiguousarray(crop[:, ::-1])
                e = rec.get_feat(crop)[0] + rec.get_feat(mirror)[0]
                cache[(name, number)] = e / np.linalg.norm(e)
    finally:
        shutil.rmtree(pack)
    dist = np.array([np.sum((cache[a] - cache[b]) ** 2) for a, b, _ in pairs])
    same = np.array([s for _, _, s in pairs])
    mean, std = accuracy(dist, same, folds)
    print(json.dumps({"pairs": len(pairs), "images": len(cache), "no_face": no_face,
                      "accuracy": round(100 * mean, 2), "std": round(100 * std, 2)}))


main()
