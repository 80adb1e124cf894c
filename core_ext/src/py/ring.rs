//! Python binding of the EventRing (first version: the ring helper completes the event classes).

use std::sync::Arc;

use pyo3::prelude::*;

use crate::ring::EventRing;

/// Bounded multi-producer single-consumer ring of typed events (see docs/core_api.md).
#[pyclass(name = "EventRing", module = "xtb._core", frozen)]
pub struct PyEventRing {
    /// Shared with producers (decoders, tracker) that hold a clone of the Arc.
    pub inner: Arc<EventRing>,
}

#[pymethods]
impl PyEventRing {
    #[new]
    #[pyo3(signature = (capacity = 1 << 16))]
    fn new(capacity: usize) -> Self {
        PyEventRing { inner: Arc::new(EventRing::new(capacity)) }
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    #[getter]
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEventRing>()?;
    Ok(())
}
