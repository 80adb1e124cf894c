//! GIL-free path to the Lighter signer: the lighter-sdk wheel's Go c-shared library, called from a Rust
//! thread that never touches Python.
//!
//! Why: a Python worker thread that releases the GIL for a 0.5 ms signature still makes the event loop
//! wait for the GIL when it hands the result back (multi-ms stalls, measured in bench_lighter_signer.py).
//! Here the signing thread is a plain `std::thread`; completed jobs go into a queue and the thread writes
//! one byte to a socket pair whose read end the loop watches (`loop.add_reader`), so the loop only ever
//! runs a short `drain()` on its own thread.
//!
//! The library is opened by path (the same file the Python side has already loaded with ctypes, so the
//! dynamic loader hands back the same handle and the Go client registered by `CreateClient` is shared).
//! The C signatures below are the ones of lighter-sdk 1.1.8's header; [`ABI`] lists them as text so the
//! Python side can compare them with the installed header and refuse this path on any drift.

use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// The header declarations this module was compiled against, as `(C type, name)` pairs normalized the
/// way `xtb.signing.lighter_lib.parse_header` writes them.
pub mod abi {
    /// `(C type, name)` pairs: a struct's fields or a function's parameters, in order.
    pub type Decls = &'static [(&'static str, &'static str)];

    pub const SIGNED_TX_RESPONSE: Decls = &[
        ("uint8_t", "txType"),
        ("char*", "txInfo"),
        ("char*", "txHash"),
        ("char*", "messageToSign"),
        ("char*", "err"),
    ];
    pub const SIGN_CREATE_ORDER: Decls = &[
        ("long long int", "cMarketIndex"),
        ("long long int", "cClientOrderIndex"),
        ("long long int", "cBaseAmount"),
        ("int", "cPrice"),
        ("int", "cIsAsk"),
        ("int", "cOrderType"),
        ("int", "cTimeInForce"),
        ("int", "cReduceOnly"),
        ("int", "cTriggerPrice"),
        ("long long int", "cOrderExpiry"),
        ("long long int", "cIntegratorAccountIndex"),
        ("int", "cIntegratorTakerFee"),
        ("int", "cIntegratorMakerFee"),
        ("uint8_t", "cSelfTradeBehaviorMode"),
        ("uint8_t", "cSelfTradeEqualityMode"),
        ("uint8_t", "cSkipNonce"),
        ("long long int", "cNonce"),
        ("int", "cApiKeyIndex"),
        ("long long int", "cAccountIndex"),
    ];
    pub const SIGN_CANCEL_ORDER: Decls = &[
        ("long long int", "cMarketIndex"),
        ("long long int", "cOrderIndex"),
        ("uint8_t", "cSkipNonce"),
        ("long long int", "cNonce"),
        ("int", "cApiKeyIndex"),
        ("long long int", "cAccountIndex"),
    ];
    pub const FREE: Decls = &[("void*", "ptr")];
    /// (function, return type, parameters)
    pub const FUNCTIONS: &[(&str, &str, Decls)] = &[
        ("SignCreateOrder", "SignedTxResponse", SIGN_CREATE_ORDER),
        ("SignCancelOrder", "SignedTxResponse", SIGN_CANCEL_ORDER),
        ("Free", "void", FREE),
    ];
}

/// `SignedTxResponse` as the cgo header lays it out; returned by value.
#[repr(C)]
struct SignedTxResponse {
    tx_type: u8,
    tx_info: *mut c_char,
    tx_hash: *mut c_char,
    message_to_sign: *mut c_char,
    err: *mut c_char,
}

type SignCreateOrderFn = unsafe extern "C" fn(
    i64, i64, i64, c_int, c_int, c_int, c_int, c_int, c_int, i64, i64, c_int, c_int, u8, u8, u8, i64, c_int, i64,
) -> SignedTxResponse;
type SignCancelOrderFn = unsafe extern "C" fn(i64, i64, u8, i64, c_int, i64) -> SignedTxResponse;
type FreeFn = unsafe extern "C" fn(*mut c_void);

/// CreateOrder arguments in the header's order and C widths (`price`/`trigger_price` carry uint32 bits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateOrderArgs {
    pub market_index: i64,
    pub client_order_index: i64,
    pub base_amount: i64,
    pub price: i32,
    pub is_ask: i32,
    pub order_type: i32,
    pub time_in_force: i32,
    pub reduce_only: i32,
    pub trigger_price: i32,
    pub order_expiry: i64,
    pub integrator_account_index: i64,
    pub integrator_taker_fee: i32,
    pub integrator_maker_fee: i32,
    pub self_trade_behavior: u8,
    pub self_trade_equality: u8,
    pub nonce: i64,
    pub api_key_index: i32,
    pub account_index: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelOrderArgs {
    pub market_index: i64,
    pub order_index: i64,
    pub nonce: i64,
    pub api_key_index: i32,
    pub account_index: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignRequest {
    CreateOrder(CreateOrderArgs),
    CancelOrder(CancelOrderArgs),
}

impl SignRequest {
    fn nonce(&self) -> i64 {
        match self {
            SignRequest::CreateOrder(a) => a.nonce,
            SignRequest::CancelOrder(a) => a.nonce,
        }
    }
}

/// What the library returned for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub tx_type: u8,
    pub tx_info: Option<String>,
    pub tx_hash: Option<String>,
}

