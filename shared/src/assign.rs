//! Assignment: which operator gets a conversation that waits for a human.
//!
//! The rules, as plain functions the `Inbox` object (who gets the next one) and the
//! `Conversation` object (what an assignment does to the thread) only apply:
//!
//! - **Who**: round robin over the operators who are online and not away, starting after the
//!   one who got the last assignment, skipping those at capacity and those the conversation was
//!   already taken from since its handoff (`Assignment::passed`). The longest-waiting
//!   conversation goes first. Nobody free: it waits in the queue until someone comes online,
//!   comes back from away or frees a slot (`plan` runs again then).
//! - **Capacity** (`max_open`, per operator in `baton.toml`): the conversations an operator has
//!   on their plate — those they own (`human`) plus those assigned to them and still waiting for
//!   them (`load`). Resolved, bot-owned and unassigned waiting conversations count for nobody.
//! - **Acknowledgement**: the assignee acknowledges by taking the conversation over (or by
//!   replying, which takes it). An automatic assignment nobody acknowledges within
//!   `ack_seconds` goes back to the queue (`Command::Lapse`) and to someone else. An assignment
//!   made by hand does not lapse: a colleague chose that person on purpose.
//! - **By hand**: any operator may assign a waiting or owned conversation to any operator of the
//!   site (capacity does not stop a person), or take it back to the queue.
//!
//! The log keeps every assignment (`EventKind::Assigned`, `EventKind::Unassigned`); the state
//! folds it into `Assignment` and the inbox row carries it.

use crate::protocol::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// `[assignment]` in `baton.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssignmentConfig {
    /// Assign handoffs automatically (off: operators pick from the Waiting list).
    pub auto: bool,
    /// How many open conversations an operator may have at once (owned + assigned and waiting).
    pub max_open: u32,
    /// Per-operator capacity by sign-in email, overriding `max_open`
    /// (`"ann@example.com" = 3`).
    pub max_open_per_operator: BTreeMap<String, u32>,
    /// An automatic assignment not acknowledged (taken over) within this many seconds goes back
    /// to the queue and on to the next operator.
    pub ack_seconds: u32,
}

impl Default for AssignmentConfig {
    fn default() -> Self {
        AssignmentConfig { auto: true, max_open: 5, max_open_per_operator: BTreeMap::new(), ack_seconds: 120 }
    }
}

impl AssignmentConfig {
    /// An operator's capacity.
    pub fn capacity(&self, operator_id: &str) -> u32 {
        self.max_open_per_operator.get(operator_id).copied().unwrap_or(self.max_open)
    }

    /// Milliseconds an automatic assignment waits for its acknowledgement.
    pub fn ack_ms(&self) -> i64 {
        self.ack_seconds as i64 * 1000
    }

    pub fn validate(&self) -> Result<(), ErrorBody> {
        if !(1..=1000).contains(&self.max_open) {
            return Err(ErrorBody::field("assignment.max_open", "max_open must be 1-1000: open conversations per operator"));
        }
        for (email, n) in &self.max_open_per_operator {
            let key = format!("assignment.max_open_per_operator.{email}");
            if !email.contains('@') {
                return Err(ErrorBody::field(&key, "keyed by sign-in email: write \"ann@example.com\" = 3"));
            }
            if !(1..=1000).contains(n) {
                return Err(ErrorBody::field(&key, "a capacity is 1-1000 open conversations"));
            }
        }
        if !(10..=86_400).contains(&self.ack_seconds) {
            return Err(ErrorBody::field(
                "assignment.ack_seconds",
                "ack_seconds must be 10-86400: how long an assignment waits to be taken over before it moves on",
            ));
        }
        Ok(())
    }
}

/// A conversation's assignment, folded from its log (part of the state and of the inbox row).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Whom the conversation is assigned to while it waits for them; `None`: in the queue (or
    /// owned, or not waiting at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<OperatorRef>,
    /// When it was assigned (ms).
    #[serde(default)]
    pub at: i64,
    /// Who assigned it by hand; `None`: the rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<OperatorRef>,
    /// Operators it was taken from since its handoff (lapsed, taken back, left): the rules pass
    /// them over for this conversation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passed: Vec<String>,
}

impl Assignment {
    pub fn is_empty(&self) -> bool {
        self.operator.is_none() && self.passed.is_empty()
    }

