"""Uses the Python client generated from the served OpenAPI document
(openapi-python-client) against a real facekit server, as a client
developer would: every call below must be answered as the document says.

The client is built with raise_on_unexpected_status=True, so a status the
document does not list for a route fails the run.

Environment: FACEKIT_URL, FACEKIT_ADMIN / FACEKIT_WRITER / FACEKIT_READER
(tokens), FACEKIT_SHARED (the shared data folder). The generated package
must be importable (PYTHONPATH).
"""

import base64
import os
import sys
from pathlib import Path

from facekit_client import AuthenticatedClient, Client
from facekit_client.api.collections import create_collection, delete_collection, get_collection
from facekit_client.api.faces import delete_face, enroll, list_faces
from facekit_client.api.persons import create_person, delete_person, get_person, list_persons
from facekit_client.api.search import identify, verify
from facekit_client.models import (
    CreateCollection,
    EnrollForm,
    EnrollRequest,
    ErrorBody,
    PersonBody,
    PersonBodyMetadataType0,
    SearchForm,
    SearchRequest,
)
from facekit_client.types import File

URL = os.environ["FACEKIT_URL"]
SHARED = Path(os.environ["FACEKIT_SHARED"])
KNN = SHARED / "identities/face_recognition_knn/train"


def client(role):
    return AuthenticatedClient(
        base_url=URL, token=os.environ[f"FACEKIT_{role.upper()}"], raise_on_unexpected_status=True
    )


def image(rel):
    path = KNN / rel
    return File(payload=path.open("rb"), file_name=path.name, mime_type="image/jpeg")


def expect(response, status, kind):
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert isinstance(response.parsed, kind), (type(response.parsed), response.content[:300])
    return response.parsed


def expect_error(response, status, code):
    body = expect(response, status, ErrorBody)
    assert body.error.code == code, (body.error.code, body.error.message)


admin, writer, reader = client("admin"), client("writer"), client("reader")
anonymous = Client(base_url=URL, raise_on_unexpected_status=True)
COLLECTION = "staff"

# A collection (admin), persons (writer).
created = expect(create_collection.sync_detailed(client=admin, body=CreateCollection(name=COLLECTION)), 201, object)
assert created.name == COLLECTION
expect_error(create_collection.sync_detailed(client=writer, body=CreateCollection(name="other")), 403, "forbidden")
people = {"obama": "Barack Obama", "biden": "Joe Biden", "kit_harington": "Kit Harington",
          "rose_leslie": "Rose Leslie", "alex_lacamoire": "Alex Lacamoire"}
for key, name in people.items():
    metadata = PersonBodyMetadataType0.from_dict({"source": "face_recognition_knn"})
    person = expect(create_person.sync_detailed(COLLECTION, client=writer,
                                                body=PersonBody(key=key, name=name, metadata=metadata)), 201, object)
    assert (person.key, person.name, person.samples) == (key, name, 0)
expect_error(create_person.sync_detailed(COLLECTION, client=writer, body=PersonBody(key="obama")), 409, "conflict")
expect_error(create_person.sync_detailed(COLLECTION, client=reader, body=PersonBody(key="x")), 403, "forbidden")
expect_error(get_person.sync_detailed(COLLECTION, "nobody", client=reader), 404, "not_found")
expect_error(get_person.sync_detailed(COLLECTION, "obama", client=anonymous), 401, "unauthenticated")

# Enroll a real photo in each body form: a multipart file, the raw image
# with its parameters in the query string, and base64 in JSON.
enrolled = expect(enroll.sync_detailed(COLLECTION, "obama", client=writer,
                                       body=EnrollForm(image=image("obama/obama.jpg"))), 201, object)
assert enrolled.person == "obama" and len(enrolled.faces) == 1, enrolled
obama_face = enrolled.faces[0].id
raw = expect(enroll.sync_detailed(COLLECTION, "biden", client=writer, body=image("biden/biden.jpg"), min_size=40.0),
             201, object)
