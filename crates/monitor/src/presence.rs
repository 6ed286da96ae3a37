//! Who is in view: the faces of each analysed frame continue tracks (by
//! box overlap, the video crate's association), each track collects who its
//! samples name, and a track is announced once enough samples agree, and
//! ends (with its exit) after the absence timeout. Pure logic on times in
//! seconds, so every rule is tested without a stream.

use std::collections::HashMap;

use facekit_core::BBox;
use facekit_video::associate;

use crate::spec::EventPolicy;

/// One face of an analysed frame.
#[derive(Debug, Clone)]
pub struct Sighting {
    /// Where it is.
    pub bbox: BBox,
    /// The best person of the collection and the similarity, if any person
    /// is enrolled (whatever the score).
    pub best: Option<(String, f32)>,
}

/// Presence events (the monitor adds times, names and the source events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A person of the collection came into view.
    PersonEnter,
    /// That person has been out of view for the absence timeout.
    PersonExit,
    /// A face of nobody in the collection came into view.
    UnknownEnter,
    /// That face has been out of view for the absence timeout.
    UnknownExit,
    /// The stream stopped or could not be read.
    SourceLost,
    /// The stream is read again.
    SourceRecovered,
}

impl EventKind {
    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PersonEnter => "person_enter",
            EventKind::PersonExit => "person_exit",
            EventKind::UnknownEnter => "unknown_enter",
            EventKind::UnknownExit => "unknown_exit",
            EventKind::SourceLost => "source_lost",
            EventKind::SourceRecovered => "source_recovered",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            EventKind::PersonEnter,
            EventKind::PersonExit,
            EventKind::UnknownEnter,
            EventKind::UnknownExit,
            EventKind::SourceLost,
            EventKind::SourceRecovered,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// A presence event as the tracker decides it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What happened.
    pub kind: EventKind,
    /// The track.
    pub track: u64,
    /// The person, for person events.
    pub person: Option<String>,
    /// The track's best similarity to that person (person events) or to
    /// anyone (unknown events).
    pub score: Option<f32>,
    /// The box of the track's best face.
    pub bbox: BBox,
}

/// Samples kept per track: enough to decide, bounded for a face that
/// stays in view all day.
const MAX_SAMPLES: usize = 30;

#[derive(Debug, Clone, PartialEq)]
enum Announced {
    No,
    Person(String),
    Unknown,
    /// A person back within the cooldown: neither enter nor exit is sent.
    Quiet(String),
}

#[derive(Debug)]
struct Track {
    id: u64,
    bbox: BBox,
    last_seen: f64,
    /// Who each sample named (at or above the threshold), newest last.
    samples: Vec<Option<(String, f32)>>,
    /// Best similarity to anyone and the box it was seen with.
    best: (f32, BBox),
    announced: Announced,
}

impl Track {
    fn best_score_of(&self, person: &str) -> f32 {
        self.samples
            .iter()
            .flatten()
            .filter(|(p, _)| p == person)
            .map(|&(_, s)| s)
            .fold(f32::MIN, f32::max)
    }

    /// Whom the samples agree on, if they do: at least `confirm` naming
    /// one person, outnumbering two to one those naming someone else.
    fn agreed(&self, confirm: usize) -> Option<String> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (person, _) in self.samples.iter().flatten() {
            *counts.entry(person).or_default() += 1;
        }
        let total: usize = counts.values().sum();
        let (person, n) = counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))?;
        (n >= confirm && n >= 2 * (total - n)).then(|| person.to_string())
    }

    /// Whether the newest `confirm` samples all name nobody.
    fn nobody(&self, confirm: usize) -> bool {
        self.samples.len() >= confirm
            && self.samples[self.samples.len() - confirm..]
                .iter()
                .all(Option::is_none)
    }
}

/// The tracks of one monitor.
#[derive(Debug)]
pub struct Presence {
    policy: EventPolicy,
    threshold: f32,
    tracks: Vec<Track>,
    next_track: u64,
    /// When each person's last visit ended.
    last_exit: HashMap<String, f64>,
}

impl Presence {
    /// No one in view yet.
    pub fn new(policy: EventPolicy, threshold: f32) -> Self {
        Self {
            policy,
            threshold,
            tracks: Vec::new(),
            next_track: 1,
            last_exit: HashMap::new(),
        }
    }

    /// Tracks in view (announced or not).
    pub fn tracks(&self) -> usize {
        self.tracks.len()
    }

