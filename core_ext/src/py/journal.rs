//! Python binding of the event journal (writer attached to an EventRing, and the reader).
//! Documented in docs/core_api.md and docs/journal.md.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::events::Event;
use crate::journal::{bench_push_pop_journal_ns, Journal, JournalError, JournalOptions, JournalReader, Windows};
use crate::py::ring::{event_into_py, PyEventRing};

create_exception!(
    _core,
    JournalFormatError,
    PyException,
    "A journal file that is not a journal, or a damaged frame inside one (the message names the frame)."
);

fn to_py(err: JournalError) -> PyErr {
    match err {
        JournalError::Io(e) => e.into(),
        JournalError::AlreadyAttached | JournalError::Closed => pyo3::exceptions::PyRuntimeError::new_err(err.to_string()),
        other => JournalFormatError::new_err(other.to_string()),
    }
}

fn millis(field: &str, ms: f64) -> PyResult<Duration> {
    if !(ms.is_finite() && ms > 0.0 && ms <= 3_600_000.0) {
        return Err(PyValueError::new_err(format!("{field}: must be in (0, 3600000] ms, got {ms}")));
    }
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

/// A journal writer: copies every event pushed into `ring` to `path` on its own thread.
#[pyclass(name = "Journal", module = "xtb_core._core", frozen)]
pub struct PyJournal {
    inner: Mutex<Journal>,
    path: PathBuf,
}

impl PyJournal {
    fn lock(&self) -> MutexGuard<'_, Journal> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl PyJournal {
    #[new]
    #[pyo3(signature = (ring, path, *, meta = None, capacity = 1 << 16, flush_interval_ms = 1.0, fsync_interval_ms = Some(1000.0)))]
    fn new(
        py: Python<'_>,
        ring: &PyEventRing,
        path: PathBuf,
        meta: Option<String>,
        capacity: usize,
        flush_interval_ms: f64,
        fsync_interval_ms: Option<f64>,
    ) -> PyResult<Self> {
        if capacity == 0 || capacity > 1 << 24 {
            return Err(PyValueError::new_err(format!("capacity: must be in 1..=16777216, got {capacity}")));
        }
        let opts = JournalOptions {
            capacity,
            flush_interval: millis("flush_interval_ms", flush_interval_ms)?,
            fsync_interval: fsync_interval_ms.map(|ms| millis("fsync_interval_ms", ms)).transpose()?,
            meta: meta.unwrap_or_default(),
        };
        let ring = ring.inner.clone();
        let p = path.clone();
        let journal = py.detach(move || Journal::attach(&ring, &p, opts)).map_err(to_py)?;
        Ok(PyJournal { inner: Mutex::new(journal), path })
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Events written to the file so far.
    #[getter]
    fn events(&self) -> u64 {
        self.lock().stats().events
    }

    #[getter]
    fn frames(&self) -> u64 {
        self.lock().stats().frames
    }

    #[getter]
    fn bytes(&self) -> u64 {
        self.lock().stats().bytes
    }

    /// Book updates left out because the writer fell `capacity` events behind.
    #[getter]
    fn dropped(&self) -> u64 {
        self.lock().dropped()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.lock().is_closed()
    }

    /// Block until everything pushed before this call is written and fsynced (GIL released).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.lock().flush()).map_err(to_py)
    }

    /// Stop journaling, write and fsync what was taken, join the writer thread. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.lock().close()).map(|_| ()).map_err(to_py)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let j = self.lock();
        let s = j.stats();
        format!(
            "Journal(path={:?}, events={}, frames={}, bytes={}, dropped={}, closed={})",
            self.path.display().to_string(),
            s.events,
            s.frames,
            s.bytes,
            j.dropped(),
            if j.is_closed() { "True" } else { "False" }
        )
    }
}

/// Iterates the events of a journal file (event objects with `seq` 1, 2, ... in file order).
#[pyclass(name = "JournalReader", module = "xtb_core._core")]
pub struct PyJournalReader {
    reader: JournalReader,
    pending: VecDeque<Event>,
}

impl PyJournalReader {
    fn refill(&mut self) -> PyResult<bool> {
        while self.pending.is_empty() {
            match self.reader.next_frame().map_err(to_py)? {
                Some(frame) => self.pending.extend(frame),
                None => return Ok(false),
            }
        }
        Ok(true)
    }
}

#[pymethods]
impl PyJournalReader {
    #[new]
    fn new(path: PathBuf) -> PyResult<Self> {
        Ok(PyJournalReader { reader: JournalReader::open(&path).map_err(to_py)?, pending: VecDeque::new() })
    }

    /// The text the writer stored in the header (xtb writes JSON).
    #[getter]
    fn meta(&self) -> &str {
        &self.reader.header.meta
    }

    /// `time.monotonic_ns()` when the journal was opened (event timestamps are on this clock).
    #[getter]
    fn start_monotonic_ns(&self) -> i64 {
        self.reader.header.start_monotonic_ns
    }

    /// Wall-clock ns since the epoch at the same instant (to turn event timestamps into dates).
    #[getter]
    fn start_wall_ns(&self) -> i64 {
        self.reader.header.start_wall_ns
    }

