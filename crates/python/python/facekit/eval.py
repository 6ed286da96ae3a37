"""Evaluation on the papers' protocols, as ``facekit eval``."""

from . import _facekit


def verify(app, *, bin=None, pairs=None, images=None, cfp=None, protocol="fp", mode=None,
           flip=True, folds=10, jobs=None, cache=None):
    """The 10-fold verification protocol (InsightFace's ``verification.py``)
    with ``app``'s pack on an InsightFace ``.bin`` set (``bin=``), LFW
    ``pairs=`` with their ``images=`` folder, or a CFP folder (``cfp=``,
    ``protocol='fp'`` or ``'ff'``). ``mode``: ``'aligned'`` (images are face
    crops; the default for ``.bin``) or ``'detect'``. Returns the report
    ``facekit eval verify`` writes: ``accuracy`` (``mean``, ``std``, …),
    ``auc``, ``eer``, ``tar_at_far``, ``scores``, ``same``, ``settings``."""
    return _facekit.verify(app._engine, bin, pairs, images, cfp, protocol, mode, flip, folds, jobs, cache)
