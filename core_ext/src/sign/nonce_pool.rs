//! Presigned ED25519 nonces: the offline half of a Schnorr signature, computed ahead of time.
//!
//! An ED25519 signature (R, S) verifies under RFC 8032 for any nonce r with R = r*B, as long as
//! S = r + SHA-512(R || A || M) * s mod L. The verifier cannot tell how r was chosen, so the signatures
//! are standard ones. RFC 8032 derives r from the message (deterministic); here r is drawn ahead of time
//! by a background thread, which leaves the hot path one SHA-512, one scalar multiply-add and the
//! encoding (~1-2 us) instead of the base-point multiply R = r*B (~20 us).
//!
//! Rules that keep the key safe (two signatures with the same r and different messages reveal s):
//! - Hedged nonces: r = SHA-512(prefix || 64 bytes from the OS CSPRNG) mod L. The secret prefix (RFC 8032's
//!   second half of SHA-512(seed)) keeps r unpredictable even if the RNG is weak; fresh randomness keeps
//!   r unique. r never depends on the message, so precomputing it is possible.
//! - Single use: an entry is moved out of the pool under a short lock and dropped (zeroized) right after
//!   its one signature; the slot it left is wiped too.
//! - Fork rule: the pool records the process that created it (pid, and a fork generation that a
//!   pthread_atfork child handler bumps). In another process (an `os.fork` child) it is discarded
//!   without using any entry, because the parent keeps using the same entries: one r signing
//!   two different messages in two processes would reveal the key. The child then signs
//!   deterministically (RFC 8032), which is safe in any number of processes.
//! - Zeroize: the expanded key, every entry and the vacated slots are zeroized when dropped.
//! - Never block, never fail: an empty (or discarded) pool, or its lock held by the refill thread, makes
//!   `sign` return None and the caller signs deterministically (sign/refill.rs says why).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};
use std::thread::JoinHandle;
use std::time::Duration;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::{clamp_integer, Scalar};
use sha2::digest::generic_array::GenericArray;
use sha2::{Digest as _, Sha512};
use zeroize::Zeroize;

use crate::sign::refill::lock_without_waiting;

/// Largest pool accepted: 65,536 entries of 64 bytes (4 MiB), about 1.3 s of one core to fill. Far more
/// than any burst a signer needs between two refills.
pub const MAX_CAPACITY: usize = 65_536;

/// How long dropping the pool waits for the refill thread (it stops between two nonces, ~20 us apart).
const STOP_WAIT: Duration = Duration::from_secs(2);
/// Pause before retrying after the OS RNG failed (signing falls back meanwhile).
const RNG_RETRY: Duration = Duration::from_millis(100);

/// The signing key as RFC 8032 expands the seed: SHA-512(seed) = clamp(s) || prefix, and A = s*B.
pub struct ExpandedKey {
    s: Scalar,
    prefix: [u8; 32],
    public: [u8; 32],
}

impl Drop for ExpandedKey {
    fn drop(&mut self) {
        self.s.zeroize();
        self.prefix.zeroize();
    }
}

impl ExpandedKey {
    /// Expand `seed`; None if `public` is not the seed's public key (a guard against a mismatched pair).
    pub fn from_seed(seed: &[u8; 32], public: &[u8; 32]) -> Option<Self> {
        let mut h = [0u8; 64];
        sha512_into(&[seed], &mut h);
        let mut lower = [0u8; 32];
        lower.copy_from_slice(&h[..32]);
        // s is only ever used mod L (S = r + k*s mod L, and B has order L), so reducing it is exact.
        let key = ExpandedKey {
            s: Scalar::from_bytes_mod_order(clamp_integer(lower)),
            prefix: h[32..].try_into().unwrap_or([0u8; 32]),
            public: *public,
        };
        lower.zeroize();
        h.zeroize();
        (EdwardsPoint::mul_base(&key.s).compress().to_bytes() == *public).then_some(key)
    }

    /// A fresh hedged nonce and its commitment R = r*B. None only if the OS RNG fails.
    fn fresh_nonce(&self) -> Option<Nonce> {
        let mut noise = [0u8; 64];
        if aws_lc_rs::rand::fill(&mut noise).is_err() {
            return None;
        }
        let mut wide = [0u8; 64];
        sha512_into(&[&self.prefix, &noise], &mut wide);
        noise.zeroize();
        let r = Scalar::from_bytes_mod_order_wide(&wide);
        wide.zeroize();
        let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
        Some(Nonce { r, big_r })
    }

    /// The online half: S = r + SHA-512(R || A || M) * s mod L; the signature is R || S. Consumes the nonce.
    fn sign_with(&self, nonce: Nonce, msg: &[u8]) -> [u8; 64] {
        let mut wide = [0u8; 64];
        sha512_into(&[&nonce.big_r, &self.public, msg], &mut wide);
        let k = Scalar::from_bytes_mod_order_wide(&wide);
        let s_part = k * self.s + nonce.r;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&nonce.big_r);
        sig[32..].copy_from_slice(s_part.as_bytes());
        sig
    }
}

