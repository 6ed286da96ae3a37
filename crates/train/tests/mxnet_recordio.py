"""The reference side of the RecordIO test, run with MXNet 1.9.1 itself.

``python mxnet_recordio.py write DIR IMAGE...`` writes DIR/train.rec and
DIR/train.idx as InsightFace's datasets are written (a header record at key
0, then one record per image with its class as label; the image's parent
folder is its class) plus one record whose payload holds the RecordIO magic
at 4-byte boundaries, and prints a JSON manifest of every record.
``python mxnet_recordio.py read DIR`` reads a pair written by facekit and
prints the same manifest."""

import hashlib
import json
import os
import sys

from mxnet import recordio

MAGIC = (0xCED7230A).to_bytes(4, "little")


def manifest(reader):
    out = {}
    for key in reader.keys:
        header, payload = recordio.unpack(reader.read_idx(key))
        label = header.label if header.flag == 0 else [float(x) for x in header.label]
        out[str(key)] = {
            "flag": header.flag,
            "label": float(label) if header.flag == 0 else label,
            "id": header.id,
            "bytes": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
    return out


mode, folder = sys.argv[1], sys.argv[2]
rec, idx = os.path.join(folder, "train.rec"), os.path.join(folder, "train.idx")
if mode == "write":
    images = sys.argv[3:]
    classes = sorted({os.path.basename(os.path.dirname(p)) for p in images})
    writer = recordio.MXIndexedRecordIO(idx, rec, "w")
    records = [(classes.index(os.path.basename(os.path.dirname(p))), open(p, "rb").read()) for p in images]
    # A payload with the magic inside, at aligned and unaligned places.
    records.append((0, b"ab" + MAGIC + b"cd" + MAGIC + b"e" * 8 + MAGIC + MAGIC + b"tail"))
    count = len(records) + 1
    writer.write_idx(0, recordio.pack(recordio.IRHeader(2, [count, count + len(classes)], 0, 0), b""))
    for key, (label, payload) in enumerate(records, start=1):
        writer.write_idx(key, recordio.pack(recordio.IRHeader(0, label, key, 0), payload))
    writer.close()
reader = recordio.MXIndexedRecordIO(idx, rec, "r")
print(json.dumps(manifest(reader)))
