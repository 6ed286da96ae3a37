"""The identity gallery, as ``facekit gallery``."""

from . import _facekit


class Gallery:
    """A gallery: a SQLite file (created when missing) or
    ``milvus://HOST:PORT[?tls=true&database=NAME]``. Every call that reads
    photos takes the :class:`~facekit.FaceAnalysis` whose pack embeds them;
    images are BGR arrays (``rgb=True`` for RGB) or paths.

    >>> g = facekit.Gallery("people.db")
    >>> g.create_collection("staff", app)
    >>> g.enroll("staff", "alice", "alice.jpg", app)
    >>> g.identify("staff", cv2.imread("door.jpg"), app)[0]["best"]
    """

    def __init__(self, address):
        self.address = str(address)
        self._native = _facekit.Gallery(self.address)

    def create_collection(self, name, app, index="exact", review="off"):
        """Creates a collection for ``app``'s recognizer; ``index``:
        ``exact``, ``int8`` or ``hnsw``; ``review``: ``off``, ``standard``
        or ``strict`` (the enrollment checks). Returns its record."""
        return self._native.create_collection(name, app._engine, index, review)

    def collections(self):
        """Every collection's record."""
        return self._native.collections()

    def delete_collection(self, name):
        """Deletes a collection, erasing its samples."""
        self._native.delete_collection(name)

    def persons(self, collection):
        """The persons of a collection."""
        return self._native.persons(collection)

    def enroll(self, collection, person, image, app, *, name=None, rgb=False, all_faces=False,
               min_face=32.0, min_score=0.5, review=None, liveness=None, threshold=0.3):
        """Enrolls the largest face of ``image`` (every face of at least
        ``min_face`` px and ``min_score`` with ``all_faces``) as ``person``;
        returns the new sample ids. Raises :class:`facekit.GalleryError`
        when no face qualifies or the review refuses them all."""
        return self._native.enroll(collection, person, image, app._engine, name, rgb, all_faces,
                                   min_face, min_score, review, liveness, threshold)

    def identify(self, collection, image, app, *, rgb=False, top_k=5, threshold=0.3, liveness=None):
        """Per face of ``image`` with an embedding: ``face`` (its record),
        ``matches`` (up to ``top_k`` persons, best first) and ``best`` (the
        top match at ``threshold`` or above, else ``None``)."""
        return self._native.identify(collection, image, app._engine, rgb, top_k, threshold, liveness)

    def verify(self, collection, person, image, app, *, rgb=False, threshold=0.3, liveness=None):
        """Is the largest face of ``image`` ``person``? ``{person, score,
        same, threshold, face}``."""
        return self._native.verify(collection, person, image, app._engine, rgb, threshold, liveness)

    def delete_person(self, collection, person):
        """Deletes a person and erases their samples; returns how many."""
        return self._native.delete_person(collection, person)

    def delete_sample(self, collection, sample):
        """Deletes one sample, erasing it."""
        self._native.delete_sample(collection, sample)

    def export_person(self, collection, person):
        """Everything held about ``person`` (a data subject's access
        request): ``person`` (record), ``samples`` (with embeddings, image
        hashes, boxes, times), ``not_this_person`` and ``audit`` (the
        entries naming them). Recorded in the audit trail."""
        return self._native.export_person(collection, person)

    def erase_person(self, collection, person):
        """Erases ``person`` and every sample of theirs; returns the receipt
        (``samples_erased``, ``erased_at``, ``audit_seq``, ``audit_hash``)."""
        return self._native.erase_person(collection, person)

    def set_retention(self, collection, days):
        """Keeps samples of ``collection`` for ``days`` (``None``: until
        deleted); returns the collection's record."""
        return self._native.set_retention(collection, days)

    def purge(self, collection=None):
        """Erases the samples past their collection's retention; one report
        per collection that has one."""
        return self._native.purge(collection)

    def audit(self, *, after=0, limit=0, collection=None, person=None):
        """Audit entries, oldest first (``limit`` 0: all)."""
        return self._native.audit(after, limit, collection, person)

    def verify_audit(self):
        """Walks the audit trail's hash chain: ``{entries, head, broken}``;
        ``broken`` names the first edited, removed or moved entry."""
        return self._native.verify_audit()