fn sha512_into(parts: &[&[u8]], out: &mut [u8; 64]) {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    h.finalize_into(GenericArray::from_mut_slice(out));
}

/// One precomputed nonce: r and the encoding of R = r*B. Not Clone: it is used once, then zeroized.
struct Nonce {
    r: Scalar,
    big_r: [u8; 32],
}

impl Zeroize for Nonce {
    fn zeroize(&mut self) {
        self.r.zeroize();
        self.big_r.zeroize();
    }
}

impl Drop for Nonce {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl Nonce {
    const WIPED: Nonce = Nonce {
        r: Scalar::ZERO,
        big_r: [0u8; 32],
    };
}

struct Slots {
    /// Capacity reserved up front and never exceeded, so the buffer is never reallocated (copied).
    entries: Vec<Nonce>,
    /// The refill thread sleeps until a signer takes the pool below the low-water mark and wakes it.
    refill_idle: bool,
}

impl Slots {
    fn take(&mut self) -> Option<Nonce> {
        let nonce = self.entries.pop()?;
        // The move out left the entry's bytes in the vacated slot: overwrite them.
        if let Some(slot) = self.entries.spare_capacity_mut().first_mut() {
            slot.write(Nonce::WIPED).zeroize();
        }
        Some(nonce)
    }
}

struct Shared {
    key: ExpandedKey,
    slots: Mutex<Slots>,
    wake: Condvar,
    stop: AtomicBool,
    capacity: usize,
    low_water: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counters of a signer's nonce use (see `NoncePool` and the signer that owns it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoncePoolStats {
    pub capacity: usize,
    pub available: usize,
    /// Signatures made with a pooled nonce.
    pub presigned: u64,
    /// Signatures made deterministically (pool empty, discarded after a fork, or disabled).
    pub fallbacks: u64,
}

/// Which process this is, cheaply. A pthread_atfork child handler bumps a process-wide counter, so the
/// per-signature check is one atomic load instead of a getpid() syscall (~0.2 us on this project's VMs).
/// Where the handler cannot be installed, the pid itself is compared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct ProcessMark {
    pid: u32,
    fork_generation: Option<u64>,
}

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

#[cfg(unix)]
extern "C" fn forked_child() {
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
}

fn fork_hook_installed() -> bool {
    static HOOK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    #[cfg(unix)]
    // SAFETY: registers a handler that only increments an atomic (async-signal-safe), once per process.
    return *HOOK
        .get_or_init(|| unsafe { libc::pthread_atfork(None, None, Some(forked_child)) } == 0);
    #[cfg(not(unix))]
    return *HOOK.get_or_init(|| true); // no fork() on this platform
}

impl ProcessMark {
    fn now() -> Self {
        ProcessMark {
            pid: std::process::id(),
            fork_generation: fork_hook_installed().then(|| FORK_GENERATION.load(Ordering::SeqCst)),
        }
    }

    fn is_current(&self) -> bool {
        match self.fork_generation {
            Some(g) => FORK_GENERATION.load(Ordering::Relaxed) == g,
            None => std::process::id() == self.pid,
        }
    }
}

/// A pool of presigned nonces for one key, kept near `capacity` by a named background thread.
pub struct NoncePool {
    shared: Arc<Shared>,
    /// The creating process (pid and fork generation): the pool is used in no other.
    owner: ProcessMark,
    /// Set once the pool was seen in another process (or stopped): never used again.
    forsaken: AtomicBool,
    presigned: AtomicU64,
    refill: Option<JoinHandle<()>>,
    /// Disconnects when the refill thread ends (it owns the sender). In a Mutex only to be Sync; used
    /// once, by Drop.
    refill_done: Mutex<Option<mpsc::Receiver<()>>>,
}

