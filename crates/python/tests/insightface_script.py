"""A script written for InsightFace, as its README shows. The drop-in test
runs it as is and with only its import line changed to facekit.

Usage: python insightface_script.py PACK_FOLDER IMAGE... OUT_PNG
"""
import sys

import cv2
import numpy as np
from insightface.app import FaceAnalysis

app = FaceAnalysis(name=sys.argv[1], allowed_modules=None, providers=["CPUExecutionProvider"])
app.prepare(ctx_id=0, det_size=(640, 640))
embeddings = []
for path in sys.argv[2:-1]:
    img = cv2.imread(path)
    faces = app.get(img)
    print(path, len(faces))
    for face in faces:
        print(" ", np.round(face.bbox, 1).tolist(), round(float(face.det_score), 3), face.sex, face.age)
        embeddings.append(face.normed_embedding)
    if path == sys.argv[2]:
        cv2.imwrite(sys.argv[-1], app.draw_on(img, faces))
sims = np.dot(np.stack(embeddings), np.stack(embeddings).T)
print("similarities", np.round(sims, 3).tolist())