    /// Folds in the faces of a frame analysed at `now` (seconds, any
    /// monotonic origin); returns the enter events it decides. Call
    /// [`Presence::expire`] too, also when no frame comes.
    pub fn observe(&mut self, now: f64, faces: &[Sighting]) -> Vec<Change> {
        let predicted: Vec<BBox> = self.tracks.iter().map(|t| t.bbox).collect();
        let boxes: Vec<BBox> = faces.iter().map(|f| f.bbox).collect();
        let pairs = associate(&predicted, &boxes);
        let mut matched = vec![None; faces.len()];
        for (t, d) in pairs {
            matched[d] = Some(t);
        }
        let mut changes = Vec::new();
        for (face, track) in faces.iter().zip(matched) {
            let index = match track {
                Some(t) => t,
                None => {
                    self.tracks.push(Track {
                        id: self.next_track,
                        bbox: face.bbox,
                        last_seen: now,
                        samples: Vec::new(),
                        best: (f32::MIN, face.bbox),
                        announced: Announced::No,
                    });
                    self.next_track += 1;
                    self.tracks.len() - 1
                }
            };
            let track = &mut self.tracks[index];
            track.bbox = face.bbox;
            track.last_seen = now;
            let score = face.best.as_ref().map_or(f32::MIN, |b| b.1);
            if score > track.best.0 {
                track.best = (score, face.bbox);
            }
            track
                .samples
                .push(face.best.clone().filter(|(_, s)| *s >= self.threshold));
            if track.samples.len() > MAX_SAMPLES {
                track.samples.remove(0);
            }
            if let Some(change) = Self::decide(track, &self.policy, &self.last_exit, now) {
                changes.push(change);
            }
        }
        changes
    }

    fn decide(
        track: &mut Track,
        policy: &EventPolicy,
        last_exit: &HashMap<String, f64>,
        now: f64,
    ) -> Option<Change> {
        if track.announced != Announced::No {
            return None;
        }
        let confirm = policy.confirm_frames as usize;
        if let Some(person) = track.agreed(confirm) {
            let back_soon = last_exit
                .get(&person)
                .is_some_and(|&left| now - left < policy.cooldown_secs);
            if back_soon {
                track.announced = Announced::Quiet(person);
                return None;
            }
            track.announced = Announced::Person(person.clone());
            return Some(Change {
                kind: EventKind::PersonEnter,
                track: track.id,
                score: Some(track.best_score_of(&person)),
                person: Some(person),
                bbox: track.best.1,
            });
        }
        if track.nobody(confirm) {
            track.announced = Announced::Unknown;
            return policy.unknown_events.then(|| Change {
                kind: EventKind::UnknownEnter,
                track: track.id,
                person: None,
                score: (track.best.0 > f32::MIN).then_some(track.best.0),
                bbox: track.best.1,
            });
        }
        None
    }

    /// Ends the tracks unseen for the absence timeout at `now`; returns
    /// their exit events.
    pub fn expire(&mut self, now: f64) -> Vec<Change> {
        let absence = self.policy.absence_secs;
        let (gone, kept): (Vec<Track>, Vec<Track>) = std::mem::take(&mut self.tracks)
            .into_iter()
            .partition(|t| now - t.last_seen > absence);
        self.tracks = kept;
        let mut changes = Vec::new();
        for mut track in gone {
            match std::mem::replace(&mut track.announced, Announced::No) {
                Announced::Person(person) => {
                    self.last_exit.insert(person.clone(), now);
                    changes.push(Change {
                        kind: EventKind::PersonExit,
                        track: track.id,
                        score: Some(track.best_score_of(&person)),
                        person: Some(person),
                        bbox: track.best.1,
                    });
                }
                Announced::Quiet(person) => {
                    self.last_exit.insert(person, now);
                }
                Announced::Unknown if self.policy.unknown_events => changes.push(Change {
                    kind: EventKind::UnknownExit,
                    track: track.id,
                    person: None,
                    score: (track.best.0 > f32::MIN).then_some(track.best.0),
                    bbox: track.best.1,
                }),
                Announced::Unknown | Announced::No => {}
            }
        }
        self.last_exit
            .retain(|_, &mut left| now - left < self.policy.cooldown_secs);
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f32, who: Option<(&str, f32)>) -> Sighting {
        Sighting {
            bbox: BBox::new(x, 100.0, x + 80.0, 200.0),
            best: who.map(|(p, s)| (p.to_string(), s)),
        }
    }

    fn policy() -> EventPolicy {
        EventPolicy {
            confirm_frames: 2,
            absence_secs: 2.0,
            cooldown_secs: 5.0,
            unknown_events: true,
        }
    }

    fn kinds(changes: &[Change]) -> Vec<(EventKind, Option<&str>)> {
        changes
            .iter()
            .map(|c| (c.kind, c.person.as_deref()))
            .collect()
    }

