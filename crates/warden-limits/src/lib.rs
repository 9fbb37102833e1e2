//! Rate limits, token limits, concurrency caps and spend budgets.
//!
//! The [`Limiter`] turns a request into charges against named counters, one
//! per matching rule and metric, and asks the backend ([`memory`] in-process,
//! or [`redis`] shared by replicas) to reserve all of them atomically. The
//! [`Ticket`] it returns is settled when the call ends: the token and spend
//! estimates are replaced by what the upstream reported, a call that never
//! reached the upstream is refunded, one whose usage is unknown (a cut stream)
//! keeps its estimate, and the concurrency slot is released on every path
//! (including `Drop`). So spend passes a cap by at most what is in flight,
//! and no call leaves a phantom charge.

pub mod clock;
pub mod counters;
pub mod estimate;
pub mod memory;
pub mod redis;
pub mod window;

mod limiter;

pub use clock::{Clock, ManualClock, SystemClock};
pub use limiter::{LimitError, LimitRequest, Limiter, RateHeaders, Ticket, rule_applies};

#[cfg(test)]
mod tests;
