"""Writes backbones.json, the golden file tests/backbone.rs reads: the
embeddings arcface_torch's own IResNet 18/34/50/100 and MobileFaceNet
(get_mbf) give for real aligned faces, with every parameter and running
statistic set by a formula the Rust test repeats (no weights file to ship).
Not needed to build or run facekit; to regenerate:

    FACEKIT_DUMP_CROPS=CROPS bash scripts/train-tests.sh --test backbone
    python make_backbone_goldens.py insightface/recognition/arcface_torch CROPS backbones.json

(the crops are the faces of ../shared/images/t1.jpg, detected by det_500m
and aligned by facekit's norm_crop, as raw 112x112 RGB: tests/backbone.rs
makes them and, with FACEKIT_DUMP_CROPS, writes them out; they are never
committed). PyTorch 2.13.0, scripts/train-venv.sh."""

import json
import math
import os
import sys

import torch

arcface_torch, crops, out = sys.argv[1:4]
sys.path.insert(0, arcface_torch)
from backbones.iresnet import iresnet18, iresnet34, iresnet50, iresnet100  # noqa: E402
from backbones.mobilefacenet import get_mbf  # noqa: E402


def formula(name, shape, prelu):
    """The value of every parameter: the Rust test computes the same."""
    n = math.prod(shape)
    # An integer hash of (name, index), uniform in [-1, 1): exact in both languages.
    seed = sum(name.encode()) * 7919
    h = (torch.arange(n, dtype=torch.int64) * 2654435761 + seed) % 2**32
    h = h ^ (h >> 16)
    h = (h * 0x45D9F3B) % 2**32
    h = h ^ (h >> 16)
    u = h.to(torch.float64) / 2**31 - 1.0
    # Close to identity batch norms, strong PReLUs and unit-variance
    # convolutions, so that the faces' embeddings stay far apart.
    if name.endswith("running_var"):
        v = 1.0 + 0.2 * u.abs()
    elif name.endswith("running_mean"):
        v = 0.02 * u
    elif name.endswith("bias"):
        v = 0.01 * u
    elif prelu:
        v = 0.25 + 0.1 * u
    elif len(shape) == 1:
        v = 1.0 + 0.2 * u
    else:
        v = u * math.sqrt(3.0 / (n // shape[0]))
    return v.to(torch.float32).reshape(shape)


names = sorted(f for f in os.listdir(crops) if f.endswith(".rgb"))
faces = []
for f in names:
    pixels = open(os.path.join(crops, f), "rb").read()
    t = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).reshape(112, 112, 3).permute(2, 0, 1).float()
    faces.append((t - 127.5) / 127.5)
batch = torch.stack(faces)
results = {"torch": torch.__version__, "crops": names, "networks": {}}
for key, net in [("r18", iresnet18()), ("r34", iresnet34()), ("r50", iresnet50()),
                 ("r100", iresnet100()), ("mbf", get_mbf(False, 512))]:
    own = net.state_dict()
    # A PReLU's slope is the 1-D weight without running statistics beside it.
    state = {k: formula(k, list(v.shape), v.dim() == 1 and k[:-len("weight")] + "running_var" not in own)
             for k, v in own.items() if not k.endswith("num_batches_tracked")}
    net.load_state_dict(state, strict=False)
    net.eval()
    with torch.no_grad():
        embeddings = net(batch)
    results["networks"][key] = {
        "parameters": len(state),
        "embeddings": embeddings.double().tolist(),
    }
    print(key, len(state), embeddings.norm(dim=1).tolist(), file=sys.stderr)
json.dump(results, open(out, "w"))