    /// Whether it is assigned to this operator.
    pub fn is_to(&self, operator_id: &str) -> bool {
        self.operator.as_ref().is_some_and(|o| o.id == operator_id)
    }

    fn pass(&mut self, operator_id: &str) {
        self.operator = None;
        self.by = None;
        if !self.passed.iter().any(|p| p == operator_id) {
            self.passed.push(operator_id.to_string());
        }
    }

    /// Folds one stored event (called by `ConversationState::apply`).
    pub fn apply(&mut self, event: &Event) {
        match &event.kind {
            EventKind::Assigned { operator, by } => {
                // Reassigned by hand from someone else: the rules pass them over from now on.
                if let Some(previous) = self.operator.take().filter(|p| p.id != operator.id) {
                    self.pass(&previous.id);
                }
                self.operator = Some(operator.clone());
                self.at = event.at;
                self.by = by.clone();
            }
            EventKind::Unassigned { operator, .. } | EventKind::OperatorLeft { operator } => self.pass(&operator.id),
            // Acknowledged (or taken by a colleague): ownership counts from now on.
            EventKind::OperatorJoined { .. } => {
                self.operator = None;
                self.by = None;
            }
            // A new episode: nobody was passed over yet.
            EventKind::HandoffRequested { .. } | EventKind::HandedBack { .. } | EventKind::Resolved { .. } | EventKind::Reopened { .. } => {
                *self = Assignment::default()
            }
            _ => {}
        }
    }

    /// When an automatic assignment goes back to the queue if nobody takes it; `None` for one
    /// made by hand (or none).
    pub fn lapses_at(&self, config: &AssignmentConfig) -> Option<i64> {
        match (&self.operator, &self.by) {
            (Some(_), None) => Some(self.at + config.ack_ms()),
            _ => None,
        }
    }
}

/// Whether a row counts against this operator's capacity: they own it, or it waits for them.
pub fn holds(row: &ConversationSummary, operator_id: &str) -> bool {
    match &row.ownership {
        Ownership::Human { operator } => operator.id == operator_id,
        Ownership::WaitingForHuman { .. } => row.assignment.is_to(operator_id),
        _ => false,
    }
}

/// What capacity counts: the conversations an operator holds.
pub fn load(rows: &[ConversationSummary], operator_id: &str) -> u32 {
    rows.iter().filter(|r| holds(r, operator_id)).count() as u32
}

/// Whether a row waits in the queue: waiting for a human, assigned to nobody.
pub fn queued(row: &ConversationSummary) -> bool {
    matches!(row.ownership, Ownership::WaitingForHuman { .. }) && row.assignment.operator.is_none()
}

/// The rows waiting in the queue, longest-waiting first.
pub fn queue(rows: &[ConversationSummary]) -> Vec<&ConversationSummary> {
    let mut q: Vec<&ConversationSummary> = rows.iter().filter(|r| queued(r)).collect();
    q.sort_by_key(|r| (r.waiting_since.unwrap_or(r.updated_at), r.id.clone()));
    q
}

/// The assignments to make now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Conversation → operator, in the order they were decided.
    pub assignments: Vec<(ConversationId, OperatorRef)>,
    /// The operator who got the last one (the round robin starts after them next time).
    pub last: Option<String>,
}

/// Who gets the waiting conversations now. `rows`: the site's open rows (waiting or owned);
/// `in_flight`: assignments decided earlier that the conversations have not recorded yet (they
/// count for their operator and are not planned again); `presence`: who is connected and
/// whether they are away; `last`: the operator who got the previous assignment.
pub fn plan(
    config: &AssignmentConfig,
    rows: &[ConversationSummary],
    in_flight: &[(ConversationId, String)],
    presence: &[Presence],
    last: Option<&str>,
) -> Plan {
    let mut out = Plan { assignments: Vec::new(), last: last.map(str::to_string) };
    if !config.auto {
        return out;
    }
    let mut ring: Vec<&OperatorRef> = presence.iter().filter(|p| !p.away).map(|p| &p.operator).collect();
    ring.sort_by(|a, b| a.id.cmp(&b.id));
    ring.dedup_by(|a, b| a.id == b.id);
    if ring.is_empty() {
        return out;
    }
    let mut loads: HashMap<&str, u32> = ring.iter().map(|o| (o.id.as_str(), load(rows, &o.id))).collect();
    for (_, op) in in_flight {
        if let Some(n) = loads.get_mut(op.as_str()) {
            *n += 1;
        }
    }
    // The round robin starts after the last one served (by id, so it survives a reconnect).
    let mut start = last.map_or(0, |l| ring.iter().position(|o| o.id.as_str() > l).unwrap_or(0));
    for row in queue(rows) {
        if in_flight.iter().any(|(id, _)| *id == row.id) {
            continue;
        }
        let n = ring.len();
        let pick = (0..n).map(|k| (start + k) % n).find(|&i| {
            let op = ring[i];
            loads[op.id.as_str()] < config.capacity(&op.id) && !row.assignment.passed.contains(&op.id)
        });
        let Some(i) = pick else { continue };
        let op = ring[i];
        *loads.get_mut(op.id.as_str()).expect("every ring member has a load") += 1;
        out.assignments.push((row.id.clone(), op.clone()));
        out.last = Some(op.id.clone());
        start = (i + 1) % n;
    }
    out
}