    /// True once the reader reached a torn last frame (the writer died mid-write).
    #[getter]
    fn truncated(&self) -> bool {
        self.reader.truncated
    }

    #[getter]
    fn frames(&self) -> u64 {
        self.reader.frames()
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        if !self.refill()? {
            return Ok(None);
        }
        match self.pending.pop_front() {
            Some(ev) => Ok(Some(event_into_py(py, ev)?)),
            None => Ok(None),
        }
    }

    /// Up to `max_events` next events as a list (empty at the end): cheaper per event than iterating.
    #[pyo3(signature = (max_events = 8192))]
    fn read_batch<'py>(&mut self, py: Python<'py>, max_events: usize) -> PyResult<Bound<'py, PyList>> {
        let mut out: Vec<Bound<'py, PyAny>> = Vec::with_capacity(max_events.min(8192));
        while out.len() < max_events && self.refill()? {
            while out.len() < max_events {
                let Some(ev) = self.pending.pop_front() else { break };
                out.push(event_into_py(py, ev)?);
            }
        }
        PyList::new(py, out)
    }
}

/// A journal read as replay windows: `next_windows()` -> [(end_ns, [events])], books coalesced per window.
#[pyclass(name = "JournalWindows", module = "xtb_core._core")]
pub struct PyJournalWindows {
    inner: Windows,
}

#[pymethods]
impl PyJournalWindows {
    #[new]
    fn new(path: PathBuf, window_ns: i64) -> PyResult<Self> {
        if window_ns <= 0 {
            return Err(PyValueError::new_err(format!("window_ns: must be > 0, got {window_ns}")));
        }
        Ok(PyJournalWindows { inner: Windows::new(JournalReader::open(&path).map_err(to_py)?, window_ns) })
    }

    /// Complete windows until about `max_events` raw events were read (empty list at the end).
    #[pyo3(signature = (max_events = 8192))]
    fn next_windows<'py>(&mut self, py: Python<'py>, max_events: u64) -> PyResult<Bound<'py, PyList>> {
        let windows = self.inner.next_windows(max_events).map_err(to_py)?;
        let mut out: Vec<Bound<'py, PyAny>> = Vec::with_capacity(windows.len());
        for (end, events) in windows {
            let evs: Vec<Bound<'py, PyAny>> =
                events.into_iter().map(|ev| event_into_py(py, ev)).collect::<PyResult<_>>()?;
            out.push((end, PyList::new(py, evs)?).into_pyobject(py)?.into_any());
        }
        PyList::new(py, out)
    }

    /// Raw events read so far (before coalescing).
    #[getter]
    fn events_read(&self) -> u64 {
        self.inner.events_read
    }

    /// Book updates dropped because a later update of the same book was in the same window.
    #[getter]
    fn coalesced(&self) -> u64 {
        self.inner.coalesced
    }

    #[getter]
    fn meta(&self) -> &str {
        &self.inner.reader().header.meta
    }

    #[getter]
    fn start_monotonic_ns(&self) -> i64 {
        self.inner.reader().header.start_monotonic_ns
    }

    #[getter]
    fn start_wall_ns(&self) -> i64 {
        self.inner.reader().header.start_wall_ns
    }

    #[getter]
    fn truncated(&self) -> bool {
        self.inner.reader().truncated
    }

    /// Bytes of the file consumed so far, and its size (for progress bars).
    #[getter]
    fn progress(&self) -> (u64, u64) {
        self.inner.reader().progress()
    }
}

/// Benchmark hook: ns per push+pop measured in Rust, with a journal to `journal_path` attached when given.
#[pyfunction]
#[pyo3(signature = (n = 1_000_000, journal_path = None))]
fn _bench_ring_journal_rust(py: Python<'_>, n: u64, journal_path: Option<PathBuf>) -> PyResult<f64> {
    py.detach(|| bench_push_pop_journal_ns(n, journal_path.as_deref())).map_err(to_py)
}

/// Benchmark hook: push `n` book updates into `ring` from Rust (one clock read, as a decoder per frame)
/// and pop each right away, without Python objects; a journal attached to `ring` sees every push.
/// Returns how many were popped.
#[pyfunction]
fn _ring_push_pop_synthetic(py: Python<'_>, ring: &PyEventRing, n: u64) -> u64 {
    let ring = ring.inner.clone();
    py.detach(move || {
        let now = crate::events::monotonic_ns();
        let mut popped = 0u64;
        for i in 0..n {
            let body = crate::events::EventBody::Book(crate::events::BookUpdate {
                venue: crate::events::Venue::Lighter,
                book_id: (i & 3) as u32,
                best_bid: Some((100_000 + (i & 7) as i64, 5)),
                best_ask: Some((100_010, 7)),
                seq: i,
            });
            ring.push_stamped(now, now, std::hint::black_box(body));
            if ring.pop().is_some() {
                popped += 1;
            }
        }
        popped
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyJournal>()?;
    m.add_class::<PyJournalReader>()?;
    m.add_class::<PyJournalWindows>()?;
    m.add("JournalFormatError", m.py().get_type::<JournalFormatError>())?;
    m.add_function(wrap_pyfunction!(_bench_ring_journal_rust, m)?)?;
    m.add_function(wrap_pyfunction!(_ring_push_pop_synthetic, m)?)?;
    Ok(())
}