impl NoncePool {
    /// Start a pool of `capacity` (1..=MAX_CAPACITY) nonces; it fills in the background (until then,
    /// `sign` returns None).
    pub fn start(key: ExpandedKey, capacity: usize) -> std::io::Result<Self> {
        assert!(
            (1..=MAX_CAPACITY).contains(&capacity),
            "nonce pool capacity out of range (checked by the caller)"
        );
        let shared = Arc::new(Shared {
            key,
            slots: Mutex::new(Slots {
                entries: Vec::with_capacity(capacity),
                refill_idle: false,
            }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            capacity,
            // Refill once a quarter is used: bursts of signatures rarely find the pool empty.
            low_water: capacity - capacity / 4,
        });
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let worker = Arc::clone(&shared);
        let refill = std::thread::Builder::new()
            .name("xtb-nonce-pool".into())
            .spawn(move || {
                let _done = done_tx;
                refill_loop(&worker);
            })?;
        Ok(NoncePool {
            shared,
            owner: ProcessMark::now(),
            forsaken: AtomicBool::new(false),
            presigned: AtomicU64::new(0),
            refill: Some(refill),
            refill_done: Mutex::new(Some(done_rx)),
        })
    }

    /// Sign `msg` with a pooled nonce, or None when the pool is empty or may not be used (fork rule).
    pub fn sign(&self, msg: &[u8]) -> Option<[u8; 64]> {
        if !self.usable() {
            return None;
        }
        let nonce = {
            let mut slots = lock_without_waiting(&self.shared.slots)?;
            let nonce = slots.take();
            if slots.refill_idle && slots.entries.len() < self.shared.low_water {
                slots.refill_idle = false;
                self.shared.wake.notify_one();
            }
            nonce
        }?;
        let sig = self.shared.key.sign_with(nonce, msg);
        self.presigned.fetch_add(1, Ordering::Relaxed);
        Some(sig)
    }

    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Entries ready now (0 once the pool was discarded).
    pub fn available(&self) -> usize {
        if !self.usable() {
            return 0;
        }
        self.shared.lock().entries.len()
    }

    pub fn presigned(&self) -> u64 {
        self.presigned.load(Ordering::Relaxed)
    }

    /// True in the creating process; elsewhere discards the pool (once) and stays false.
    fn usable(&self) -> bool {
        if self.forsaken.load(Ordering::Relaxed) {
            return false;
        }
        if self.owner.is_current() {
            return true;
        }
        self.forsake();
        false
    }

    /// Discard every entry without using it. Never blocks: after a fork the refill thread does not
    /// exist in this process and may have held the lock at the fork, so only try it.
    fn forsake(&self) {
        self.forsaken.store(true, Ordering::Relaxed);
        let slots = match self.shared.slots.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        if let Some(mut slots) = slots {
            slots.entries.clear(); // each entry zeroizes itself in place
        }
    }
}

impl Drop for NoncePool {
    fn drop(&mut self) {
        if !self.owner.is_current() {
            // A fork child: the thread is not ours to stop or join (it does not exist here).
            self.forsake();
            std::mem::forget(self.refill.take());
            return;
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _slots = self.shared.lock();
            self.shared.wake.notify_all();
        }
        let finished = self
            .refill_done
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map(|rx| rx.recv_timeout(STOP_WAIT) == Err(mpsc::RecvTimeoutError::Disconnected))
            .unwrap_or(true);
        if let Some(handle) = self.refill.take() {
            if finished {
                let _ = handle.join();
            } // else: detached; it holds its own Arc and exits at its next stop check
        }
        self.forsake();
    }
}

fn refill_loop(shared: &Shared) {
    let mut slots = shared.lock();
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if slots.entries.len() >= shared.capacity {
            slots.refill_idle = true;
            while slots.refill_idle && !shared.stop.load(Ordering::SeqCst) {
                slots = shared.wake.wait(slots).unwrap_or_else(|p| p.into_inner());
            }
            continue;
        }
        drop(slots);
        // The expensive part runs without the lock, one nonce at a time, so a stop is seen within ~20 us.
        match shared.key.fresh_nonce() {
            Some(nonce) => {
                slots = shared.lock();
                // Only this thread adds entries, so there is room: the buffer never grows.
                slots.entries.push(nonce);
            }
            None => {
                std::thread::sleep(RNG_RETRY);
                slots = shared.lock();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
    use std::collections::HashSet;
    use std::time::Instant;

    fn key(seed: [u8; 32]) -> (ExpandedKey, VerifyingKey) {
        let vk = SigningKey::from_bytes(&seed).verifying_key();
        (ExpandedKey::from_seed(&seed, &vk.to_bytes()).unwrap(), vk)
    }

    fn full_pool(seed: [u8; 32], capacity: usize) -> (NoncePool, VerifyingKey) {
        let (k, vk) = key(seed);
        let pool = NoncePool::start(k, capacity).unwrap();
        wait_full(&pool);
        (pool, vk)
    }

    fn wait_full(pool: &NoncePool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while pool.available() < pool.capacity() {
            assert!(Instant::now() < deadline, "pool did not fill");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn mismatched_public_key_is_refused() {
        let other = SigningKey::from_bytes(&[9u8; 32])
            .verifying_key()
            .to_bytes();
        assert!(ExpandedKey::from_seed(&[7u8; 32], &other).is_none());
    }

    #[test]
    fn pooled_signatures_verify_and_differ() {
        let (pool, vk) = full_pool([3u8; 32], 8);
        let a = pool.sign(b"same message").unwrap();
        let b = pool.sign(b"same message").unwrap();
        assert_ne!(a[..32], b[..32], "two signatures of one message share R");
        for sig in [a, b] {
            vk.verify_strict(b"same message", &Signature::from_bytes(&sig))
                .unwrap();
        }
        assert_eq!(pool.presigned(), 2);
    }

    #[test]
    fn exhausted_pool_returns_none_then_refills() {
        let (pool, vk) = full_pool([5u8; 32], 4);
        // Signing is ~10x faster than refilling: a tight loop drains the pool (bounded).
        let mut signed = Vec::new();
        let mut none = 0;
        for i in 0..100_000u32 {
            match pool.sign(&i.to_le_bytes()) {
                Some(sig) => signed.push((i, sig)),
                None => none += 1,
            }
            if none > 0 && signed.len() >= 4 {
                break;
            }
        }
        assert!(
            signed.len() >= 4 && none > 0,
            "signed {}, none {none}",
            signed.len()
        );
        for (i, sig) in &signed {
            vk.verify_strict(&i.to_le_bytes(), &Signature::from_bytes(sig))
                .unwrap();
        }
        wait_full(&pool); // woken below the low-water mark, it refills to capacity
    }

    #[test]
    fn ten_thousand_signatures_never_repeat_r() {
        let (k, vk) = key([11u8; 32]);
        let pool = NoncePool::start(k, 512).unwrap();
        let mut seen = HashSet::new();
        let mut n = 0u32;
        let deadline = Instant::now() + Duration::from_secs(120);
        while seen.len() < 10_000 {
            assert!(
                Instant::now() < deadline,
                "too slow: {} signatures",
                seen.len()
            );
            match pool.sign(&n.to_le_bytes()) {
                Some(sig) => {
                    if n % 97 == 0 {
                        vk.verify_strict(&n.to_le_bytes(), &Signature::from_bytes(&sig))
                            .unwrap();
                    }
                    assert!(
                        seen.insert(<[u8; 32]>::try_from(&sig[..32]).unwrap()),
                        "R repeated"
                    );
                    n += 1;
                }
                None => std::thread::sleep(Duration::from_micros(200)),
            }
        }
    }

    #[test]
    fn concurrent_signers_never_share_r() {
        let (pool, vk) = full_pool([13u8; 32], 256);
        let pool = Arc::new(pool);
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let pool = Arc::clone(&pool);
                std::thread::spawn(move || {
                    let mut rs = Vec::new();
                    for i in 0..400u32 {
                        let msg = [&[t][..], &i.to_le_bytes()].concat();
                        if let Some(sig) = pool.sign(&msg) {
                            rs.push((msg, sig));
                        }
                    }
                    rs
                })
            })
            .collect();
        let mut seen = HashSet::new();
        for t in threads {
            for (msg, sig) in t.join().unwrap() {
                vk.verify_strict(&msg, &Signature::from_bytes(&sig))
                    .unwrap();
                assert!(
                    seen.insert(<[u8; 32]>::try_from(&sig[..32]).unwrap()),
                    "R shared"
                );
            }
        }
        assert!(seen.len() >= 256);
        assert_eq!(pool.presigned(), seen.len() as u64);
    }

    #[test]
    fn drop_mid_refill_returns_promptly() {
        for _ in 0..5 {
            let (k, _) = key([17u8; 32]);
            let pool = NoncePool::start(k, MAX_CAPACITY).unwrap();
            std::thread::sleep(Duration::from_millis(3)); // the thread is busy filling 65k entries
            assert!(pool.available() < MAX_CAPACITY);
            let t0 = Instant::now();
            drop(pool);
            assert!(
                t0.elapsed() < Duration::from_millis(500),
                "drop took {:?}",
                t0.elapsed()
            );
        }
    }

    #[test]
    fn taken_slot_is_wiped() {
        let (pool, _) = full_pool([19u8; 32], 2);
        let mut slots = pool.shared.lock();
        let n = slots.take().unwrap();
        assert_ne!(n.big_r, [0u8; 32]);
        // SAFETY: the vacated slot is inside the allocation (capacity 2, len 1) and holds initialised
        // bytes (the wipe wrote a Nonce there); read it as plain bytes.
        let vacated = unsafe {
            std::slice::from_raw_parts(
                slots.entries.as_ptr().add(1).cast::<u8>(),
                std::mem::size_of::<Nonce>(),
            )
        };
        assert!(vacated.iter().all(|b| *b == 0));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        /// For any seed and message, a pooled signature passes ed25519-dalek's strict verification.
        #[test]
        fn pooled_signatures_verify_strict(seed in proptest::array::uniform32(proptest::num::u8::ANY),
                                           msg in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let (k, vk) = key(seed);
            let nonce = k.fresh_nonce().unwrap();
            let sig = k.sign_with(nonce, &msg);
            proptest::prop_assert!(vk.verify_strict(&msg, &Signature::from_bytes(&sig)).is_ok());
        }
    }
}
