//! Window arithmetic, shared by every backend so they agree to the bucket.
//!
//! - Requests and tokens per minute: a sliding window approximated from two
//!   fixed one-minute buckets, the previous one weighted by how much of it
//!   still overlaps the last 60 s (the scheme Cloudflare and nginx use). It
//!   supports what GCRA does not: adding back a reservation when the real
//!   usage turns out smaller.
//! - Spend per day / per month: calendar buckets in UTC, reset at midnight
//!   and on the 1st.
//! - Concurrency: a gauge, raised on admission and lowered when the call ends.

use time::{Date, Month, OffsetDateTime};

pub const MINUTE_MS: i64 = 60_000;
pub const DAY_MS: i64 = 86_400_000;

/// How a counter's buckets work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    SlidingMinute,
    Day,
    Month,
    Gauge,
}

/// Where `now` falls in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Bucket number (minute, day or month index; 0 for a gauge).
    pub bucket: i64,
    /// Weight of the previous bucket, in thousandths (sliding only).
    pub prev_weight_permille: u64,
    /// Milliseconds until the bucket ends.
    pub until_bucket_end_ms: i64,
    /// How long a bucket's key must live.
    pub ttl_ms: i64,
}

fn month_index(date: Date) -> i64 {
    i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1
}

fn next_month_start_ms(date: Date) -> i64 {
    let (y, m) = match date.month() {
        Month::December => (date.year() + 1, Month::January),
        m => (date.year(), m.next()),
    };
    Date::from_calendar_date(y, m, 1)
        .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
        .unwrap_or(i64::MAX)
}

impl Window {
    pub fn position(self, now_ms: i64) -> Position {
        match self {
            Window::SlidingMinute => {
                let bucket = now_ms.div_euclid(MINUTE_MS);
                let into = now_ms.rem_euclid(MINUTE_MS);
                Position {
                    bucket,
                    prev_weight_permille: u64::try_from((MINUTE_MS - into) * 1000 / MINUTE_MS)
                        .unwrap_or(0),
                    until_bucket_end_ms: MINUTE_MS - into,
                    ttl_ms: 2 * MINUTE_MS + 1000,
                }
            }
            Window::Day => Position {
                bucket: now_ms.div_euclid(DAY_MS),
                prev_weight_permille: 0,
                until_bucket_end_ms: DAY_MS - now_ms.rem_euclid(DAY_MS),
                ttl_ms: DAY_MS + 60_000,
            },
            Window::Month => {
                let t = OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000))
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                Position {
                    bucket: month_index(t.date()),
                    prev_weight_permille: 0,
                    until_bucket_end_ms: next_month_start_ms(t.date()) - now_ms,
                    ttl_ms: 32 * DAY_MS,
                }
            }
            Window::Gauge => Position {
                bucket: 0,
                prev_weight_permille: 0,
                until_bucket_end_ms: 1000,
                ttl_ms: 10 * MINUTE_MS,
            },
        }
    }

    /// The count a limit is compared with, from the two buckets.
    pub fn count(self, pos: Position, current: u64, previous: u64) -> u64 {
        match self {
            Window::SlidingMinute => current + previous * pos.prev_weight_permille / 1000,
            Window::Day | Window::Month | Window::Gauge => current,
        }
    }

    /// How long until `amount` more would fit under `limit`, given the
    /// buckets now. `None`: it never fits (the amount alone is over).
    pub fn retry_after_ms(
        self,
        pos: Position,
        current: u64,
        previous: u64,
        amount: u64,
        limit: u64,
    ) -> Option<i64> {
        if amount > limit {
            return None;
        }
        match self {
            Window::SlidingMinute => {
                let room = limit - amount; // what the weighted count must drop to
                let into_now = MINUTE_MS - pos.until_bucket_end_ms;
                if current <= room {
                    // Within this bucket, once the previous one has decayed.
                    Some((into_for(previous, room - current) - into_now).max(0))
                } else {
                    // In the next bucket, where `current` becomes the previous.
                    Some(pos.until_bucket_end_ms + into_for(current, room))
                }
            }
            Window::Day | Window::Month => Some(pos.until_bucket_end_ms),
            Window::Gauge => Some(1000),
        }
    }

    /// How long until the counter is back to zero, if nothing else arrives.
    pub fn reset_ms(self, pos: Position, current: u64, previous: u64) -> i64 {
        match self {
            Window::SlidingMinute if current > 0 => pos.until_bucket_end_ms + MINUTE_MS,
            Window::SlidingMinute if previous > 0 => {
                i64::try_from(pos.prev_weight_permille).unwrap_or(0) * MINUTE_MS / 1000
            }
            Window::SlidingMinute => 0,
            Window::Day | Window::Month => pos.until_bucket_end_ms,
            Window::Gauge => 0,
        }
    }
}

