//! One [`Edit`] applied inside the embedded store's transaction.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::backend::check_key;
use crate::store::now;
use crate::{Collection, Edit, GalleryError, UNASSIGNED};

/// Why an edit failed: the file, or the edit itself.
pub(crate) enum EditError {
    Sql(rusqlite::Error),
    Gallery(GalleryError),
}

impl From<rusqlite::Error> for EditError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<GalleryError> for EditError {
    fn from(e: GalleryError) -> Self {
        Self::Gallery(e)
    }
}

/// The id of person `key` of `c` (the empty key: the holder of faces of no
/// person, created on first use).
fn person_id(tx: &Transaction<'_>, c: &Collection, key: &str) -> Result<i64, EditError> {
    if key == UNASSIGNED {
        return Ok(tx.query_row(
            "INSERT INTO persons (collection_id, key, name, metadata, created_at) VALUES (?1, '', '', '{}', ?2)
             ON CONFLICT (collection_id, key) DO UPDATE SET key = excluded.key RETURNING id",
            params![c.id, now()],
            |r| r.get(0),
        )?);
    }
    tx.query_row(
        "SELECT id FROM persons WHERE collection_id = ?1 AND key = ?2",
        params![c.id, key],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| {
        EditError::Gallery(GalleryError::NoSuchPerson {
            collection: c.name.clone(),
            person: key.into(),
        })
    })
}

/// The person id of sample `id` of `c`.
fn owner(tx: &Transaction<'_>, c: &Collection, id: i64) -> Result<i64, EditError> {
    tx.query_row(
        "SELECT s.person_id FROM samples s JOIN persons p ON p.id = s.person_id WHERE s.id = ?1 AND p.collection_id = ?2",
        params![id, c.id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| {
        EditError::Gallery(GalleryError::NoSuchSample {
            collection: c.name.clone(),
            sample: id,
        })
    })
}

/// The persons sample `id` must never join.
fn excluded(tx: &Transaction<'_>, id: i64) -> Result<Vec<String>, EditError> {
    let text: Option<String> = tx
        .query_row(
            "SELECT not_persons FROM clustering WHERE sample_id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default())
}

pub(crate) fn apply(tx: &Transaction<'_>, c: &Collection, edit: &Edit) -> Result<(), EditError> {
    match edit {
        Edit::CreatePerson { person, suggested } => {
            check_key(&person.key)?;
            let inserted = tx.execute(
                "INSERT INTO persons (collection_id, key, name, metadata, created_at, suggested) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                params![c.id, person.key, person.name, person.metadata.to_string(), now(), suggested],
            )?;
            if inserted == 0 {
                return Err(GalleryError::PersonExists {
                    collection: c.name.clone(),
                    person: person.key.clone(),
                }
                .into());
            }
        }
        Edit::Confirm { person } => {
            check_key(person)?;
            let id = person_id(tx, c, person)?;
            tx.execute("UPDATE persons SET suggested = 0 WHERE id = ?1", [id])?;
            tx.execute(
                "INSERT INTO clustering (sample_id, suggested, seen) SELECT id, 0, 1 FROM samples WHERE person_id = ?1
                 ON CONFLICT (sample_id) DO UPDATE SET suggested = 0, seen = 1",
                [id],
            )?;
        }
        Edit::Assign {
            sample,
            person,
            suggested,
        } => {
            let to = person_id(tx, c, person)?;
            if owner(tx, c, *sample)? != to {
                tx.execute(
                    "UPDATE samples SET person_id = ?1 WHERE id = ?2",
                    params![to, sample],
                )?;
            }
            // A person's decision that it is this person lifts an earlier "not them".
            let mut not = excluded(tx, *sample)?;
            if !suggested {
                not.retain(|k| k != person);
            }
            tx.execute(
                "INSERT INTO clustering (sample_id, suggested, seen, not_persons) VALUES (?1, ?2, 1, ?3)
                 ON CONFLICT (sample_id) DO UPDATE SET suggested = excluded.suggested, seen = 1, not_persons = excluded.not_persons",
                params![sample, suggested, serde_json::json!(not).to_string()],
            )?;
        }
        Edit::Release { sample } => {
            let nobody = person_id(tx, c, UNASSIGNED)?;
            if owner(tx, c, *sample)? != nobody {
                tx.execute(
                    "UPDATE samples SET person_id = ?1 WHERE id = ?2",
                    params![nobody, sample],
                )?;
            }
            tx.execute(
                "INSERT INTO clustering (sample_id, suggested, seen) VALUES (?1, 1, 0)
                 ON CONFLICT (sample_id) DO UPDATE SET suggested = 1, seen = 0",
                [sample],
            )?;
        }
        Edit::Exclude { sample, person } => {
            check_key(person)?;
            owner(tx, c, *sample)?;
            let mut not = excluded(tx, *sample)?;
            if !not.contains(person) {
                not.push(person.clone());
            }
            // A face clustering never saw stays unseen: it is placed next run.
            tx.execute(
                "INSERT INTO clustering (sample_id, suggested, seen, not_persons) VALUES (?1, 0, 0, ?2)
                 ON CONFLICT (sample_id) DO UPDATE SET not_persons = excluded.not_persons",
                params![sample, serde_json::json!(not).to_string()],
            )?;
        }
        Edit::DeletePerson { person } => {
            check_key(person)?;
            let id = person_id(tx, c, person)?;
            let held: i64 = tx.query_row(
                "SELECT COUNT(*) FROM samples WHERE person_id = ?1",
                [id],
                |r| r.get(0),
            )?;
            if held > 0 {
                return Err(GalleryError::Invalid(format!(
                    "person '{person}' still holds {held} faces: move them first (or delete the person)"
                ))
                .into());
            }
            tx.execute("DELETE FROM persons WHERE id = ?1", [id])?;
        }
    }
    Ok(())
}
