//! Baton's shared core.
//!
//! - [`protocol`]: the wire types every side speaks (always built; no heavy dependencies).
//! - [`config`]: a site's configuration (always built); [`i18n`]: the visitor's language, site
//!   strings per language and what the engine says to visitors in each; [`cache`]: the bounded
//!   per-isolate cache the worker keeps configs, engines and models in.
//! - [`http`]: which content coding a client gets, by its `Accept-Encoding`'s q-values.
//! - [`state`]: a conversation's state folded from its log (the inbox row, the briefing) and
//!   who may erase or export it; [`ownership`]: who owns a conversation after each event, what the inbox offers operators
//!   and what the visitor is shown about getting a person, in each state.
//! - [`inbox`]: the operators' list rules (views, order, search); [`insights`]: the figures
//!   folded from each conversation's log and aggregated per site; [`ratelimit`]: token buckets
//!   (and which visitor frames they count); [`retention`]: when a conversation is erased;
//!   [`sockets`]: a conversation's socket admission (hello deadline, per-address cap) and
//!   typing relay; [`signin`]: which sign-in attempts are charged where, device cookies.
//! - [`identity`]: who the visitor is (signed by the site's backend) and the host page's
//!   context; [`attachments`]: which files a conversation takes and how they are served;
//!   [`satisfaction`]: ratings after a resolve and their figures; [`stats`]: the one
//!   percentile definition (nearest rank) for every figure, product or benchmark.
//! - [`assign`]: who gets a conversation that waits for a human (round robin, capacity,
//!   acknowledgement); [`notify`]: which operators are told of a handoff, how, and what it
//!   says; [`email`]: replies by email to visitors who left (batches, signed links).
//! - [`wire`]: a small hand-written JSON codec for the visitor's frames (the widget's lean
//!   alternative to serde_json; exhaustive over the protocol's variants), and [`markdown`]: the bot answers' safe Markdown subset.
//! - With the `engine` feature: [`engine`] (retrieval and answers), [`index`] (the file
//!   formats), [`handoff`] (triggers) and [`conversation`] (what each frame does: the
//!   decisions the `Conversation` Durable Object applies to its [`state`]), [`webhook`] (who is notified of what, signed how),
//!   [`turns`] (one socket's frames handled one at a time, in arrival order).
//!
//! Rule of the house: the engine decides, the shells carry bytes. Anything that decides what
//! the bot says, when to hand off, or what an operator may do lives here, with unit tests.

pub mod assign;
pub mod attachments;
pub mod cache;
pub mod config;
pub mod email;
pub mod http;
pub mod i18n;
pub mod identity;
pub mod inbox;
pub mod insights;
pub mod markdown;
pub mod notify;
pub mod ownership;
pub mod protocol;
pub mod ratelimit;
pub mod retention;
pub mod satisfaction;
pub mod signin;
pub mod sockets;
pub mod state;
pub mod stats;
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