/// The earliest point in a bucket (ms into it) at which a previous bucket
/// holding `x` weighs in at most `allowed`, with the same integer rounding
/// as [`Window::count`]: `floor(x * weight / 1000)`, weight =
/// `floor((W - into) * 1000 / W)`.
fn into_for(x: u64, allowed: u64) -> i64 {
    if x == 0 {
        return 0;
    }
    let max_weight = ((allowed + 1) * 1000 - 1) / x;
    if max_weight >= 1000 {
        return 0;
    }
    let max_weight = i64::try_from(max_weight).unwrap_or(0);
    MINUTE_MS - (max_weight + 1) * MINUTE_MS / 1000 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn sliding_minute_weights_the_previous_bucket() {
        let w = Window::SlidingMinute;
        let start = w.position(T0);
        assert_eq!(start.prev_weight_permille, 1000);
        let quarter = w.position(T0 + 15_000);
        assert_eq!(quarter.bucket, start.bucket);
        assert_eq!(quarter.prev_weight_permille, 750);
        assert_eq!(w.count(quarter, 10, 40), 40);
        assert_eq!(w.position(T0 + 60_000).bucket, start.bucket + 1);
    }

    #[test]
    fn sliding_retry_after_is_when_it_fits() {
        let w = Window::SlidingMinute;
        // 30 s into a minute: previous bucket had 60, current has 0, limit 60.
        let pos = w.position(T0 + 30_000);
        assert_eq!(w.count(pos, 0, 60), 30);
        assert!(
            w.retry_after_ms(pos, 0, 60, 1, 60)
                .is_some_and(|ms| ms <= 1),
            "fits now"
        );
        // Current is full: wait for the next bucket and some decay. At the
        // advertised time it fits, one millisecond earlier it does not.
        for (cur, prev, limit) in [(60, 0, 60), (3, 0, 3), (40, 90, 60), (10, 100, 60)] {
            let Some(wait) = w.retry_after_ms(pos, cur, prev, 1, limit) else {
                panic!()
            };
            let fits = |t: i64| {
                let later = w.position(T0 + 30_000 + t);
                let (c, p) = if later.bucket == pos.bucket {
                    (cur, prev)
                } else {
                    (0, cur)
                };
                w.count(later, c, p) < limit
            };
            assert!(fits(wait), "{cur}/{prev}/{limit}: not free at {wait}");
            assert!(
                wait == 0 || !fits(wait - 1),
                "{cur}/{prev}/{limit}: free before {wait}"
            );
        }
        // An amount over the limit never fits.
        assert_eq!(w.retry_after_ms(pos, 0, 0, 61, 60), None);
    }

    #[test]
    fn calendar_windows_reset_at_utc_boundaries() {
        let day = Window::Day.position(T0 + 3_600_000);
        assert_eq!(day.until_bucket_end_ms, DAY_MS - 3_600_000);
        let jan = Window::Month.position(T0);
        let feb = Window::Month.position(T0 + 31 * DAY_MS);
        assert_eq!(feb.bucket, jan.bucket + 1);
        assert_eq!(jan.until_bucket_end_ms, 31 * DAY_MS);
        let dec = Window::Month.position(T0 - 1);
        assert_eq!(dec.bucket, jan.bucket - 1);
        assert_eq!(dec.until_bucket_end_ms, 1);
    }
}
