"""One side of the Python package benchmark, in its own process:
``python bench_python.py insightface|facekit|facekit-batch PACK IMAGE...``.
Prints one JSON line: import, load and loop seconds, faces found and
images per second. Images are read with cv2.imread before the clock
starts (both libraries get the same arrays)."""

import json
import sys
import time

start = time.perf_counter()
impl, pack, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
if impl == "insightface":
    import insightface.app as library
else:
    import facekit as library
imported = time.perf_counter()
import cv2  # noqa: E402

images = [cv2.imread(p) for p in paths]
loading = time.perf_counter()
app = library.FaceAnalysis(name=pack, providers=["CPUExecutionProvider"])
app.prepare(ctx_id=0, det_size=(640, 640))
loaded = time.perf_counter()
if impl == "facekit-batch":
    results = app.get_batch(images)
else:
    results = [app.get(img) for img in images]
done = time.perf_counter()
print(json.dumps({
    "impl": impl,
    "import_s": imported - start,
    "load_s": loaded - loading,
    "loop_s": done - loaded,
    "images": len(images),
    "faces": sum(len(r) for r in results),
    "images_per_s": len(images) / (done - loaded),
}))