    #[test]
    fn a_person_enters_after_agreeing_samples_and_exits_after_the_absence() {
        let mut p = Presence::new(policy(), 0.3);
        assert!(p.observe(0.0, &[at(10.0, Some(("ann", 0.6)))]).is_empty());
        let enter = p.observe(0.5, &[at(14.0, Some(("ann", 0.7)))]);
        assert_eq!(kinds(&enter), [(EventKind::PersonEnter, Some("ann"))]);
        assert_eq!(enter[0].score, Some(0.7));
        // More sightings of the same track say nothing new.
        assert!(p.observe(1.0, &[at(16.0, Some(("ann", 0.5)))]).is_empty());
        assert!(p.expire(2.9).is_empty(), "gone for less than the absence");
        let exit = p.expire(3.1);
        assert_eq!(kinds(&exit), [(EventKind::PersonExit, Some("ann"))]);
        assert_eq!(exit[0].track, enter[0].track);
        assert_eq!(p.tracks(), 0);
    }

    #[test]
    fn one_frame_never_decides() {
        let mut p = Presence::new(policy(), 0.3);
        // A lone sighting, then gone: no event at all.
        p.observe(0.0, &[at(10.0, Some(("ann", 0.9)))]);
        assert!(p.expire(5.0).is_empty());
        // A noisy first frame neither decides nor blocks the right answer.
        p.observe(6.0, &[at(10.0, Some(("bob", 0.6)))]);
        assert!(
            p.observe(6.5, &[at(10.0, Some(("ann", 0.6)))]).is_empty(),
            "1 to 1"
        );
        let third = p.observe(7.0, &[at(10.0, Some(("ann", 0.6)))]);
        assert_eq!(kinds(&third), [(EventKind::PersonEnter, Some("ann"))]);
    }

    #[test]
    fn unknown_faces_and_the_switch_to_turn_them_off() {
        let mut p = Presence::new(policy(), 0.3);
        p.observe(0.0, &[at(10.0, Some(("ann", 0.1)))]);
        let enter = p.observe(0.5, &[at(10.0, None)]);
        assert_eq!(kinds(&enter), [(EventKind::UnknownEnter, None)]);
        assert_eq!(enter[0].score, Some(0.1));
        assert_eq!(kinds(&p.expire(3.0)), [(EventKind::UnknownExit, None)]);

        let mut quiet = Presence::new(
            EventPolicy {
                unknown_events: false,
                ..policy()
            },
            0.3,
        );
        quiet.observe(0.0, &[at(10.0, None)]);
        assert!(quiet.observe(0.5, &[at(10.0, None)]).is_empty());
        assert!(quiet.expire(3.0).is_empty());
    }

    #[test]
    fn two_people_are_two_tracks() {
        let mut p = Presence::new(policy(), 0.3);
        let both = || [at(10.0, Some(("ann", 0.6))), at(400.0, Some(("bob", 0.6)))];
        p.observe(0.0, &both());
        let entered = p.observe(0.5, &both());
        let mut enter = kinds(&entered);
        enter.sort_by_key(|k| k.1);
        assert_eq!(
            enter,
            [
                (EventKind::PersonEnter, Some("ann")),
                (EventKind::PersonEnter, Some("bob"))
            ]
        );
        // Ann leaves; Bob stays.
        p.observe(2.0, &[at(400.0, Some(("bob", 0.6)))]);
        assert_eq!(
            kinds(&p.expire(2.6)),
            [(EventKind::PersonExit, Some("ann"))]
        );
        assert_eq!(p.tracks(), 1);
    }

    #[test]
    fn a_return_within_the_cooldown_is_one_visit() {
        let mut p = Presence::new(policy(), 0.3);
        p.observe(0.0, &[at(10.0, Some(("ann", 0.6)))]);
        p.observe(0.5, &[at(10.0, Some(("ann", 0.6)))]);
        assert_eq!(p.expire(3.0).len(), 1);
        // Back 1 s later (cooldown 5 s): neither enter nor exit.
        p.observe(4.0, &[at(10.0, Some(("ann", 0.6)))]);
        assert!(p.observe(4.5, &[at(10.0, Some(("ann", 0.6)))]).is_empty());
        assert!(p.expire(7.0).is_empty());
        // Back after the cooldown: a new visit.
        p.observe(13.0, &[at(10.0, Some(("ann", 0.6)))]);
        let enter = p.observe(13.5, &[at(10.0, Some(("ann", 0.6)))]);
        assert_eq!(kinds(&enter), [(EventKind::PersonEnter, Some("ann"))]);
    }
}
