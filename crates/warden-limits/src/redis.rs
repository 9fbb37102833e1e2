//! Counters in Redis, shared by every Warden replica. Each check is one
//! round trip: a Lua script reads every counter, and only if all fit, adds
//! every amount (Redis runs scripts atomically, so two replicas cannot both
//! take the last slot). Bucket keys expire on their own.

use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use redis::aio::ConnectionManager;

use crate::counters::{Adjustment, BackendError, Charge, Checked, Counters, Reading};
use crate::window::Window;

/// KEYS: per charge, its bucket key then its previous bucket key.
/// ARGV: per charge, `sliding(0/1) limit amount prev_weight_permille ttl_ms`.
/// Returns `{denied_index (0 = none), current1, previous1, current2, ...}`.
const CHECK: &str = r"
local n = #KEYS / 2
local out = {0}
for i = 1, n do
  local a = (i - 1) * 5
  local sliding = tonumber(ARGV[a + 1])
  local limit = tonumber(ARGV[a + 2])
  local amount = tonumber(ARGV[a + 3])
  local weight = tonumber(ARGV[a + 4])
  local cur = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local prev = 0
  if sliding == 1 then prev = tonumber(redis.call('GET', KEYS[2 * i]) or '0') end
  out[2 * i] = cur
  out[2 * i + 1] = prev
  if cur + math.floor(prev * weight / 1000) + amount > limit then
    out[1] = i
    return out
  end
end
for i = 1, n do
  local a = (i - 1) * 5
  local amount = tonumber(ARGV[a + 3])
  if amount > 0 then
    redis.call('INCRBY', KEYS[2 * i - 1], amount)
  end
  redis.call('PEXPIRE', KEYS[2 * i - 1], tonumber(ARGV[a + 5]))
end
return out
";

/// KEYS: bucket keys; ARGV: deltas. Never below zero, never recreates.
const ADJUST: &str = r"
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local v = redis.call('INCRBY', KEYS[i], tonumber(ARGV[i]))
    if v < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
  end
end
return 1
";

#[derive(Clone)]
pub struct RedisCounters {
    conn: ConnectionManager,
    check: Script,
    adjust: Script,
    timeout: Duration,
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters").finish_non_exhaustive()
    }
}

fn err(e: impl std::fmt::Display) -> BackendError {
    BackendError(e.to_string())
}

impl RedisCounters {
    /// Connects (with automatic reconnection afterwards).
    pub async fn connect(url: &str) -> Result<RedisCounters, BackendError> {
        let client = redis::Client::open(url).map_err(err)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            Duration::from_secs(3),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| BackendError(format!("connecting to {} timed out", redact(url))))?
        .map_err(err)?;
        Ok(RedisCounters {
            conn,
            check: Script::new(CHECK),
            adjust: Script::new(ADJUST),
            timeout: Duration::from_millis(500),
        })
    }
}

/// A Redis URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[async_trait]
impl Counters for RedisCounters {
    async fn check_and_reserve(&self, charges: &[Charge]) -> Result<Checked, BackendError> {
        let mut inv = self.check.prepare_invoke();
        for c in charges {
            let sliding = c.window == Window::SlidingMinute;
            inv.key(c.bucket_key()).key(c.previous_key());
            inv.arg(u8::from(sliding))
                .arg(c.limit)
                .arg(c.amount)
                .arg(c.position.prev_weight_permille)
                .arg(c.position.ttl_ms);
        }
        let mut conn = self.conn.clone();
        let out: Vec<i64> = tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn))
            .await
            .map_err(|_| BackendError("timed out".into()))?
            .map_err(err)?;
        let denied = out.first().copied().unwrap_or(0);
        let readings = out
            .get(1..)
            .unwrap_or(&[])
            .chunks(2)
            .map(|p| Reading {
                current: p.first().map_or(0, |v| u64::try_from(*v).unwrap_or(0)),
                previous: p.get(1).map_or(0, |v| u64::try_from(*v).unwrap_or(0)),
            })
            .collect();
        Ok(Checked {
            denied: (denied > 0).then(|| usize::try_from(denied - 1).unwrap_or(0)),
            readings,
        })
    }

    async fn adjust(&self, adjustments: &[Adjustment]) -> Result<(), BackendError> {
        if adjustments.is_empty() {
            return Ok(());
        }
        let mut inv = self.adjust.prepare_invoke();
        for a in adjustments {
            inv.key(&a.key).arg(a.delta);
        }
        let mut conn = self.conn.clone();
        let _: i64 = tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn))
            .await
            .map_err(|_| BackendError("timed out".into()))?
            .map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("redis://:hunter2@10.0.0.1:6379/0"),
            "redis://***@10.0.0.1:6379/0"
        );
        assert_eq!(
            super::redact("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
