//! The backend contract: atomically check-and-reserve a set of counters, and
//! adjust or release them later. Backends only do arithmetic on named
//! counters; which counters a request touches is the [`crate::Limiter`]'s job.

use async_trait::async_trait;

use crate::window::{Position, Window};

/// One counter a request must fit under.
#[derive(Debug, Clone)]
pub struct Charge {
    /// Counter name without its bucket (`warden:<rule>:<metric>:<scope id>`).
    pub key: String,
    pub window: Window,
    pub position: Position,
    pub limit: u64,
    pub amount: u64,
}

impl Charge {
    /// The key of the bucket the charge goes into.
    pub fn bucket_key(&self) -> String {
        bucket_key(&self.key, self.window, self.position.bucket)
    }

    /// The key of the previous bucket (sliding windows read it).
    pub fn previous_key(&self) -> String {
        bucket_key(&self.key, self.window, self.position.bucket - 1)
    }
}

pub fn bucket_key(key: &str, window: Window, bucket: i64) -> String {
    match window {
        Window::Gauge => key.to_owned(),
        _ => format!("{key}:{bucket}"),
    }
}

/// A counter's values when it was checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    pub current: u64,
    pub previous: u64,
}

/// The answer to a check: admitted (everything reserved) or not (nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Index of the first charge that did not fit, if any.
    pub denied: Option<usize>,
    /// Each charge's counter before this request (when denied: those read
    /// up to and including the denied one).
    pub readings: Vec<Reading>,
}

/// A later change to a reserved counter.
#[derive(Debug, Clone)]
pub struct Adjustment {
    /// Full bucket key.
    pub key: String,
    pub delta: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("limit backend unavailable: {0}")]
pub struct BackendError(pub String);

#[async_trait]
pub trait Counters: Send + Sync + std::fmt::Debug {
    /// All charges fit, and are all added; or none is added.
    async fn check_and_reserve(&self, charges: &[Charge]) -> Result<Checked, BackendError>;
    /// Adds (or, negative, removes) amounts; counters never go below zero,
    /// and counters that no longer exist are not recreated.
    async fn adjust(&self, adjustments: &[Adjustment]) -> Result<(), BackendError>;
    /// Applies adjustments at once if the backend can without I/O; `false`
    /// means the caller must use [`Counters::adjust`].
    fn adjust_now(&self, _adjustments: &[Adjustment]) -> bool {
        false
    }
}
