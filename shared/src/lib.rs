//! Baton's shared core.
//!
//! - [`protocol`]: the wire types every side speaks (always built; no heavy dependencies).
//! - [`config`]: a site's configuration (always built).
//! - [`inbox`]: the operators' list rules (views, order, search); [`insights`]: the figures
//!   folded from each conversation's log and aggregated per site; [`ratelimit`]: token buckets
//!   (and which visitor frames they count); [`retention`]: when a conversation is erased.
//! - [`assign`]: who gets a conversation that waits for a human (round robin, capacity,
//!   acknowledgement); [`notify`]: which operators are told of a handoff, how, and what it
//!   says; [`email`]: replies by email to visitors who left (batches, signed links).
//! - [`wire`]: a small hand-written JSON codec for the visitor's frames (the widget's lean
//!   alternative to serde_json), and [`markdown`]: the bot answers' safe Markdown subset.
//! - With the `engine` feature: [`engine`] (retrieval and answers), [`index`] (the file
//!   formats), [`handoff`] (triggers) and [`conversation`] (the state machine the
//!   `Conversation` Durable Object applies), [`webhook`] (who is notified of what, signed how),
//!   [`turns`] (one socket's frames handled one at a time, in arrival order).
//!
//! Rule of the house: the engine decides, the shells carry bytes. Anything that decides what
//! the bot says, when to hand off, or what an operator may do lives here, with unit tests.

pub mod assign;
pub mod config;
pub mod email;
pub mod inbox;
pub mod insights;
pub mod markdown;
pub mod notify;
pub mod protocol;
pub mod ratelimit;
pub mod retention;
pub mod wire;

#[cfg(feature = "engine")]
pub mod conversation;
#[cfg(feature = "engine")]
pub mod engine;
#[cfg(feature = "engine")]
pub mod handoff;
#[cfg(feature = "engine")]
pub mod index;
#[cfg(feature = "engine")]
pub mod turns;
#[cfg(feature = "engine")]
pub mod webhook;
#[cfg(feature = "push")]
pub mod webpush;
