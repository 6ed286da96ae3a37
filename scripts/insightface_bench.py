"""Times InsightFace 2.1 FaceAnalysis.get (with cv2.imread) over images.

Usage: insightface_bench.py PACK_DIR DET_SIZE REPEAT IMAGE...
Prints one JSON object like `facekit bench`. Used by bench_vs_insightface.sh.
"""
import json
import sys
import time

import cv2
from insightface.app import FaceAnalysis

pack, det_size, repeat, paths = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
app = FaceAnalysis(name=pack, providers=["CPUExecutionProvider"])
app.prepare(ctx_id=-1, det_size=(det_size, det_size))
images = [p for p in paths if cv2.imread(p) is not None]


def one_pass():
    faces = 0
    for p in images:
        faces += len(app.get(cv2.imread(p)))
    return faces


one_pass()  # warm-up
start = time.perf_counter()
faces = sum(one_pass() for _ in range(repeat))
seconds = time.perf_counter() - start
n = len(images) * repeat
print(json.dumps({"images": n, "faces": faces, "seconds": seconds, "images_per_second": n / seconds}))
