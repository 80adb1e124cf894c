//! RateLimiter: weighted budgets ("pools") shared by named keys.
//!
//! A pool is either a token bucket (`capacity` tokens, `refill` tokens added evenly over every
//! `window_ns`, starts full) or an exact sliding window (at most `limit` weight in any `window_ns`
//! interval; every grant is remembered until it leaves the window). A key draws on one or more pools,
//! each with its own weight per unit, so linked budgets are one acquire: Lighter's `sendTx` costs 6 in
//! the account's weighted rolling minute and 1 in its per-tx-type limit.
//!
//! `acquire` is all-or-nothing across the pools of the request: it returns 0 and consumes from every
//! pool, or returns the wait in ns after which the same request will be granted if nothing else
//! consumes meanwhile, and consumes nothing. Time is whatever the caller passes (monotonic ns); a
//! time earlier than one already seen by a pool is treated as that later time, so a pool never
//! un-spends budget.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: key names are short and trusted (from our own config), so a fast non-keyed hash is right
/// for the per-acquire lookup (SipHash costs more than the rest of an acquire).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type KeyMap = HashMap<String, usize, BuildHasherDefault<Fnv>>;

/// A pool's shape as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolSpec {
    TokenBucket { capacity: u64, refill: u64, window_ns: u64 },
    SlidingWindow { limit: u64, window_ns: u64 },
}

/// The limiter's configuration: pools by name and keys by name (key -> [(pool, weight per unit)]).
#[derive(Clone, Debug, Default)]
pub struct LimiterConfig {
    pub pools: Vec<(String, PoolSpec)>,
    pub keys: Vec<(String, Vec<(String, u64)>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimiterError {
    /// Bad configuration: `path` names the key/pool and field (e.g. `pools.rest.window_ms`).
    Config { path: String, reason: String },
    UnknownKey(String),
    UnknownPool(String),
    /// The request can never be granted: it needs more than the pool can ever hold.
    TooHeavy { key: String, pool: String, demand: u64, budget: u64 },
}

impl fmt::Display for LimiterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimiterError::Config { path, reason } => write!(f, "rate limit config: {path}: {reason}"),
            LimiterError::UnknownKey(k) => write!(f, "unknown rate-limit key '{k}'"),
            LimiterError::UnknownPool(p) => write!(f, "unknown rate-limit pool '{p}'"),
            LimiterError::TooHeavy { key, pool, demand, budget } => write!(
                f,
                "key '{key}': weight {demand} in pool '{pool}' exceeds its budget {budget}; it could never be granted"
            ),
        }
    }
}

impl std::error::Error for LimiterError {}

#[derive(Debug)]
struct TokenBucket {
    capacity: u64,
    refill: u64,
    window_ns: u64,
    /// Tokens times `window_ns`, so refilling `refill` per window is exact integer arithmetic.
    level: u128,
    last_ns: i64,
}

impl TokenBucket {
    fn advance(&mut self, now: i64) {
        if now > self.last_ns {
            let dt = (now - self.last_ns) as u128;
            let full = self.capacity as u128 * self.window_ns as u128;
            self.level = (self.level + dt * self.refill as u128).min(full);
            self.last_ns = now;
        }
    }

    fn wait(&mut self, now: i64, demand: u64) -> u64 {
        self.advance(now);
        let need = demand as u128 * self.window_ns as u128;
        if self.level >= need {
            0
        } else {
            // ceil(deficit / refill): at now + wait the level has reached `need` exactly or more.
            let deficit = need - self.level;
            deficit.div_ceil(self.refill as u128).min(u64::MAX as u128) as u64
        }
    }

    fn consume(&mut self, demand: u64) {
        self.level -= demand as u128 * self.window_ns as u128;
    }

    fn available(&mut self, now: i64) -> u64 {
        self.advance(now);
        (self.level / self.window_ns as u128) as u64
    }
}

