"""The redaction loop a user writes with InsightFace 2.1: FaceAnalysis
detection on every frame, an OpenCV Gaussian blur on each face box, and
cv2.VideoWriter. The anchor of scripts/bench-video.sh.

Usage: insightface_video.py PACK_DIR IN OUT
Prints one JSON line: frames, faces, seconds (whole process, start-up and
model loading included, as a user runs it).
"""
import json
import sys
import time

start = time.perf_counter()
import cv2  # noqa: E402
from insightface.app import FaceAnalysis  # noqa: E402

pack, source, target = sys.argv[1:4]
app = FaceAnalysis(name=pack, allowed_modules=["detection"], providers=["CPUExecutionProvider"])
app.prepare(ctx_id=-1, det_size=(640, 640))
capture = cv2.VideoCapture(source)
fps = capture.get(cv2.CAP_PROP_FPS)
width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
writer = cv2.VideoWriter(target, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
frames = faces = 0
while True:
    ok, frame = capture.read()
    if not ok:
        break
    for face in app.get(frame):
        x1, y1, x2, y2 = [int(v) for v in face.bbox]
        x1, y1 = max(0, x1), max(0, y1)
        x2, y2 = min(width, x2), min(height, y2)
        if x2 > x1 and y2 > y1:
            k = max(3, (max(x2 - x1, y2 - y1) // 3) | 1)
            frame[y1:y2, x1:x2] = cv2.GaussianBlur(frame[y1:y2, x1:x2], (k, k), 0)
        faces += 1
    writer.write(frame)
    frames += 1
writer.release()
print(json.dumps({"frames": frames, "faces": faces, "seconds": time.perf_counter() - start}))
