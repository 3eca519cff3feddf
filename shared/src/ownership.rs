//! Who owns a conversation, and what follows from it on every side: how the log's events move
//! the ownership (the engine's state, the widget and the inbox fold it the same way), which
//! actions the inbox offers an operator in each state, and what the visitor is shown about
//! getting a person. No engine needed: the widget and the inbox link this.
//!
//! `conversation::decide` (engine) enforces the same rules; its tests check that what is
//! offered here is what it accepts.

use crate::protocol::{EventKind, OperatorRef, Ownership};

impl Ownership {
    /// The ownership after an event stored at `at`.
    pub fn after(&self, kind: &EventKind, at: i64) -> Ownership {
        match kind {
            EventKind::HandoffRequested { .. } | EventKind::OperatorLeft { .. } => Ownership::WaitingForHuman { since: at },
            EventKind::OperatorJoined { operator } => Ownership::Human { operator: operator.clone() },
            EventKind::HandedBack { .. } => Ownership::Bot,
            EventKind::Resolved { .. } => Ownership::Resolved { at },
            EventKind::Reopened { operator: Some(op) } => Ownership::Human { operator: op.clone() },
            EventKind::Reopened { operator: None } => Ownership::Bot,
            // Taken from its owner by a colleague (`assign::Command::Manual`): waiting again.
            EventKind::Unassigned { .. } if matches!(self, Ownership::Human { .. }) => Ownership::WaitingForHuman { since: at },
            _ => self.clone(),
        }
    }

    /// What the visitor is shown about getting a person.
    pub fn human_help(&self) -> HumanHelp<'_> {
        match self {
            Ownership::Bot | Ownership::Resolved { .. } => HumanHelp::Offer,
            Ownership::WaitingForHuman { .. } => HumanHelp::Waiting,
            Ownership::Human { operator } => HumanHelp::With(operator),
        }
    }
}

/// The visitor's way to a person, by ownership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HumanHelp<'a> {
    /// "Talk to a human" can be pressed: the bot has the thread (or it was resolved).
    Offer,
    /// The team has been asked and sees the thread; pressing again would change nothing.
    Waiting,
    /// This person has the thread.
    With(&'a OperatorRef),
}

/// What an operator can do to a conversation from the inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorAction {
    TakeOver,
    Leave,
    HandBack,
    Resolve,
    Reopen,
}

impl OperatorAction {
    pub const ALL: [OperatorAction; 5] =
        [OperatorAction::TakeOver, OperatorAction::Leave, OperatorAction::HandBack, OperatorAction::Resolve, OperatorAction::Reopen];

    /// Whether the inbox offers this action on a conversation in state `o` to operator `me`
    /// (an id). Taking over or handing back a colleague's thread is offered: the server then
    /// says who owns it (a `conflict`), which is what the operator needs to know.
    pub fn offered(self, o: &Ownership, me: &str) -> bool {
        let mine = matches!(o, Ownership::Human { operator } if operator.id == me);
        let resolved = matches!(o, Ownership::Resolved { .. });
        match self {
            OperatorAction::TakeOver => !resolved && !mine,
            OperatorAction::Leave => mine,
            OperatorAction::HandBack => !resolved && !matches!(o, Ownership::Bot),
            OperatorAction::Resolve => !resolved,
            OperatorAction::Reopen => resolved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> OperatorRef {
        OperatorRef { id: "ann@example.com".into(), name: "Ann".into() }
    }

    #[test]
    fn events_move_the_ownership() {
        let bot = Ownership::Bot;
        assert_eq!(bot.after(&EventKind::Reopened { operator: None }, 5), Ownership::Bot);
        let waiting = bot.after(&EventKind::OperatorLeft { operator: ann() }, 7);
        assert_eq!(waiting, Ownership::WaitingForHuman { since: 7 });
        let human = waiting.after(&EventKind::OperatorJoined { operator: ann() }, 8);
        assert_eq!(human, Ownership::Human { operator: ann() });
        assert_eq!(human.after(&EventKind::VisitorMessage { text: "hi".into() }, 9), human);
        assert_eq!(human.after(&EventKind::Resolved { operator: None }, 10), Ownership::Resolved { at: 10 });
        assert_eq!(Ownership::Resolved { at: 1 }.after(&EventKind::Reopened { operator: Some(ann()) }, 11), human);
        assert_eq!(human.after(&EventKind::HandedBack { operator: ann() }, 12), Ownership::Bot);
    }

    #[test]
    fn the_visitor_is_offered_a_person_only_when_none_is_asked_for_yet() {
        assert_eq!(Ownership::Bot.human_help(), HumanHelp::Offer);
        assert_eq!(Ownership::Resolved { at: 1 }.human_help(), HumanHelp::Offer);
        assert_eq!(Ownership::WaitingForHuman { since: 1 }.human_help(), HumanHelp::Waiting);
        let a = ann();
        assert_eq!(Ownership::Human { operator: a.clone() }.human_help(), HumanHelp::With(&a));
    }

    #[test]
    fn operators_are_offered_what_fits_the_state() {
        use OperatorAction::*;
        let offered = |o: &Ownership| OperatorAction::ALL.into_iter().filter(|a| a.offered(o, "ann@example.com")).collect::<Vec<_>>();
        assert_eq!(offered(&Ownership::Bot), [TakeOver, Resolve]);
        assert_eq!(offered(&Ownership::WaitingForHuman { since: 1 }), [TakeOver, HandBack, Resolve]);
        assert_eq!(offered(&Ownership::Human { operator: ann() }), [Leave, HandBack, Resolve]);
        let bob = OperatorRef { id: "bob@example.com".into(), name: "Bob".into() };
        assert_eq!(offered(&Ownership::Human { operator: bob }), [TakeOver, HandBack, Resolve]);
        assert_eq!(offered(&Ownership::Resolved { at: 1 }), [Reopen]);
    }
}