#[derive(Debug)]
struct SlidingWindow {
    limit: u64,
    window_ns: u64,
    /// Grants still inside the window: (time, weight), oldest first; same-time grants merged.
    grants: VecDeque<(i64, u64)>,
    used: u64,
    last_ns: i64,
}

impl SlidingWindow {
    fn advance(&mut self, now: i64) -> i64 {
        let now = now.max(self.last_ns);
        self.last_ns = now;
        // A grant at t counts during [t, t + window).
        while let Some(&(t, w)) = self.grants.front() {
            if (now as i128) - (t as i128) >= self.window_ns as i128 {
                self.grants.pop_front();
                self.used -= w;
            } else {
                break;
            }
        }
        now
    }

    fn wait(&mut self, now: i64, demand: u64) -> u64 {
        let now = self.advance(now);
        if self.used + demand <= self.limit {
            return 0;
        }
        // Oldest grants leave first: wait until enough of them have left to make room.
        let mut to_free = self.used + demand - self.limit;
        for &(t, w) in &self.grants {
            if w >= to_free {
                return (t as i128 + self.window_ns as i128 - now as i128).max(1) as u64;
            }
            to_free -= w;
        }
        unreachable!("demand <= limit is checked before, so freeing every grant makes room")
    }

    fn consume(&mut self, demand: u64) {
        let now = self.last_ns;
        match self.grants.back_mut() {
            Some((t, w)) if *t == now => *w += demand,
            _ => self.grants.push_back((now, demand)),
        }
        self.used += demand;
    }

    fn available(&mut self, now: i64) -> u64 {
        self.advance(now);
        self.limit - self.used
    }
}

#[derive(Debug)]
enum Pool {
    Bucket(TokenBucket),
    Window(SlidingWindow),
}

impl Pool {
    fn new(spec: &PoolSpec) -> Pool {
        match *spec {
            PoolSpec::TokenBucket { capacity, refill, window_ns } => Pool::Bucket(TokenBucket {
                capacity,
                refill,
                window_ns,
                level: capacity as u128 * window_ns as u128,
                last_ns: i64::MIN,
            }),
            PoolSpec::SlidingWindow { limit, window_ns } => Pool::Window(SlidingWindow {
                limit,
                window_ns,
                grants: VecDeque::new(),
                used: 0,
                last_ns: i64::MIN,
            }),
        }
    }

    fn budget(&self) -> u64 {
        match self {
            Pool::Bucket(b) => b.capacity,
            Pool::Window(w) => w.limit,
        }
    }

    fn wait(&mut self, now: i64, demand: u64) -> u64 {
        match self {
            Pool::Bucket(b) => {
                if b.last_ns == i64::MIN {
                    b.last_ns = now;
                }
                b.wait(now, demand)
            }
            Pool::Window(w) => w.wait(now, demand),
        }
    }

    fn consume(&mut self, demand: u64) {
        match self {
            Pool::Bucket(b) => b.consume(demand),
            Pool::Window(w) => w.consume(demand),
        }
    }

    fn available(&mut self, now: i64) -> u64 {
        match self {
            Pool::Bucket(b) => {
                if b.last_ns == i64::MIN {
                    b.last_ns = now;
                }
                b.available(now)
            }
            Pool::Window(w) => w.available(now),
        }
    }
}

fn blocked_wait(blocked_until: i64, now: i64) -> u64 {
    if now < blocked_until {
        (blocked_until as i128 - now as i128) as u64
    } else {
        0
    }
}

struct KeyDef {
    name: String,
    /// (pool index, weight per unit)
    draws: Vec<(usize, u64)>,
}

pub struct RateLimiter {
    pool_names: Vec<String>,
    pools: Vec<Pool>,
    /// Per pool: refuse everything before this time (`block_until`, e.g. after a venue's 429).
    blocked_until: Vec<i64>,
    keys: Vec<KeyDef>,
    key_index: KeyMap,
    /// Scratch for aggregating one request's demand per pool (no allocation per acquire).
    demand: Vec<(usize, u64)>,
}

