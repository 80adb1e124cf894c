//! Precomputed Schnorr commitments: the base-point multiply of a Lighter signature, done ahead of time.
//!
//! A signature needs a random k and r = encode(k G) (~25 us), neither of which depends on the message.
//! A background thread draws k from the OS generator and computes r into a bounded pool; `sign` then
//! costs the message hash, the challenge hash and one scalar multiply-subtract. Rules that keep the key
//! safe (the same k signing two different messages reveals the key):
//! - Single use: an entry is moved out of the pool under a short lock and wiped after its signature.
//! - Fork rule: the pool remembers the process that made it; in another process (an `os.fork` child,
//!   which has a copy of the entries while the parent keeps using them) it hands out nothing, and the
//!   child signs with fresh nonces.
//! - Never block, never fail: an empty pool, or its lock held by the refill thread, makes `take` return
//!   None and the caller draws k inline (sign/refill.rs says why).
//! - Zeroize: entries are wiped when used or dropped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use zeroize::Zeroize;

use super::ecgfp5::{mul_generator, Scalar};
use super::goldilocks::Fp5;
use super::schnorr::random_scalar;
use crate::sign::refill::lock_without_waiting;

/// Largest pool accepted (80 bytes per entry).
pub const MAX_CAPACITY: usize = 65_536;
const RNG_RETRY: Duration = Duration::from_millis(100);

/// One nonce k and its commitment r = encode(k G).
pub struct Commitment {
    pub k: Scalar,
    pub r: Fp5,
}

impl Commitment {
    pub fn fresh() -> Result<Commitment, &'static str> {
        let k = random_scalar()?;
        let r = mul_generator(&k).encode();
        Ok(Commitment { k, r })
    }
}

impl Drop for Commitment {
    fn drop(&mut self) {
        self.k.0.zeroize();
    }
}

struct Shared {
    entries: Mutex<Vec<Commitment>>,
    wake: Condvar,
    stop: AtomicBool,
    capacity: usize,
    made: AtomicU64,
    used: AtomicU64,
    misses: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<Commitment>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counters for tests and stats: commitments made, used from the pool, and signatures that found it empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub capacity: usize,
    pub available: usize,
    pub made: u64,
    pub used: u64,
    pub misses: u64,
}

pub struct CommitmentPool {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    pid: u32,
}

impl CommitmentPool {
    /// Start the refill thread; it fills up to `capacity` and tops up whenever half is used.
    pub fn start(capacity: usize, thread_name: &str) -> std::io::Result<CommitmentPool> {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        let shared = Arc::new(Shared {
            entries: Mutex::new(Vec::with_capacity(capacity)),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            capacity,
            made: AtomicU64::new(0),
            used: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name(thread_name.to_owned()).spawn(move || refill(&worker))?;
        Ok(CommitmentPool { shared, thread: Some(thread), pid: std::process::id() })
    }

    /// One unused commitment, or None (empty pool, or another process than the one that made it).
    pub fn take(&self) -> Option<Commitment> {
        if std::process::id() != self.pid {
            return None;
        }
        let Some((entry, left)) = lock_without_waiting(&self.shared.entries).map(|mut entries| {
            let entry = entries.pop();
            (entry, entries.len())
        }) else {
            // The refill thread holds the lock (preempted mid-push): draw inline rather than wait for it.
            self.shared.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        match &entry {
            Some(_) => {
                self.shared.used.fetch_add(1, Ordering::Relaxed);
                if left <= self.shared.capacity / 2 {
                    self.shared.wake.notify_one();
                }
            }
            None => {
                self.shared.misses.fetch_add(1, Ordering::Relaxed);
                self.shared.wake.notify_one();
            }
        }
        entry
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            capacity: self.shared.capacity,
            available: self.shared.lock().len(),
            made: self.shared.made.load(Ordering::Relaxed),
            used: self.shared.used.load(Ordering::Relaxed),
            misses: self.shared.misses.load(Ordering::Relaxed),
        }
    }

    #[cfg(test)]
    fn pretend_forked(&mut self) {
        self.pid = self.pid.wrapping_add(1);
    }
}

fn refill(shared: &Shared) {
    while !shared.stop.load(Ordering::Acquire) {
        {
            let mut entries = shared.lock();
            while entries.len() > shared.capacity / 2 && !shared.stop.load(Ordering::Acquire) {
                entries = shared.wake.wait(entries).unwrap_or_else(|p| p.into_inner());
            }
        }
        // Fill to capacity, one commitment at a time outside the lock.
        while !shared.stop.load(Ordering::Acquire) {
            if shared.lock().len() >= shared.capacity {
                break;
            }
            match Commitment::fresh() {
                Ok(c) => {
                    shared.lock().push(c);
                    shared.made.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    std::thread::sleep(RNG_RETRY); // signing draws inline meanwhile
                    break;
                }
            }
        }
    }
}

impl Drop for CommitmentPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let _guard = self.shared.lock();
            self.shared.wake.notify_all();
        }
        if let Some(t) = self.thread.take() {
            if std::process::id() == self.pid {
                let _ = t.join();
            }
        }
        self.shared.lock().clear(); // each entry wipes itself
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::lighter::ecgfp5::mul_generator;

    fn wait_until(pool: &CommitmentPool, what: &str, done: impl Fn(&PoolStats) -> bool) {
        // Generous: an unoptimised test build on a loaded machine builds the generator table and each
        // commitment many times slower than a release build.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while std::time::Instant::now() < deadline {
            if done(&pool.stats()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the pool never {what}: {:?}", pool.stats());
    }

    fn wait_full(pool: &CommitmentPool) {
        wait_until(pool, "filled", |s| s.available == s.capacity);
    }

    #[test]
    fn entries_are_valid_single_use_and_refilled() {
        let pool = CommitmentPool::start(8, "t").unwrap();
        wait_full(&pool);
        let mut seen = Vec::new();
        for _ in 0..8 {
            let c = pool.take().expect("a full pool hands out entries");
            assert_eq!(mul_generator(&c.k).encode(), c.r, "r is k G");
            assert!(!seen.contains(&c.k.0), "every k is handed out once");
            seen.push(c.k.0);
        }
        // Topped up after use. The refill rule is "whenever half is used", so a take that lands just after
        // a top-up may leave it short of full until the next half is used (a wait for full raced).
        // Every entry made is used or still in the pool (read once the refill thread has settled).
        wait_until(&pool, "topped up", |s| {
            s.available > s.capacity / 2 && s.made - s.used == s.available as u64
        });
        let s = pool.stats();
        assert_eq!(s.used, 8);
        assert!(s.made > 8);
    }

    #[test]
    fn another_process_gets_nothing() {
        let mut pool = CommitmentPool::start(4, "t").unwrap();
        wait_full(&pool);
        pool.pretend_forked();
        assert!(pool.take().is_none());
        assert_eq!(pool.stats().available, 4, "the parent's entries are left alone");
    }

    #[test]
    fn drop_stops_the_thread() {
        let pool = CommitmentPool::start(2, "t").unwrap();
        wait_full(&pool);
        drop(pool); // joins; a hang here fails the test by timeout
    }
}
