"""Writes margin_loss.json, the golden file tests/margin_loss.rs reads:
arcface_torch's own CombinedMarginLoss, DistCrossEntropy and PartialFC_V2
run on fixed inputs (PyTorch CPU, one gloo process), with their logits,
losses and gradients. Not needed to build or run facekit; rerun it only to
regenerate the goldens:

    git -C insightface show 5ef98047:recognition/arcface_torch/losses.py > losses_threshold.py
    python make_goldens.py insightface/recognition/arcface_torch losses_threshold.py margin_loss.json

(the second file is arcface_torch's ArcFace before 2022, with the
threshold/easy_margin handling; PyTorch 2.13.0 from PyPI,
scripts/train-venv.sh makes a venv with it)."""

import importlib.util
import json
import sys
import tempfile

import torch
from torch import distributed

arcface_torch, threshold_file, out = sys.argv[1:4]
sys.path.insert(0, arcface_torch)
import losses  # noqa: E402  arcface_torch/losses.py
import partial_fc_v2  # noqa: E402

spec = importlib.util.spec_from_file_location("losses_threshold", threshold_file)
losses_threshold = importlib.util.module_from_spec(spec)
spec.loader.exec_module(losses_threshold)

# PartialFC_V2 is written for CUDA; on CPU `.cuda()` is the identity.
torch.Tensor.cuda = lambda self, *args, **kwargs: self
distributed.init_process_group("gloo", init_method=f"file://{tempfile.mktemp()}", rank=0, world_size=1)
torch.manual_seed(2026)


def values(t):
    return t.detach().double().flatten().tolist()


def margin_case(name, margin, batch=6, classes=10, drop_label=None):
    cosine = (torch.rand(batch, classes) * 1.98 - 0.99).requires_grad_()
    labels = torch.randint(0, classes, (batch,))
    if drop_label is not None:
        labels[drop_label] = -1
    # [batch, 1] labels, as PartialFC_V2 passes them.
    logits = margin(cosine.clone(), labels.view(-1, 1).clone())
    loss = partial_fc_v2.DistCrossEntropy()(logits.clone(), labels.view(-1, 1).clone())
    loss.backward()
    return {
        "name": name,
        "shape": [batch, classes],
        "cosine": values(cosine),
        "labels": labels.tolist(),
        "logits": values(logits),
        "loss": loss.item(),
        "grad_cosine": values(cosine.grad),
    }


def combined_formula(s, m1, m2, m3):
    """MXNet InsightFace's cos(m1*theta + m2) - m3, which arcface_torch does
    not implement (it reduces (1, m2, m3>0) to CosFace): the reference for
    facekit's general branch."""
    def apply(logits, labels):
        labels = labels.view(-1)
        index = torch.where(labels != -1)[0]
        target = logits[index, labels[index]]
        final = torch.cos(m1 * torch.arccos(target.clamp(-1, 1)) + m2) - m3
        logits = logits.index_put((index, labels[index]), final)
        return logits * s
    return apply


def threshold_arcface(easy_margin):
    loss = losses_threshold.CombinedMarginLoss(64, 1.0, 0.5, 0.0)
    loss.easy_margin = easy_margin
    return loss


cases = [
    margin_case("arcface", losses.CombinedMarginLoss(64, 1.0, 0.5, 0.0)),
    margin_case("cosface", losses.CombinedMarginLoss(64, 1.0, 0.0, 0.4), drop_label=2),
    margin_case("arcface_filtered", losses.CombinedMarginLoss(64, 1.0, 0.5, 0.0, interclass_filtering_threshold=0.3)),
    margin_case("arcface_threshold", threshold_arcface(False)),
    margin_case("arcface_easy_margin", threshold_arcface(True)),
    margin_case("combined", combined_formula(64, 0.9, 0.4, 0.15)),
]


def partial_fc_case(name, margin, sample_rate, batch=8, dim=16, classes=20):
    pfc = partial_fc_v2.PartialFC_V2(margin, dim, classes, sample_rate)
    weight = pfc.weight.detach().clone()
    embeddings = torch.randn(batch, dim).requires_grad_()
    labels = torch.randint(0, classes, (batch,))
    drawn = []
    real_rand = torch.rand

    def recording_rand(*args, **kwargs):
        t = real_rand(*args, **kwargs)
        drawn.append(t.clone())
        return t

    torch.rand = recording_rand
    loss = pfc(embeddings, labels.clone())
    torch.rand = real_rand
    loss.backward()
    return {
        "name": name,
        "margin": name.split("_")[0],
        "sample_rate": sample_rate,
        "shape": [batch, dim, classes],
        "weight": values(weight),
        "embeddings": values(embeddings),
        "labels": labels.tolist(),
        "priority": values(drawn[0]) if drawn else [],
        "index": pfc.weight_index.tolist() if sample_rate < 1 else list(range(classes)),
        "loss": loss.item(),
        "grad_embeddings": values(embeddings.grad),
        "grad_weight": values(pfc.weight.grad),
    }


partial = [
    partial_fc_case("arcface_full", losses.CombinedMarginLoss(64, 1.0, 0.5, 0.0), 1.0),
    partial_fc_case("arcface_sampled", losses.CombinedMarginLoss(64, 1.0, 0.5, 0.0), 0.5),
    partial_fc_case("cosface_sampled", losses.CombinedMarginLoss(64, 1.0, 0.0, 0.4), 0.3),
]
json.dump({"torch": torch.__version__, "margin": cases, "partial_fc": partial}, open(out, "w"))