fn cfg_err(path: String, reason: impl Into<String>) -> LimiterError {
    LimiterError::Config { path, reason: reason.into() }
}

impl RateLimiter {
    pub fn new(config: &LimiterConfig) -> Result<Self, LimiterError> {
        let mut pool_names = Vec::new();
        let mut pools = Vec::new();
        let mut pool_index: HashMap<&str, usize> = HashMap::new();
        for (name, spec) in &config.pools {
            let at = |field: &str| format!("pools.{name}.{field}");
            let (budget_field, budget, window_ns) = match *spec {
                PoolSpec::TokenBucket { capacity, refill, window_ns } => {
                    if refill == 0 {
                        return Err(cfg_err(at("refill"), "must be a positive integer"));
                    }
                    ("capacity", capacity, window_ns)
                }
                PoolSpec::SlidingWindow { limit, window_ns } => ("limit", limit, window_ns),
            };
            if budget == 0 {
                return Err(cfg_err(at(budget_field), "must be a positive integer"));
            }
            if window_ns == 0 || window_ns > i64::MAX as u64 {
                return Err(cfg_err(at("window_ms"), "must be a positive integer"));
            }
            if pool_index.insert(name.as_str(), pools.len()).is_some() {
                return Err(cfg_err(format!("pools.{name}"), "defined twice"));
            }
            pool_names.push(name.clone());
            pools.push(Pool::new(spec));
        }
        let mut keys = Vec::new();
        let mut key_index = KeyMap::default();
        for (name, draws) in &config.keys {
            if draws.is_empty() {
                return Err(cfg_err(format!("keys.{name}"), "draws on no pool"));
            }
            let mut resolved = Vec::with_capacity(draws.len());
            for (pool, weight) in draws {
                let Some(&idx) = pool_index.get(pool.as_str()) else {
                    return Err(cfg_err(format!("keys.{name}.{pool}"), "no such pool"));
                };
                if *weight == 0 {
                    return Err(cfg_err(format!("keys.{name}.{pool}"), "weight must be a positive integer"));
                }
                if *weight > pools[idx].budget() {
                    return Err(cfg_err(
                        format!("keys.{name}.{pool}"),
                        format!("weight {weight} exceeds the pool's budget {}", pools[idx].budget()),
                    ));
                }
                resolved.push((idx, *weight));
            }
            if key_index.insert(name.clone(), keys.len()).is_some() {
                return Err(cfg_err(format!("keys.{name}"), "defined twice"));
            }
            keys.push(KeyDef { name: name.clone(), draws: resolved });
        }
        let blocked_until = vec![i64::MIN; pools.len()];
        Ok(RateLimiter { pool_names, pools, blocked_until, keys, key_index, demand: Vec::new() })
    }

    /// Take `weight` units of `key` now (returns 0), or return how long to wait (consumes nothing).
    pub fn acquire(&mut self, key: &str, weight: u64, now_ns: i64) -> Result<u64, LimiterError> {
        // The one-key path of `acquire_many`, without the demand aggregation (a key's pools are distinct).
        let &k = self.key_index.get(key).ok_or_else(|| LimiterError::UnknownKey(key.to_string()))?;
        let draws = &self.keys[k].draws;
        let pools = &mut self.pools;
        let mut wait = 0u64;
        for &(pool, per_unit) in draws {
            let demand = per_unit.saturating_mul(weight);
            let budget = pools[pool].budget();
            if demand > budget {
                let pool = self.pool_names[pool].clone();
                return Err(LimiterError::TooHeavy { key: key.to_string(), pool, demand, budget });
            }
        }
        if weight == 0 {
            return Ok(0);
        }
        for &(pool, per_unit) in draws {
            wait = wait.max(pools[pool].wait(now_ns, per_unit * weight));
            wait = wait.max(blocked_wait(self.blocked_until[pool], now_ns));
        }
        if wait == 0 {
            for &(pool, per_unit) in draws {
                pools[pool].consume(per_unit * weight);
            }
        }
        Ok(wait)
    }