assert len(raw.faces) == 1 and raw.faces[0].det_score > 0.5, raw
encoded = base64.b64encode((KNN / "kit_harington/john1.jpeg").read_bytes()).decode()
expect(enroll.sync_detailed(COLLECTION, "kit_harington", client=writer, body=EnrollRequest(image=encoded)), 201, object)
no_face = File(payload=(SHARED / "images/no_face_pilatus800.jpg").open("rb"), file_name="no_face.jpg")
expect_error(enroll.sync_detailed(COLLECTION, "rose_leslie", client=writer, body=EnrollForm(image=no_face)),
             422, "no_face")
expect_error(enroll.sync_detailed(COLLECTION, "obama", client=reader, body=EnrollForm(image=image("obama/obama.jpg"))),
             403, "forbidden")

# Identify another photo of the same person (multipart and raw body).
for body in (SearchForm(image=image("obama/obama2.jpg"), top_k=3), image("obama/obama2.jpg")):
    found = expect(identify.sync_detailed(COLLECTION, client=reader, body=body, top_k=3 if isinstance(body, File) else None),
                   200, object)
    assert len(found.faces) == 1, found
    best = found.faces[0].best
    assert best is not None and best.key == "obama" and best.score >= found.threshold, found.faces[0]
    assert found.faces[0].matches[0].key == "obama"
biden2 = base64.b64encode((KNN / "biden/biden2.jpg").read_bytes()).decode()
found = expect(identify.sync_detailed(COLLECTION, client=reader, body=SearchRequest(image=biden2)), 200, object)
assert found.faces[0].best.key == "biden", found.faces[0]

# Verify: same person, and a different one.
same = expect(verify.sync_detailed(COLLECTION, "obama", client=reader, body=SearchForm(image=image("obama/obama2.jpg"))),
              200, object)
assert same.same and same.score >= same.threshold, same
other = expect(verify.sync_detailed(COLLECTION, "biden", client=reader, body=SearchForm(image=image("obama/obama2.jpg"))),
               200, object)
assert not other.same, other

# Page through persons with offset/limit.
seen, offset = [], 0
while True:
    page = expect(list_persons.sync_detailed(COLLECTION, client=reader, offset=offset, limit=2), 200, object)
    assert page.total == len(people) and len(page.persons) <= 2, page
    if not page.persons:
        break
    seen += [p.key for p in page.persons]
    offset += 2
assert seen == sorted(people), seen
counts = {p.key: p.samples for p in list_persons.sync(COLLECTION, client=reader).persons}
assert counts == {"obama": 1, "biden": 1, "kit_harington": 1, "rose_leslie": 0, "alex_lacamoire": 0}, counts

# Faces with and without their embeddings.
with_embeddings = expect(list_faces.sync_detailed(COLLECTION, "obama", client=reader, embeddings=True), 200, object)
assert [f.id for f in with_embeddings.faces] == [obama_face]
assert len(with_embeddings.faces[0].embedding) == 128, len(with_embeddings.faces[0].embedding)
without = expect(list_faces.sync_detailed(COLLECTION, "obama", client=reader), 200, object)
assert [f.id for f in without.faces] == [obama_face] and without.faces[0].embedding == [], without.faces[0]

# Delete: a face, a person, the collection.
assert delete_face.sync_detailed(COLLECTION, obama_face, client=writer).status_code == 204
expect_error(delete_face.sync_detailed(COLLECTION, obama_face, client=writer), 404, "not_found")
assert list_faces.sync(COLLECTION, "obama", client=reader).faces == []
deleted = expect(delete_person.sync_detailed(COLLECTION, "biden", client=writer), 200, object)
assert deleted.faces_deleted == 1, deleted
expect_error(get_person.sync_detailed(COLLECTION, "biden", client=reader), 404, "not_found")
assert delete_collection.sync_detailed(COLLECTION, client=admin).status_code == 204
expect_error(get_collection.sync_detailed(COLLECTION, client=reader), 404, "not_found")
print("generated client: every call answered as documented", file=sys.stderr)
