//! Rules for a conversation's sockets that the `Conversation` object applies: who may hold a
//! socket before proving anything (admission), and how many typing indicators are relayed.
//!
//! Admission: a socket to `/conversations/:id/ws` is open to anyone who knows the id; the
//! visitor proves the token in `hello`. Until then the socket is *pending*: it has
//! [`HELLO_DEADLINE_MS`] to say hello, counts against its address ([`MAX_PENDING_PER_ADDRESS`])
//! and never against the conversation's cap, which only sockets that proved themselves (or
//! that the worker authenticated: operators) fill — so nobody can jam a conversation without
//! its token.

/// A socket that has not said hello by then is closed (checked when the next socket arrives and
/// on its own next frame: no timer per socket).
pub const HELLO_DEADLINE_MS: i64 = 5_000;
/// Sockets one address may hold on one conversation before saying hello.
pub const MAX_PENDING_PER_ADDRESS: usize = 8;
/// The close code of a socket that did not say hello in time (4000 + HTTP 408): clients
/// reconnect as after any other drop.
pub const HELLO_TIMEOUT_CLOSE: u16 = 4408;
/// Typing indicators relayed per typist at most once per this many milliseconds.
pub const TYPING_INTERVAL_MS: i64 = 1_000;

/// What the object knows about one of its sockets, for admission.
#[derive(Clone, Copy, Debug)]
pub struct SocketView<'a> {
    /// Proved itself (a visitor's hello with the token) or was authenticated by the worker (an
    /// operator): counts against the conversation's cap.
    pub counted: bool,
    pub address: Option<&'a str>,
    pub opened_at: i64,
}

impl SocketView<'_> {
    /// A pending socket past its hello deadline: to be closed.
    pub fn overdue(&self, now: i64) -> bool {
        !self.counted && now - self.opened_at >= HELLO_DEADLINE_MS
    }
}

/// Why a new socket is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The conversation holds its maximum of counted sockets.
    Full,
    /// The address holds its maximum of sockets that have not said hello.
    TooManyPending,
}

/// Whether a socket may open (before hello), given the live sockets (overdue ones excluded by
/// the caller once closed). `counted`: the new socket counts at once (an operator).
pub fn admit<'a>(
    sockets: impl IntoIterator<Item = SocketView<'a>>,
    address: Option<&str>,
    counted: bool,
    max_counted: usize,
) -> Result<(), Refusal> {
    let (mut full, mut pending_here) = (0, 0);
    for s in sockets {
        if s.counted {
            full += 1;
        } else if s.address == address {
            pending_here += 1;
        }
    }
    if counted && full >= max_counted {
        Err(Refusal::Full)
    } else if !counted && pending_here >= MAX_PENDING_PER_ADDRESS {
        Err(Refusal::TooManyPending)
    } else {
        Ok(())
    }
}

/// Whether a pending socket may become counted at its hello (the others already counted).
pub fn admit_hello(counted_others: usize, max_counted: usize) -> Result<(), Refusal> {
    if counted_others >= max_counted {
        Err(Refusal::Full)
    } else {
        Ok(())
    }
}

/// One typist's indicator: relayed at most once per [`TYPING_INTERVAL_MS`]; what changes in
/// between is coalesced into one trailing relay of the newest state, so "stopped typing" is
/// never lost and a flood of frames costs the other side one frame a second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypingGate {
    last_at: Option<i64>,
    last_on: bool,
    pending: Option<bool>,
}

/// What to do with a typing frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypingStep {
    /// Relay this state now.
    Relay(bool),
    /// Relay nothing now; call [`TypingGate::flush`] at this time (ms).
    FlushAt(i64),
    /// Nothing to relay (coalesced, or a flush is already scheduled).
    Drop,
}