    /// The wait `acquire` would return, without consuming.
    pub fn would_wait(&mut self, key: &str, weight: u64, now_ns: i64) -> Result<u64, LimiterError> {
        self.acquire_many(&[(key, weight)], now_ns, false)
    }

    /// Several keys as one all-or-nothing request (e.g. sendTxBatch plus n tx-type units).
    pub fn acquire_many(
        &mut self,
        request: &[(&str, u64)],
        now_ns: i64,
        consume: bool,
    ) -> Result<u64, LimiterError> {
        self.demand.clear();
        for &(key, weight) in request {
            let &k = self.key_index.get(key).ok_or_else(|| LimiterError::UnknownKey(key.to_string()))?;
            for &(pool, per_unit) in &self.keys[k].draws {
                let add = per_unit.saturating_mul(weight);
                match self.demand.iter_mut().find(|(p, _)| *p == pool) {
                    Some((_, d)) => *d = d.saturating_add(add),
                    None => self.demand.push((pool, add)),
                }
            }
        }
        // Validate before touching any pool, so a bad request changes nothing.
        for &(pool, demand) in &self.demand {
            let budget = self.pools[pool].budget();
            if demand > budget {
                let key = request
                    .iter()
                    .find(|(k, _)| self.keys[self.key_index[*k]].draws.iter().any(|(p, _)| *p == pool))
                    .map(|(k, _)| k.to_string())
                    .unwrap_or_default();
                return Err(LimiterError::TooHeavy { key, pool: self.pool_names[pool].clone(), demand, budget });
            }
        }
        let mut wait = 0u64;
        for &(pool, demand) in &self.demand {
            if demand > 0 {
                wait = wait.max(self.pools[pool].wait(now_ns, demand));
                wait = wait.max(blocked_wait(self.blocked_until[pool], now_ns));
            }
        }
        if wait == 0 && consume {
            for &(pool, demand) in &self.demand {
                if demand > 0 {
                    self.pools[pool].consume(demand);
                }
            }
        }
        Ok(wait)
    }

    /// Refuse every request that draws on `pool` before `until_ns` (the venue said 429 although our
    /// accounting allowed the request: its budget is tighter than configured, or shared with another
    /// client). Budget is not consumed; a later `until_ns` extends the block, an earlier one is ignored.
    pub fn block_until(&mut self, pool: &str, until_ns: i64) -> Result<(), LimiterError> {
        let idx = self.pool_index(pool)?;
        self.blocked_until[idx] = self.blocked_until[idx].max(until_ns);
        Ok(())
    }

    fn pool_index(&self, pool: &str) -> Result<usize, LimiterError> {
        self.pool_names.iter().position(|p| p == pool).ok_or_else(|| LimiterError::UnknownPool(pool.to_string()))
    }

    /// Budget left in a pool now (whole tokens for a bucket, weight for a window).
    pub fn available(&mut self, pool: &str, now_ns: i64) -> Result<u64, LimiterError> {
        let idx = self.pool_index(pool)?;
        Ok(self.pools[idx].available(now_ns))
    }

