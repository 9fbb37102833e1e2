//! In-process counters: one map behind one mutex. The critical section is a
//! few hash lookups with no I/O and no await, so a `std` mutex is right; two
//! cores cannot contend on it for long.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::counters::{Adjustment, BackendError, Charge, Checked, Counters, Reading};
use crate::window::Window;

#[derive(Debug, Default)]
pub struct MemoryCounters {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Bucket key -> (value, expires at: the bucket number it is kept until).
    values: HashMap<String, Slot>,
    ops: u64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    value: u64,
    /// Newest bucket (per window kind) that still reads this slot.
    keep_until_bucket: i64,
    window: Window,
}

impl State {
    fn get(&self, key: &str) -> u64 {
        self.values.get(key).map_or(0, |s| s.value)
    }

    /// Drops buckets no check can read any more. Runs every 4096 checks.
    fn sweep(&mut self, charges: &[Charge]) {
        self.ops += 1;
        if !self.ops.is_multiple_of(4096) {
            return;
        }
        let now: Vec<(Window, i64)> = charges
            .iter()
            .map(|c| (c.window, c.position.bucket))
            .collect();
        self.values.retain(|_, slot| {
            now.iter()
                .find(|(w, _)| *w == slot.window)
                .is_none_or(|(_, bucket)| slot.keep_until_bucket >= *bucket)
        });
    }
}

impl MemoryCounters {
    pub fn new() -> MemoryCounters {
        MemoryCounters::default()
    }

    /// Synchronous core, also used by benchmarks.
    pub fn check_and_reserve_now(&self, charges: &[Charge]) -> Checked {
        let Ok(mut state) = self.state.lock() else {
            // A panic while holding the lock: refuse rather than guess.
            return Checked {
                denied: Some(0),
                readings: vec![Reading::default()],
            };
        };
        let mut readings = Vec::with_capacity(charges.len());
        for (i, c) in charges.iter().enumerate() {
            let current = state.get(&c.bucket_key());
            let previous = match c.window {
                Window::SlidingMinute => state.get(&c.previous_key()),
                _ => 0,
            };
            readings.push(Reading { current, previous });
            if c.window.count(c.position, current, previous) + c.amount > c.limit {
                return Checked {
                    denied: Some(i),
                    readings,
                };
            }
        }
        for c in charges {
            let keep = match c.window {
                Window::SlidingMinute => c.position.bucket + 1,
                _ => c.position.bucket,
            };
            let slot = state.values.entry(c.bucket_key()).or_insert(Slot {
                value: 0,
                keep_until_bucket: keep,
                window: c.window,
            });
            slot.value += c.amount;
        }
        state.sweep(charges);
        Checked {
            denied: None,
            readings,
        }
    }
}

#[async_trait]
impl Counters for MemoryCounters {
    async fn check_and_reserve(&self, charges: &[Charge]) -> Result<Checked, BackendError> {
        Ok(self.check_and_reserve_now(charges))
    }

    async fn adjust(&self, adjustments: &[Adjustment]) -> Result<(), BackendError> {
        if self.adjust_now(adjustments) {
            Ok(())
        } else {
            Err(BackendError("counter lock poisoned".into()))
        }
    }

    fn adjust_now(&self, adjustments: &[Adjustment]) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        for a in adjustments {
            if let Some(slot) = state.values.get_mut(&a.key) {
                slot.value = slot.value.saturating_add_signed(a.delta);
            }
        }
        true
    }
}
