//! Fixed-window rate limits in Redis, shared by every instance of the service: a counter per
//! key counts the hits of a window that starts at the first hit (`PEXPIRE ... NX`, so a later
//! hit never extends it).
//!
//! Used by order creation limits and by the login and sign-up throttles. A hit is checked and
//! counted in one Lua script: when any counter is at its
//! limit, nothing is counted and the answer is how long until that window ends. So a client that
//! keeps sending while refused neither grows its counters nor pushes its window out, and is
//! admitted again exactly when the `Retry-After` it was given has passed. The check and the count
//! are one atomic step, so parallel hits cannot all slip past a check made before any counted.

use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::ConnectionManager;

/// One limit: the counter's full Redis key (prefix included) and how many hits a window admits.
#[derive(Debug, Clone)]
pub struct Counter {
    pub key: String,
    pub max: u64,
}

/// What a hit came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted and counted on every counter.
    Admitted,
    /// Refused, counted nowhere: `counter` (an index into the counters given) is at its limit,
    /// and its window ends in `retry_after_secs` (rounded up). When several are at their limit,
    /// the one whose window ends last is named, since only then will a hit be admitted.
    Refused { counter: usize, retry_after_secs: u64 },
}

/// KEYS: the counters; ARGV[1]: the window in ms; ARGV[1 + i]: the limit of KEYS[i].
/// Returns {0, 0} when admitted (and counted), else {i, ms until KEYS[i]'s window ends}.
const HIT: &str = r#"
local window = tonumber(ARGV[1])
local refused, wait = 0, 0
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      -- A counter without an expiry (never written by this script) would refuse for ever.
      redis.call('PEXPIRE', key, window)
      ttl = window
    end
    if ttl > wait then
      refused, wait = i, ttl
    end
  end
end
if refused > 0 then
  return {refused, wait}
end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('PEXPIRE', key, window, 'NX')
end
return {0, 0}
"#;

static HIT_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(HIT));

/// Counts one hit on every counter if none is at its limit; see the module documentation.
#[tracing::instrument(level = "debug", skip_all, fields(counters = counters.len()))]
pub async fn hit(redis: &ConnectionManager, window: Duration, counters: &[Counter]) -> redis::RedisResult<Verdict> {
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut invocation = HIT_SCRIPT.prepare_invoke();
    invocation.arg(window_ms);
    for c in counters {
        invocation.key(&c.key).arg(c.max);
    }
    let mut conn = redis.clone();
    let (refused, wait_ms): (usize, u64) = invocation.invoke_async(&mut conn).await?;
    Ok(match refused {
        0 => Verdict::Admitted,
        i => Verdict::Refused { counter: i - 1, retry_after_secs: wait_ms.div_ceil(1000).max(1) },
    })
}