    pub fn key_names(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.name.as_str())
    }

    pub fn pool_names(&self) -> impl Iterator<Item = &str> {
        self.pool_names.iter().map(|p| p.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEC: u64 = 1_000_000_000;

    fn lighter_like() -> RateLimiter {
        RateLimiter::new(&LimiterConfig {
            pools: vec![
                ("rest".into(), PoolSpec::SlidingWindow { limit: 24, window_ns: 60 * SEC }),
                ("tx".into(), PoolSpec::TokenBucket { capacity: 2, refill: 2, window_ns: 60 * SEC }),
            ],
            keys: vec![
                ("sendTx".into(), vec![("rest".into(), 6), ("tx".into(), 1)]),
                ("account".into(), vec![("rest".into(), 12)]),
            ],
        })
        .unwrap()
    }

    #[test]
    fn linked_pools_share_the_budget() {
        let mut l = lighter_like();
        let t0 = 1_000;
        assert_eq!(l.acquire("account", 1, t0).unwrap(), 0);
        assert_eq!(l.acquire("sendTx", 1, t0).unwrap(), 0);
        assert_eq!(l.available("rest", t0).unwrap(), 6);
        assert_eq!(l.available("tx", t0).unwrap(), 1);
        assert_eq!(l.acquire("sendTx", 1, t0).unwrap(), 0);
        // rest window full (24): the next sendTx waits until the first grant leaves the window.
        let w = l.acquire("sendTx", 1, t0 + 5).unwrap();
        assert_eq!(w, 60 * SEC - 5);
        assert_eq!(l.available("tx", t0 + 5).unwrap(), 0);
        // Nothing was consumed by the refused request.
        assert_eq!(l.available("rest", t0 + 5).unwrap(), 0);
        // At exactly +60 s the account grant leaves; tx bucket has refilled 2 by then.
        assert_eq!(l.acquire("sendTx", 1, t0 + 5 + w as i64).unwrap(), 0);
    }

    #[test]
    fn token_bucket_wait_is_exact() {
        let mut l = RateLimiter::new(&LimiterConfig {
            pools: vec![("b".into(), PoolSpec::TokenBucket { capacity: 3, refill: 3, window_ns: 3 * SEC })],
            keys: vec![("k".into(), vec![("b".into(), 1)])],
        })
        .unwrap();
        assert_eq!(l.acquire("k", 3, 0).unwrap(), 0);
        assert_eq!(l.would_wait("k", 1, 0).unwrap(), SEC);
        assert_eq!(l.acquire("k", 2, 0).unwrap(), 2 * SEC);
        assert_eq!(l.acquire("k", 2, 2 * SEC as i64 - 1).unwrap(), 1);
        assert_eq!(l.acquire("k", 2, 2 * SEC as i64).unwrap(), 0);
        // A clock going backwards does not refill or un-spend.
        assert_eq!(l.acquire("k", 1, 0).unwrap(), SEC);
    }

    #[test]
    fn errors_name_key_pool_and_field() {
        let mut l = lighter_like();
        assert_eq!(l.acquire("nope", 1, 0), Err(LimiterError::UnknownKey("nope".into())));
        let e = l.acquire("sendTx", 5, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "key 'sendTx': weight 30 in pool 'rest' exceeds its budget 24; it could never be granted"
        );
        assert_eq!(l.available("rest", 0).unwrap(), 24, "failed request consumed nothing");
        let bad = RateLimiter::new(&LimiterConfig {
            pools: vec![("p".into(), PoolSpec::SlidingWindow { limit: 0, window_ns: SEC })],
            keys: vec![],
        });
        assert_eq!(bad.err().unwrap().to_string(), "rate limit config: pools.p.limit: must be a positive integer");
        let bad = RateLimiter::new(&LimiterConfig {
            pools: vec![("p".into(), PoolSpec::SlidingWindow { limit: 5, window_ns: SEC })],
            keys: vec![("k".into(), vec![("q".into(), 1)])],
        });
        assert!(bad.err().unwrap().to_string().contains("keys.k.q: no such pool"));
    }

    #[test]
    fn acquire_many_is_all_or_nothing() {
        let mut l = lighter_like();
        // 2 sendTx (12 rest, 2 tx) + account (12 rest) = 24 rest: fits.
        assert_eq!(l.acquire_many(&[("sendTx", 2), ("account", 1)], 0, true).unwrap(), 0);
        let mut l = lighter_like();
        l.acquire("account", 1, 0).unwrap();
        assert!(l.acquire_many(&[("sendTx", 2), ("account", 1)], 0, true).unwrap() > 0);
        assert_eq!(l.available("tx", 0).unwrap(), 2);
        assert_eq!(l.available("rest", 0).unwrap(), 12);
    }

    #[test]
    fn block_until_refuses_until_then() {
        let mut l = lighter_like();
        l.block_until("tx", 5 * SEC as i64).unwrap();
        assert_eq!(l.acquire("sendTx", 1, SEC as i64).unwrap(), 4 * SEC);
        assert_eq!(l.acquire("account", 1, SEC as i64).unwrap(), 0, "other pools unaffected");
        l.block_until("tx", 2 * SEC as i64).unwrap(); // earlier: ignored
        assert_eq!(l.acquire_many(&[("sendTx", 1)], 5 * SEC as i64 - 1, true).unwrap(), 1);
        assert_eq!(l.acquire("sendTx", 1, 5 * SEC as i64).unwrap(), 0);
        assert_eq!(l.block_until("nope", 0), Err(LimiterError::UnknownPool("nope".into())));
    }

    #[derive(Debug, Clone)]
    struct Step {
        dt: u64,
        weight: u64,
    }

    proptest! {
        /// Sliding window: in every window-length interval the granted weight never exceeds the
        /// limit, and retrying at now + wait succeeds when nothing else consumed.
        #[test]
        fn window_never_over_budget(
            limit in 1u64..50,
            window in 1u64..1000,
            steps in proptest::collection::vec((0u64..400, 1u64..50).prop_map(|(dt, weight)| Step { dt, weight }), 1..150),
        ) {
            let mut l = RateLimiter::new(&LimiterConfig {
                pools: vec![("w".into(), PoolSpec::SlidingWindow { limit, window_ns: window })],
                keys: vec![("k".into(), vec![("w".into(), 1)])],
            }).unwrap();
            let mut now = 0i64;
            let mut granted: Vec<(i64, u64)> = Vec::new();
            for s in steps {
                now += s.dt as i64;
                let weight = s.weight.min(limit);
                let wait = l.acquire("k", weight, now).unwrap();
                if wait == 0 {
                    granted.push((now, weight));
                } else {
                    prop_assert_eq!(l.would_wait("k", weight, now + wait as i64 - 1).unwrap() > 0, true);
                    prop_assert_eq!(l.acquire("k", weight, now + wait as i64).unwrap(), 0);
                    now += wait as i64;
                    granted.push((now, weight));
                }
                let in_window: u64 = granted.iter().filter(|(t, _)| now - t < window as i64).map(|(_, w)| w).sum();
                prop_assert!(in_window <= limit, "{} > {}", in_window, limit);
            }
        }

        /// Token bucket: over any interval the grants never exceed capacity + refill * elapsed / window,
        /// and the wait is exact (one ns earlier is refused).
        #[test]
        fn bucket_never_over_budget(
            capacity in 1u64..50,
            refill in 1u64..50,
            window in 1u64..1000,
            steps in proptest::collection::vec((0u64..400, 1u64..50).prop_map(|(dt, weight)| Step { dt, weight }), 1..150),
        ) {
            let mut l = RateLimiter::new(&LimiterConfig {
                pools: vec![("b".into(), PoolSpec::TokenBucket { capacity, refill, window_ns: window })],
                keys: vec![("k".into(), vec![("b".into(), 1)])],
            }).unwrap();
            let mut now = 0i64;
            let mut granted: Vec<(i64, u64)> = Vec::new();
            for s in steps {
                now += s.dt as i64;
                let weight = s.weight.min(capacity);
                let mut wait = l.acquire("k", weight, now).unwrap();
                if wait > 0 {
                    if wait > 1 {
                        prop_assert!(l.would_wait("k", weight, now + wait as i64 - 1).unwrap() > 0);
                    }
                    now += wait as i64;
                    wait = l.acquire("k", weight, now).unwrap();
                    prop_assert_eq!(wait, 0);
                }
                granted.push((now, weight));
            }
            for (i, &(start, _)) in granted.iter().enumerate() {
                let mut sum = 0u128;
                for &(t, w) in &granted[i..] {
                    sum += w as u128;
                    let allowed = capacity as u128 * window as u128 + refill as u128 * (t - start) as u128;
                    prop_assert!(sum * window as u128 <= allowed);
                }
            }
        }
    }
}
