//! What the precomputed-nonce pools (Backpack's ED25519 `nonce_pool`, Lighter's `lighter::pool`) share so
//! that their background refill never delays a signature on the order path.
//!
//! Two ways a refill thread could delay the order thread, and the rule for each:
//! - CPU: the refill is ~20 us of base-point multiply per entry. At normal priority it competes with the
//!   order thread for the machine's cores; a deployment with two vCPUs and a busy loop loses the order
//!   thread's core to it now and then. The refill thread therefore runs at the lowest priority
//!   (`lower_current_thread_priority`): it gets idle CPU, and an order never waits for it.
//! - The pool's lock: the refill holds it only to push one finished entry, but a low-priority thread can
//!   be preempted inside that window, and an order thread blocking on the lock would then wait for the
//!   scheduler to run the refill thread again (milliseconds under load). Signers therefore never block on
//!   the lock (`lock_without_waiting`): after a bounded spin they go without a pooled entry and sign the
//!   slow way (~20 us), which the pools already do when they are empty.

use std::sync::{Mutex, MutexGuard, TryLockError};

/// Spins on a contended pool lock before giving up: each is a failed try_lock (tens of ns), so the whole
/// spin stays under ~2 us, well below the ~20 us a signature without a pooled entry costs.
const LOCK_SPINS: u32 = 64;

/// Lower the calling thread to the lowest CPU priority the OS gives an unprivileged thread (nice 19 on
/// Linux, where `setpriority` on a thread id applies to that thread only). Best effort: elsewhere, or if
/// the call fails, the thread keeps its priority and the pools still work, only with the CPU contention
/// described above. True when the priority was lowered.
#[cfg(target_os = "linux")]
pub fn lower_current_thread_priority() -> bool {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    let Ok(tid) = libc::id_t::try_from(tid) else {
        return false;
    };
    // SAFETY: setpriority only reads its arguments; PRIO_PROCESS with a thread id addresses that one
    // thread on Linux.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, 19) == 0 }
}

/// Not done outside Linux (per-thread nice is Linux's): the pools run at normal priority there.
#[cfg(not(target_os = "linux"))]
pub fn lower_current_thread_priority() -> bool {
    false
}

/// The lock for a signer on the order path: Some after at most `LOCK_SPINS` attempts, None if another
/// thread keeps holding it (the caller then signs without a pooled entry). A poisoned lock is still
/// used: the pools' invariants hold between any two statements of their critical sections.
pub fn lock_without_waiting<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    for _ in 0..LOCK_SPINS {
        match m.try_lock() {
            Ok(g) => return Some(g),
            Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => std::hint::spin_loop(),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_held_lock_is_given_up_on_not_waited_for() {
        let m = Arc::new(Mutex::new(1u32));
        let held = m.lock().unwrap();
        let other = Arc::clone(&m);
        let got = std::thread::spawn(move || lock_without_waiting(&other).map(|g| *g))
            .join()
            .unwrap();
        assert_eq!(got, None);
        drop(held);
        assert_eq!(lock_without_waiting(&m).map(|g| *g), Some(1));
    }

    #[test]
    fn a_poisoned_lock_is_still_usable() {
        let m = Arc::new(Mutex::new(7u32));
        let p = Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let _g = p.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(lock_without_waiting(&m).map(|g| *g), Some(7));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_refill_priority_applies_to_the_calling_thread_only() {
        fn nice_of_this_thread() -> i32 {
            // SAFETY: as in lower_current_thread_priority.
            let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
            unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) }
        }
        let before = nice_of_this_thread();
        let lowered = std::thread::spawn(|| (lower_current_thread_priority(), nice_of_this_thread()))
            .join()
            .unwrap();
        assert_eq!(lowered, (true, 19));
        assert_eq!(nice_of_this_thread(), before, "the caller's priority moved");
    }
}