/// `POST /api/v1/sites/:site/conversations/:id/assign`: to an operator of the site (by sign-in
/// email), or back to the queue (`null`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignRequest {
    pub operator: Option<String>,
}

/// What a `Conversation` object is asked to do with its assignment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// The rules picked this operator (sent by the site's `Inbox`).
    Auto { operator: OperatorRef },
    /// The automatic assignment made at `at` was not acknowledged in time (the conversation's
    /// own timer).
    Lapse { operator_id: String, at: i64 },
    /// By hand: to an operator, or back to the queue (`to: None`).
    Manual {
        #[serde(default)]
        to: Option<OperatorRef>,
        by: OperatorRef,
    },
}

/// The events a command adds to a conversation in this state, or why it cannot. Pure.
pub fn decide(ownership: &Ownership, assignment: &Assignment, command: &Command) -> Result<Vec<EventKind>, ErrorBody> {
    let waiting = matches!(ownership, Ownership::WaitingForHuman { .. });
    match command {
        Command::Auto { operator } => {
            if !waiting || assignment.operator.is_some() {
                return Err(ErrorBody::new(ErrorCode::Conflict, "this conversation is no longer in the queue"));
            }
            if assignment.passed.contains(&operator.id) {
                return Err(ErrorBody::new(ErrorCode::Conflict, "this conversation was already taken from that operator"));
            }
            Ok(vec![EventKind::Assigned { operator: operator.clone(), by: None }])
        }
        Command::Lapse { operator_id, at } => match &assignment.operator {
            Some(o) if waiting && o.id == *operator_id && assignment.at == *at && assignment.by.is_none() => {
                Ok(vec![EventKind::Unassigned { operator: o.clone(), by: None }])
            }
            // Taken over, reassigned or resolved meanwhile: nothing lapses.
            _ => Ok(vec![]),
        },
        Command::Manual { to, by } => {
            let owner = match ownership {
                Ownership::Human { operator } => Some(operator),
                Ownership::WaitingForHuman { .. } => None,
                Ownership::Bot | Ownership::Resolved { .. } => {
                    return Err(ErrorBody::new(
                        ErrorCode::InvalidState,
                        "only a conversation waiting for a person or with one can be assigned: hand it off or reopen it first",
                    ))
                }
            };
            let current = owner.or(assignment.operator.as_ref());
            match (to, current) {
                (Some(t), Some(c)) if t.id == c.id => Ok(vec![]),
                // Waiting for someone else: the new assignment replaces theirs (the fold passes
                // them over) — one line in the thread, not two.
                (Some(t), Some(_)) if owner.is_none() => Ok(vec![EventKind::Assigned { operator: t.clone(), by: Some(by.clone()) }]),
                (Some(t), Some(c)) => Ok(vec![
                    EventKind::Unassigned { operator: c.clone(), by: Some(by.clone()) },
                    EventKind::Assigned { operator: t.clone(), by: Some(by.clone()) },
                ]),
                (Some(t), None) => Ok(vec![EventKind::Assigned { operator: t.clone(), by: Some(by.clone()) }]),
                (None, Some(c)) => Ok(vec![EventKind::Unassigned { operator: c.clone(), by: Some(by.clone()) }]),
                (None, None) => Ok(vec![]),
            }
        }
    }
}