/// One finished job: `Err` carries the library's message (or why the job was not signed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub job_id: u64,
    pub result: Result<Signed, String>,
}

/// Something that signs requests; the Go library in production, fakes in tests.
pub trait SignBackend: Send + 'static {
    fn sign(&mut self, request: &SignRequest) -> Result<Signed, String>;
}

/// The Go library's exports resolved from an opened binary.
pub struct GoLibrary {
    create_order: SignCreateOrderFn,
    cancel_order: SignCancelOrderFn,
    free: FreeFn,
}

impl GoLibrary {
    /// Open the signer binary at `path` and resolve the exports used here.
    pub fn open(path: &Path) -> Result<Self, String> {
        let name = path.display();
        // SAFETY: loading runs the library's initializers (the Go runtime start); this is the same binary
        // the Python side has already loaded, so they have run once already in this process.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| format!("cannot load {name}: {e}"))?;
        // A Go runtime can never be unloaded: keep the handle for the life of the process.
        let lib: &'static libloading::Library = Box::leak(Box::new(lib));
        // SAFETY: the types are the header's (lighter-sdk 1.1.8); the Python side checks the installed
        // header against `abi` before it creates this object.
        unsafe {
            Ok(GoLibrary {
                create_order: *resolve::<SignCreateOrderFn>(lib, b"SignCreateOrder\0")?,
                cancel_order: *resolve::<SignCancelOrderFn>(lib, b"SignCancelOrder\0")?,
                free: *resolve::<FreeFn>(lib, b"Free\0")?,
            })
        }
    }

    /// Copy a library-owned C string and give it back to the library's `Free`.
    ///
    /// # Safety
    /// `ptr` is null or a NUL-terminated string allocated by this library and not yet freed.
    unsafe fn take(&self, ptr: *mut c_char) -> Option<String> {
        if ptr.is_null() {
            return None;
        }
        let text = CStr::from_ptr(ptr).to_string_lossy().into_owned();
        (self.free)(ptr.cast());
        Some(text)
    }

    fn decode(&self, out: SignedTxResponse) -> Result<Signed, String> {
        // SAFETY: every pointer in the response is null or a fresh C.CString owned by us now.
        let (tx_info, tx_hash, err) = unsafe {
            let tx_info = self.take(out.tx_info);
            let tx_hash = self.take(out.tx_hash);
            self.take(out.message_to_sign); // only L1-signed tx types set it; always free it
            (tx_info, tx_hash, self.take(out.err))
        };
        match err {
            Some(message) => Err(message),
            None => Ok(Signed { tx_type: out.tx_type, tx_info, tx_hash }),
        }
    }
}

