//! What is held about one subject, as shown to the relying party and the person.

use crate::{ConsentRecord, PurposeId, Timestamp};

/// Template facts shown to people: never its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    /// The purpose.
    pub purpose: PurposeId,
    /// When it was enrolled.
    pub enrolled_at: Timestamp,
    /// When it was last used.
    pub last_used_at: Option<Timestamp>,
}

/// Everything held about a subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectSummary {
    /// Consent records, live and ended, oldest first.
    pub consents: Vec<ConsentRecord>,
    /// Templates, by purpose.
    pub templates: Vec<TemplateInfo>,
    /// When the subject locked the use of their biometrics, if they did.
    pub locked_at: Option<Timestamp>,
}

impl SubjectSummary {
    /// The purposes anything is held for, in order.
    pub fn purposes(&self) -> std::collections::BTreeSet<&PurposeId> {
        self.consents
            .iter()
            .map(|c| &c.purpose)
            .chain(self.templates.iter().map(|t| &t.purpose))
            .collect()
    }
}

/// Who sets or lifts a lock on a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locker {
    /// A client of the subject's tenant.
    Client(crate::ClientId),
    /// The person, in their privacy portal.
    Person,
}

/// A lock as it stands: the client it is recorded under (for a lock the person set, the
/// client that issued their portal link) and whether the person set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockState {
    /// The client the lock is recorded under.
    pub client: crate::ClientId,
    /// Whether the person set it (then only they lift it).
    pub by_person: bool,
}

/// Why a lock cannot be lifted by whoever asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockRefusal {
    /// The person set it: only they lift it.
    HeldByPerson,
    /// Another client set it: only that client lifts it.
    HeldByOtherClient,
    /// A client set it: the person cannot lift it (ask that client).
    HeldByClient,
}

/// What a lock request does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockStep {
    /// Lock a subject who was not locked.
    Insert {
        /// Whether the person locks.
        by_person: bool,
    },
    /// The person locks a subject a client had locked: the lock becomes theirs too, so no
    /// client can lift it.
    MarkPerson,
    /// Lift the lock.
    Delete,
    /// Nothing to do: already in the state asked for.
    Unchanged,
    /// Refused: the lock is someone else's to lift.
    Refuse(LockRefusal),
}

impl LockStep {
    /// What `by` asking to lock (`lock`) or unlock does to a subject whose lock is `current`.
    /// A lock the person set is lifted only by the person; a client lifts only a lock it
    /// set; any of them may lock.
    pub fn decide(current: Option<&LockState>, lock: bool, by: &Locker) -> LockStep {
        match (current, lock, by) {
            (None, true, by) => LockStep::Insert {
                by_person: *by == Locker::Person,
            },
            (None, false, _) => LockStep::Unchanged,
            (Some(s), true, Locker::Person) if !s.by_person => LockStep::MarkPerson,
            (Some(_), true, _) => LockStep::Unchanged,
            (Some(s), false, Locker::Person) if s.by_person => LockStep::Delete,
            (Some(_), false, Locker::Person) => LockStep::Refuse(LockRefusal::HeldByClient),
            (Some(s), false, Locker::Client(_)) if s.by_person => {
                LockStep::Refuse(LockRefusal::HeldByPerson)
            }
            (Some(s), false, Locker::Client(c)) if &s.client == c => LockStep::Delete,
            (Some(_), false, Locker::Client(_)) => LockStep::Refuse(LockRefusal::HeldByOtherClient),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientId;

    #[test]
    fn a_lock_is_lifted_only_by_whoever_set_it() {
        let (a, b) = (
            ClientId::from_random([1; 16]),
            ClientId::from_random([2; 16]),
        );
        let by_a = LockState {
            client: a.clone(),
            by_person: false,
        };
        let by_person = LockState {
            client: a.clone(),
            by_person: true,
        };
        let ca = Locker::Client(a.clone());
        let cb = Locker::Client(b);
        // Locking.
        assert_eq!(
            LockStep::decide(None, true, &ca),
            LockStep::Insert { by_person: false }
        );
        assert_eq!(
            LockStep::decide(None, true, &Locker::Person),
            LockStep::Insert { by_person: true }
        );
        assert_eq!(
            LockStep::decide(Some(&by_a), true, &cb),
            LockStep::Unchanged
        );
        assert_eq!(
            LockStep::decide(Some(&by_a), true, &Locker::Person),
            LockStep::MarkPerson
        );
        assert_eq!(
            LockStep::decide(Some(&by_person), true, &Locker::Person),
            LockStep::Unchanged
        );
        // Unlocking.
        assert_eq!(LockStep::decide(None, false, &ca), LockStep::Unchanged);
        assert_eq!(LockStep::decide(Some(&by_a), false, &ca), LockStep::Delete);
        assert_eq!(
            LockStep::decide(Some(&by_a), false, &cb),
            LockStep::Refuse(LockRefusal::HeldByOtherClient)
        );
        assert_eq!(
            LockStep::decide(Some(&by_person), false, &ca),
            LockStep::Refuse(LockRefusal::HeldByPerson)
        );
        assert_eq!(
            LockStep::decide(Some(&by_person), false, &Locker::Person),
            LockStep::Delete
        );
        assert_eq!(
            LockStep::decide(Some(&by_a), false, &Locker::Person),
            LockStep::Refuse(LockRefusal::HeldByClient)
        );
    }
}
