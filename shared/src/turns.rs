//! One frame at a time per socket, in the order they arrived (used by the `Conversation`
//! Durable Object; plain Rust so its tests run natively).
//!
//! workerd hands a Durable Object the next WebSocket message as soon as the current handler
//! awaits something that is not storage (a fetch of the site's config or index, asking the
//! `Inbox` who is online, the optional LLM call). Without a queue, a visitor's second message
//! could overtake the first while the first waits for the engine, and be stored before it; a
//! frame sent right after `hello` could be handled before the hello had made the socket ready.
//!
//! `Turns` is a ticket queue per socket: a handler takes a ticket synchronously, first thing (so
//! tickets follow arrival order), waits until it is served, and hands the turn on when it is
//! done (the returned guard, also on error). Other sockets are not held up.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

#[derive(Default)]
struct Queue {
    next_ticket: Cell<u64>,
    serving: Cell<u64>,
    /// Tickets given up before their turn (skipped when the turn reaches them).
    abandoned: RefCell<Vec<u64>>,
    waiting: RefCell<Vec<Waker>>,
}

/// The queues of an object's sockets, by socket id (in memory: a queue only exists while one of
/// its socket's frames is being handled, and the object never hibernates then).
#[derive(Default)]
pub struct Turns {
    queues: RefCell<HashMap<u64, Rc<Queue>>>,
}

/// A frame's place in its socket's queue. `wait` until it is this frame's turn; dropping the
/// ticket lets the socket's next frame go.
pub struct Ticket {
    turns: Rc<Turns>,
    socket: u64,
    queue: Rc<Queue>,
    number: u64,
}

impl Turns {
    /// A ticket for `socket`, in the order of the calls (take it before any `await`).
    pub fn ticket(self: &Rc<Self>, socket: u64) -> Ticket {
        let queue = self.queues.borrow_mut().entry(socket).or_default().clone();
        let number = queue.next_ticket.get();
        queue.next_ticket.set(number + 1);
        Ticket { turns: self.clone(), socket, queue, number }
    }

    /// Frames waiting or being handled for `socket` (0 when it has no queue).
    #[cfg(test)]
    fn pending(&self, socket: u64) -> u64 {
        self.queues.borrow().get(&socket).map_or(0, |q| q.next_ticket.get() - q.serving.get())
    }
}

impl Ticket {
    /// Resolves once every earlier ticket of the socket is done.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.queue.serving.get() == self.number {
                Poll::Ready(())
            } else {
                self.queue.waiting.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let q = &self.queue;
        if q.serving.get() != self.number {
            // Given up before its turn: skipped when the turn gets there.
            q.abandoned.borrow_mut().push(self.number);
            return;
        }
        let mut next = self.number + 1;
        {
            let mut abandoned = q.abandoned.borrow_mut();
            while let Some(i) = abandoned.iter().position(|&n| n == next) {
                abandoned.swap_remove(i);
                next += 1;
            }
        }
        q.serving.set(next);
        if next == q.next_ticket.get() {
            // Nobody waiting: forget the queue (a new frame starts a new one).
            self.turns.queues.borrow_mut().remove(&self.socket);
        }
        for w in q.waiting.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Context;

    fn poll<F: Future>(f: &mut Pin<Box<F>>) -> Poll<F::Output> {
        f.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn frames_of_one_socket_go_in_ticket_order_and_other_sockets_are_not_held() {
        let turns = Rc::new(Turns::default());
        let first = turns.ticket(1);
        let second = turns.ticket(1);
        let other = turns.ticket(2);
        let (mut w1, mut w2, mut w_other) = (Box::pin(first.wait()), Box::pin(second.wait()), Box::pin(other.wait()));
        // The second frame, even polled first, waits for the first.
        assert!(poll(&mut w2).is_pending());
        assert!(poll(&mut w1).is_ready());
        assert!(poll(&mut w2).is_pending());
        assert!(poll(&mut w_other).is_ready(), "another socket is not held up");
        assert_eq!(turns.pending(1), 2);
        drop(w1);
        drop(first);
        assert!(poll(&mut w2).is_ready(), "the second frame goes once the first is done");
        drop(w2);
        drop(second);
        drop(w_other);
        drop(other);
        assert_eq!(turns.pending(1), 0);
        assert!(turns.queues.borrow().is_empty(), "queues are forgotten once empty");
    }

    #[test]
    fn a_ticket_given_up_before_its_turn_is_skipped() {
        let turns = Rc::new(Turns::default());
        let first = turns.ticket(7);
        let second = turns.ticket(7);
        let third = turns.ticket(7);
        drop(second);
        let mut w3 = Box::pin(third.wait());
        assert!(poll(&mut w3).is_pending());
        drop(first);
        assert!(poll(&mut w3).is_ready(), "the abandoned ticket does not block the next");
        drop(w3);
        drop(third);
        assert!(turns.queues.borrow().is_empty());
    }
}