/// # Safety
/// `T` must be the exact function pointer type of the export `symbol`.
unsafe fn resolve<T>(lib: &'static libloading::Library, symbol: &[u8]) -> Result<libloading::Symbol<'static, T>, String> {
    lib.get::<T>(symbol).map_err(|e| {
        let name = String::from_utf8_lossy(&symbol[..symbol.len() - 1]);
        format!("the Lighter signer library does not export {name}: {e}")
    })
}

impl SignBackend for GoLibrary {
    fn sign(&mut self, request: &SignRequest) -> Result<Signed, String> {
        // Nonce -1 would make the library fetch a nonce over HTTP: never let it through.
        if request.nonce() < 0 {
            return Err(format!("nonce must be >= 0, got {}", request.nonce()));
        }
        const EXPLICIT_NONCE: u8 = 0; // cSkipNonce
        // SAFETY: argument types and order are the header's (see `abi`); the response is decoded and its
        // strings freed exactly once in `decode`.
        let out = unsafe {
            match request {
                SignRequest::CreateOrder(a) => (self.create_order)(
                    a.market_index,
                    a.client_order_index,
                    a.base_amount,
                    a.price,
                    a.is_ask,
                    a.order_type,
                    a.time_in_force,
                    a.reduce_only,
                    a.trigger_price,
                    a.order_expiry,
                    a.integrator_account_index,
                    a.integrator_taker_fee,
                    a.integrator_maker_fee,
                    a.self_trade_behavior,
                    a.self_trade_equality,
                    EXPLICIT_NONCE,
                    a.nonce,
                    a.api_key_index,
                    a.account_index,
                ),
                SignRequest::CancelOrder(a) => {
                    (self.cancel_order)(a.market_index, a.order_index, EXPLICIT_NONCE, a.nonce, a.api_key_index, a.account_index)
                }
            }
        };
        self.decode(out)
    }
}

/// Message of a job that was still queued when the signer closed.
pub const CLOSED_MESSAGE: &str = "signer closed before this request was signed";

struct Shared {
    completed: Mutex<VecDeque<Completion>>,
    closing: AtomicBool,
}

impl Shared {
    fn completed(&self) -> MutexGuard<'_, VecDeque<Completion>> {
        self.completed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A signing thread with a job channel, a completion queue and a readiness fd.
pub struct NativeSigner {
    jobs: Option<Sender<(u64, SignRequest)>>,
    shared: Arc<Shared>,
    wake_read: UnixStream,
    worker: Option<JoinHandle<()>>,
    next_id: u64,
}

impl NativeSigner {
    pub fn start(mut backend: impl SignBackend, thread_name: &str) -> std::io::Result<Self> {
        let (wake_read, mut wake_write) = UnixStream::pair()?;
        wake_read.set_nonblocking(true)?;
        // Never block the signing thread on a full buffer: a full buffer already means "readable".
        wake_write.set_nonblocking(true)?;
        let shared = Arc::new(Shared { completed: Mutex::new(VecDeque::new()), closing: AtomicBool::new(false) });
        let (tx, rx) = channel::<(u64, SignRequest)>();
        let worker_shared = Arc::clone(&shared);
        let worker = std::thread::Builder::new().name(thread_name.to_owned()).spawn(move || {
            while let Ok((job_id, request)) = rx.recv() {
                let result = if worker_shared.closing.load(Ordering::Acquire) {
                    Err(CLOSED_MESSAGE.to_owned())
                } else {
                    catch_unwind(AssertUnwindSafe(|| backend.sign(&request)))
                        .unwrap_or_else(|panic| Err(format!("signer panicked: {}", panic_message(&*panic))))
                };
                worker_shared.completed().push_back(Completion { job_id, result });
                match wake_write.write(&[1]) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {} // the reader is gone: nobody is waiting for results any more
                }
            }
        })?;
        Ok(NativeSigner { jobs: Some(tx), shared, wake_read, worker: Some(worker), next_id: 1 })
    }

    /// The fd that becomes readable when completions are waiting (watch it with `loop.add_reader`).
    pub fn wake_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.wake_read.as_raw_fd()
    }

    /// Queue a request; returns its job id.
    pub fn submit(&mut self, request: SignRequest) -> Result<u64, String> {
        let jobs = self.jobs.as_ref().ok_or_else(|| "signer is closed".to_owned())?;
        let id = self.next_id;
        jobs.send((id, request)).map_err(|_| "signer thread has stopped".to_owned())?;
        self.next_id += 1;
        Ok(id)
    }

    /// Take every completion so far. Reads the wake-up bytes first, so a completion pushed after this
    /// call always leaves the fd readable again.
    pub fn drain(&mut self) -> Vec<Completion> {
        let mut buf = [0u8; 256];
        loop {
            match self.wake_read.read(&mut buf) {
                Ok(n) if n == buf.len() => continue,
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break, // WouldBlock: nothing more to read
            }
        }
        self.shared.completed().drain(..).collect()
    }

    /// Stop the thread: the job being signed finishes, queued jobs complete with [`CLOSED_MESSAGE`].
    /// Their completions stay available to `drain`. Idempotent.
    pub fn close(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        self.jobs = None; // the worker sees the channel disconnect after the queued jobs
        if let Some(worker) = self.worker.take() {
            let _ = worker.join(); // a panic inside a job is caught there; this cannot carry one
        }
    }

    pub fn is_closed(&self) -> bool {
        self.jobs.is_none()
    }
}

impl Drop for NativeSigner {
    fn drop(&mut self) {
        self.close();
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::Receiver;
    use std::time::{Duration, Instant};

    /// Signs by echoing the nonce; nonce 13 fails, nonce 99 panics, `gate` holds each job until released.
    struct Fake {
        gate: Option<Receiver<()>>,
        /// told when a job enters the backend (tests wait for it instead of sleeping)
        entered: Option<std::sync::mpsc::Sender<()>>,
    }

    impl SignBackend for Fake {
        fn sign(&mut self, request: &SignRequest) -> Result<Signed, String> {
            if let Some(entered) = &self.entered {
                let _ = entered.send(());
            }
            if let Some(gate) = &self.gate {
                let _ = gate.recv_timeout(Duration::from_secs(5));
            }
            match request.nonce() {
                13 => Err("invalid nonce".to_owned()),
                99 => panic!("boom"),
                n => Ok(Signed { tx_type: 14, tx_info: Some(format!("{{\"Nonce\":{n}}}")), tx_hash: None }),
            }
        }
    }

    fn cancel(nonce: i64) -> SignRequest {
        SignRequest::CancelOrder(CancelOrderArgs { market_index: 0, order_index: 1, nonce, api_key_index: 3, account_index: 7 })
    }

    fn wait_for(signer: &mut NativeSigner, count: usize) -> Vec<Completion> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut out = Vec::new();
        while out.len() < count && Instant::now() < deadline {
            out.extend(signer.drain());
            std::thread::sleep(Duration::from_millis(1));
        }
        out
    }