/// Whether this row change assigned the conversation to someone new: the operator to notify.
pub fn newly_assigned<'a>(before: Option<&ConversationSummary>, after: &'a ConversationSummary) -> Option<&'a OperatorRef> {
    let op = after.assignment.operator.as_ref()?;
    let same =
        before.is_some_and(|b| b.assignment.operator.as_ref().is_some_and(|o| o.id == op.id) && b.assignment.at == after.assignment.at);
    (!same).then_some(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str) -> OperatorRef {
        OperatorRef { id: format!("{}@example.com", name.to_lowercase()), name: name.into() }
    }

    fn online(names: &[&str]) -> Vec<Presence> {
        names.iter().map(|n| Presence { operator: op(n), away: false }).collect()
    }

    fn row(n: u32, ownership: Ownership) -> ConversationSummary {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&n.to_be_bytes());
        ConversationSummary {
            id: ConversationId::from_random(id),
            site: SiteId::parse("demo").unwrap(),
            waiting_since: match ownership {
                Ownership::WaitingForHuman { since } => Some(since),
                _ => None,
            },
            ownership,
            tags: vec![],
            last_message: None,
            unread: 0,
            page: None,
            handoff: None,
            first_question: None,
            visitor_email: None,
            created_at: 0,
            updated_at: 0,
            last_seq: 1,
            owner: None,
            fields: Default::default(),
            briefing: None,
            stats: None,
            search_text: None,
            identity: None,
            rating: None,
            attachments: 0,
            assignment: Assignment::default(),
        }
    }

    fn waiting(n: u32) -> ConversationSummary {
        row(n, Ownership::WaitingForHuman { since: n as i64 })
    }

    fn names(p: &Plan) -> Vec<String> {
        p.assignments.iter().map(|(_, o)| o.name.clone()).collect()
    }

    /// Applies a plan to the rows, as the conversations would record it.
    fn record(rows: &mut [ConversationSummary], p: &Plan) {
        for (id, o) in &p.assignments {
            let r = rows.iter_mut().find(|r| r.id == *id).unwrap();
            r.assignment.operator = Some(o.clone());
        }
    }

    #[test]
    fn round_robin_among_operators_under_capacity_oldest_first() {
        let config = AssignmentConfig::default();
        let rows: Vec<_> = (1..=4).map(waiting).collect();
        let p = plan(&config, &rows, &[], &online(&["Cy", "Ann", "Bob"]), None);
        assert_eq!(names(&p), ["Ann", "Bob", "Cy", "Ann"]);
        assert_eq!(p.assignments[0].0, rows[0].id, "the longest-waiting first");
        assert_eq!(p.last.as_deref(), Some("ann@example.com"));
        // The next handoff goes on from where the round robin stopped.
        let mut rows2 = rows.clone();
        record(&mut rows2, &p);
        rows2.push(waiting(9));
        assert_eq!(names(&plan(&config, &rows2, &[], &online(&["Ann", "Bob", "Cy"]), p.last.as_deref())), ["Bob"]);
    }

    #[test]
    fn twenty_handoffs_three_operators_of_capacity_five_none_to_the_away_one() {
        let config = AssignmentConfig::default();
        let mut rows: Vec<_> = (1..=20).map(waiting).collect();
        let mut presence = online(&["Ann", "Bob", "Cy"]);
        presence.push(Presence { operator: op("Dee"), away: true });
        let p = plan(&config, &rows, &[], &presence, None);
        assert_eq!(p.assignments.len(), 15);
        let mut ids: Vec<_> = p.assignments.iter().map(|(id, _)| id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 15, "each conversation once");
        for who in ["Ann", "Bob", "Cy"] {
            assert_eq!(names(&p).iter().filter(|n| *n == who).count(), 5, "{who}");
        }
        assert!(!names(&p).contains(&"Dee".to_string()));
        record(&mut rows, &p);
        // The five others wait; planning again assigns nothing (everyone is full).
        assert_eq!(queue(&rows).len(), 5);
        assert!(plan(&config, &rows, &[], &presence, p.last.as_deref()).assignments.is_empty());
        // Bob resolves one: his freed slot takes the longest-waiting of the queue.
        let bobs = rows.iter().position(|r| r.assignment.is_to("bob@example.com")).unwrap();
        rows[bobs].ownership = Ownership::Resolved { at: 99 };
        rows[bobs].assignment = Assignment::default();
        let p2 = plan(&config, &rows, &[], &presence, p.last.as_deref());
        assert_eq!(names(&p2), ["Bob"]);
        assert_eq!(p2.assignments[0].0, queue(&rows)[0].id);
        // Dee comes back: she gets the rest, up to her capacity.
        presence[3].away = false;
        let mut rows3 = rows.clone();
        record(&mut rows3, &p2);
        assert_eq!(names(&plan(&config, &rows3, &[], &presence, p2.last.as_deref())), ["Dee"; 4]);
    }

    #[test]
    fn capacity_counts_owned_and_assigned_waiting_only() {
        let mut config = AssignmentConfig::default();
        config.max_open = 2;
        config.max_open_per_operator.insert("bob@example.com".into(), 1);
        let mut rows = vec![
            row(1, Ownership::Human { operator: op("Ann") }),
            row(2, Ownership::Resolved { at: 1 }),
            row(3, Ownership::Bot),
            waiting(4),
            waiting(5),
            waiting(6),
        ];
        rows[1].owner = Some(op("Ann"));
        rows[3].assignment.operator = Some(op("Ann"));
        assert_eq!(load(&rows, "ann@example.com"), 2);
        assert_eq!(config.capacity("bob@example.com"), 1);
        // Ann is full; Bob takes one; the last waits.
        let p = plan(&config, &rows, &[], &online(&["Ann", "Bob"]), None);
        assert_eq!(names(&p), ["Bob"]);
        // An assignment decided but not recorded yet counts too (no double booking).
        let p = plan(&config, &rows, &[(rows[4].id.clone(), "bob@example.com".into())], &online(&["Ann", "Bob"]), None);
        assert!(p.assignments.is_empty(), "{p:?}");
        // Off: nothing is assigned automatically.
        config.auto = false;
        assert!(plan(&config, &rows, &[], &online(&["Ann", "Bob"]), None).assignments.is_empty());
        // Nobody online, or everyone away: the queue waits.
        config.auto = true;
        assert!(plan(&config, &rows, &[], &[], None).assignments.is_empty());
    }

    #[test]
    fn an_operator_it_was_taken_from_is_passed_over() {
        let config = AssignmentConfig::default();
        let mut rows = vec![waiting(1)];
        rows[0].assignment.passed = vec!["ann@example.com".into()];
        assert_eq!(names(&plan(&config, &rows, &[], &online(&["Ann", "Bob"]), None)), ["Bob"]);
        assert!(plan(&config, &rows, &[], &online(&["Ann"]), None).assignments.is_empty(), "Ann alone: it waits for someone else");
    }

    fn fold(a: &mut Assignment, at: i64, kind: EventKind) {
        a.apply(&Event { seq: 1, at, client_id: None, kind });
    }

    #[test]
    fn an_unacknowledged_automatic_assignment_lapses_a_manual_one_does_not() {
        let config = AssignmentConfig { ack_seconds: 60, ..Default::default() };
        let waiting = Ownership::WaitingForHuman { since: 1 };
        let mut a = Assignment::default();
        let auto = decide(&waiting, &a, &Command::Auto { operator: op("Ann") }).unwrap();
        fold(&mut a, 1000, auto[0].clone());
        assert_eq!(a.lapses_at(&config), Some(61_000));
        // The timer fires: back to the queue, and Ann is passed over from now on.
        let lapse = Command::Lapse { operator_id: "ann@example.com".into(), at: 1000 };
        let ev = decide(&waiting, &a, &lapse).unwrap();
        assert_eq!(ev, vec![EventKind::Unassigned { operator: op("Ann"), by: None }]);
        fold(&mut a, 61_000, ev[0].clone());
        assert_eq!((a.operator.clone(), a.passed.clone()), (None, vec!["ann@example.com".to_string()]));
        // A stale timer (reassigned meanwhile, or taken over) does nothing.
        fold(&mut a, 62_000, EventKind::Assigned { operator: op("Bob"), by: None });
        assert_eq!(decide(&waiting, &a, &lapse).unwrap(), vec![]);
        let taken = Ownership::Human { operator: op("Bob") };
        fold(&mut a, 63_000, EventKind::OperatorJoined { operator: op("Bob") });
        assert_eq!(decide(&taken, &a, &Command::Lapse { operator_id: "bob@example.com".into(), at: 62_000 }).unwrap(), vec![]);
        // By hand: no timer.
        let mut m = Assignment::default();
        fold(&mut m, 5, EventKind::Assigned { operator: op("Cy"), by: Some(op("Ann")) });
        assert_eq!(m.lapses_at(&config), None);
    }

    #[test]
    fn automatic_assignment_is_recorded_once() {
        let waiting = Ownership::WaitingForHuman { since: 1 };
        let mut a = Assignment::default();
        fold(&mut a, 1, EventKind::Assigned { operator: op("Ann"), by: None });
        // A second plan for the same conversation (a race) is refused by the conversation.
        assert_eq!(decide(&waiting, &a, &Command::Auto { operator: op("Bob") }).unwrap_err().code, ErrorCode::Conflict);
        // Taken over meanwhile.
        let human = Ownership::Human { operator: op("Cy") };
        assert_eq!(decide(&human, &Assignment::default(), &Command::Auto { operator: op("Bob") }).unwrap_err().code, ErrorCode::Conflict);
    }

    #[test]
    fn by_hand_assign_reassign_and_unassign() {
        let waiting = Ownership::WaitingForHuman { since: 1 };
        let lead = op("Lea");
        let manual = |to: Option<OperatorRef>| Command::Manual { to, by: lead.clone() };
        let a = Assignment::default();
        assert_eq!(
            decide(&waiting, &a, &manual(Some(op("Bob")))).unwrap(),
            vec![EventKind::Assigned { operator: op("Bob"), by: Some(lead.clone()) }]
        );
        assert_eq!(decide(&waiting, &a, &manual(None)).unwrap(), vec![], "nothing to unassign");
        // Reassigned while it waits: one event; the operator it was taken from is passed over.
        let mut ann = Assignment::default();
        fold(&mut ann, 1, EventKind::Assigned { operator: op("Ann"), by: None });
        let ev = decide(&waiting, &ann, &manual(Some(op("Bob")))).unwrap();
        assert_eq!(ev, vec![EventKind::Assigned { operator: op("Bob"), by: Some(lead.clone()) }]);
        fold(&mut ann, 2, ev[0].clone());
        assert_eq!((ann.operator.clone(), ann.passed.clone()), (Some(op("Bob")), vec!["ann@example.com".to_string()]));
        // An owned conversation moves from its owner to another operator.
        let owned = Ownership::Human { operator: op("Ann") };
        assert_eq!(
            decide(&owned, &a, &manual(Some(op("Bob")))).unwrap(),
            vec![
                EventKind::Unassigned { operator: op("Ann"), by: Some(lead.clone()) },
                EventKind::Assigned { operator: op("Bob"), by: Some(lead.clone()) }
            ]
        );
        assert_eq!(decide(&owned, &a, &manual(Some(op("Ann")))).unwrap(), vec![], "already hers");
        assert_eq!(decide(&owned, &a, &manual(None)).unwrap(), vec![EventKind::Unassigned { operator: op("Ann"), by: Some(lead.clone()) }]);
        for o in [Ownership::Bot, Ownership::Resolved { at: 1 }] {
            assert_eq!(decide(&o, &a, &manual(Some(op("Bob")))).unwrap_err().code, ErrorCode::InvalidState);
        }
    }

    #[test]
    fn a_new_handoff_starts_afresh_and_the_new_assignee_is_notified_once() {
        let mut a = Assignment::default();
        fold(&mut a, 1, EventKind::Unassigned { operator: op("Ann"), by: None });
        fold(&mut a, 2, EventKind::Resolved { operator: None });
        assert!(a.is_empty());
        let mut before = waiting(1);
        let mut after = before.clone();
        after.assignment.operator = Some(op("Bob"));
        after.assignment.at = 5;
        assert_eq!(newly_assigned(Some(&before), &after), Some(&op("Bob")));
        assert_eq!(newly_assigned(None, &after), Some(&op("Bob")));
        before = after.clone();
        after.last_seq += 1;
        assert_eq!(newly_assigned(Some(&before), &after), None, "a later change of the same row");
    }

    #[test]
    fn config_mistakes_name_their_key() {
        let mut c = AssignmentConfig::default();
        assert!(c.validate().is_ok());
        c.max_open = 0;
        assert_eq!(c.validate().unwrap_err().field.as_deref(), Some("assignment.max_open"));
        let mut c = AssignmentConfig::default();
        c.max_open_per_operator.insert("ann".into(), 3);
        assert_eq!(c.validate().unwrap_err().field.as_deref(), Some("assignment.max_open_per_operator.ann"));
        let c = AssignmentConfig { ack_seconds: 1, ..Default::default() };
        assert_eq!(c.validate().unwrap_err().field.as_deref(), Some("assignment.ack_seconds"));
    }
}