impl TypingGate {
    pub fn offer(&mut self, on: bool, now: i64) -> TypingStep {
        match self.last_at {
            Some(at) if now - at < TYPING_INTERVAL_MS => {
                if self.pending.replace(on).is_some() {
                    TypingStep::Drop
                } else if on == self.last_on {
                    self.pending = None;
                    TypingStep::Drop
                } else {
                    TypingStep::FlushAt(at + TYPING_INTERVAL_MS)
                }
            }
            _ => {
                self.last_at = Some(now);
                self.last_on = on;
                self.pending = None;
                TypingStep::Relay(on)
            }
        }
    }

    /// At the scheduled time: the newest state, if it differs from what was last relayed.
    pub fn flush(&mut self, now: i64) -> Option<bool> {
        let on = self.pending.take()?;
        if on == self.last_on {
            return None;
        }
        self.last_at = Some(now);
        self.last_on = on;
        Some(on)
    }

    /// Nothing relayed recently and nothing pending: the gate can be forgotten.
    pub fn idle(&self, now: i64) -> bool {
        self.pending.is_none() && self.last_at.is_none_or(|at| now - at >= TYPING_INTERVAL_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(address: &str, opened_at: i64) -> SocketView<'_> {
        SocketView { counted: false, address: Some(address), opened_at }
    }

    fn counted() -> SocketView<'static> {
        SocketView { counted: true, address: Some("visitor"), opened_at: 0 }
    }

    #[test]
    fn sockets_without_hello_count_against_their_address_not_the_conversation() {
        let jam: Vec<SocketView> = (0..MAX_PENDING_PER_ADDRESS).map(|_| pending("attacker", 0)).collect();
        assert_eq!(admit(jam.clone(), Some("attacker"), false, 4), Err(Refusal::TooManyPending));
        // Everyone else still gets in, and may say hello: pending sockets fill no place.
        assert_eq!(admit(jam.clone(), Some("visitor"), false, 4), Ok(()));
        assert_eq!(admit(jam.clone(), Some("office"), true, 4), Ok(()));
        assert_eq!(admit_hello(0, 4), Ok(()));
        // Counted sockets fill the conversation: operators are refused, then hellos.
        let full: Vec<SocketView> = (0..4).map(|_| counted()).collect();
        assert_eq!(admit(full.clone(), Some("office"), true, 4), Err(Refusal::Full));
        assert_eq!(admit(full, Some("visitor"), false, 4), Ok(()), "may still connect, refused at hello");
        assert_eq!(admit_hello(4, 4), Err(Refusal::Full));
    }

    #[test]
    fn a_pending_socket_has_a_few_seconds_to_say_hello() {
        let s = pending("a", 1_000);
        assert!(!s.overdue(1_000 + HELLO_DEADLINE_MS - 1));
        assert!(s.overdue(1_000 + HELLO_DEADLINE_MS));
        assert!(!counted().overdue(i64::MAX), "a counted socket is never overdue");
    }

    #[test]
    fn typing_is_relayed_at_most_once_a_second_and_the_last_state_is_not_lost() {
        let mut g = TypingGate::default();
        assert_eq!(g.offer(true, 0), TypingStep::Relay(true));
        // A flood within the second: one flush scheduled, nothing else relayed.
        assert_eq!(g.offer(false, 10), TypingStep::FlushAt(1_000));
        for i in 0..2_000 {
            assert_eq!(g.offer(i % 2 == 0, 10 + i / 100), TypingStep::Drop);
        }
        assert_eq!(g.offer(false, 40), TypingStep::Drop);
        assert_eq!(g.flush(1_000), Some(false), "the newest state at the end of the second");
        assert_eq!(g.flush(1_001), None);
        // Unchanged state within the second: nothing.
        assert_eq!(g.offer(false, 1_500), TypingStep::Drop);
        assert!(!g.idle(1_500));
        assert!(g.idle(2_000));
        // A change back to what was relayed cancels the pending one.
        assert_eq!(g.offer(true, 2_000), TypingStep::Relay(true));
        assert_eq!(g.offer(false, 2_100), TypingStep::FlushAt(3_000));
        assert_eq!(g.offer(true, 2_200), TypingStep::Drop);
        assert_eq!(g.flush(3_000), None, "typing again: nothing changed for the other side");
    }
}