    /// Whether a wake-up byte is waiting (reads it: the next `drain` does not need it).
    fn readable(signer: &NativeSigner) -> bool {
        let mut byte = [0u8; 1];
        matches!((&signer.wake_read).read(&mut byte), Ok(1))
    }

    #[test]
    fn completes_in_submit_order_and_signals_the_fd() {
        let mut s = NativeSigner::start(Fake { gate: None, entered: None }, "t").unwrap();
        let ids: Vec<u64> = (0..5).map(|n| s.submit(cancel(n)).unwrap()).collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !readable(&s) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(readable(&s));
        let done = wait_for(&mut s, 5);
        std::thread::sleep(Duration::from_millis(20)); // the last wake-up write follows its push
        assert!(s.drain().is_empty());
        assert_eq!(done.iter().map(|c| c.job_id).collect::<Vec<_>>(), ids);
        for (n, c) in done.iter().enumerate() {
            assert_eq!(c.result.as_ref().unwrap().tx_info.as_deref(), Some(format!("{{\"Nonce\":{n}}}").as_str()));
        }
        assert!(!readable(&s), "drain consumes the wake-up bytes");
    }

    #[test]
    fn library_errors_and_panics_become_results() {
        let mut s = NativeSigner::start(Fake { gate: None, entered: None }, "t").unwrap();
        s.submit(cancel(13)).unwrap();
        s.submit(cancel(99)).unwrap();
        s.submit(cancel(1)).unwrap();
        let done = wait_for(&mut s, 3);
        assert_eq!(done[0].result, Err("invalid nonce".to_owned()));
        assert_eq!(done[1].result, Err("signer panicked: boom".to_owned()));
        assert!(done[2].result.is_ok(), "the thread survives a panic");
    }

    #[test]
    fn close_fails_queued_jobs_and_refuses_new_ones() {
        let (release, gate) = channel();
        let (entered_tx, entered) = channel();
        let mut s = NativeSigner::start(Fake { gate: Some(gate), entered: Some(entered_tx) }, "t").unwrap();
        for n in 0..4 {
            s.submit(cancel(n)).unwrap();
        }
        // the first job is inside the backend now (waited for, not slept: a loaded machine may be slow)
        entered.recv_timeout(Duration::from_secs(10)).expect("the worker took the first job");
        // Release the job being signed only once close() has begun (it marks the signer closing first,
        // then waits for the worker), so the worker cannot take job 1 before it sees the flag.
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            release.send(()).unwrap();
        });
        s.close();
        releaser.join().unwrap();
        let done = s.drain();
        assert_eq!(done.len(), 4);
        assert!(done[0].result.is_ok(), "the job being signed finishes");
        assert!(done[1..].iter().all(|c| c.result == Err(CLOSED_MESSAGE.to_owned())));
        assert_eq!(s.submit(cancel(5)), Err("signer is closed".to_owned()));
        s.close(); // idempotent
        assert!(s.is_closed());
    }

    #[test]
    fn many_completions_do_not_block_the_worker() {
        // More wake-ups than a socket buffer holds: the worker must not block on a full buffer.
        let mut s = NativeSigner::start(Fake { gate: None, entered: None }, "t").unwrap();
        for n in 0..20_000 {
            s.submit(cancel(n % 10 + 20)).unwrap();
        }
        let done = wait_for(&mut s, 20_000);
        assert_eq!(done.len(), 20_000);
    }

    #[test]
    fn opening_a_missing_library_is_an_error() {
        let err = GoLibrary::open(Path::new("/nonexistent/lighter-signer.so")).err().unwrap();
        assert!(err.contains("cannot load"), "{err}");
    }

    #[test]
    fn abi_lists_every_parameter_of_the_function_types() {
        assert_eq!(abi::SIGN_CREATE_ORDER.len(), 19);
        assert_eq!(abi::SIGN_CANCEL_ORDER.len(), 6);
        assert_eq!(abi::SIGNED_TX_RESPONSE.len(), 5);
    }
}
