//! Python bindings of the venue table (venues.rs): a Python-only venue plugin registers its core venue.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::venues::Venue;

/// Make a venue without a built-in entry known to the core (rings, books, tracker, journal) under `name`
/// and wire id `wire_id` (128..=255, chosen by the plugin: journals store it). Idempotent for the same
/// arguments; ValueError naming the argument (`name`, `wire_id`, `seq_rule`) for a clash.
#[pyfunction]
#[pyo3(signature = (name, wire_id, seq_rule = "monotonic"))]
fn register_venue(name: &str, wire_id: i64, seq_rule: &str) -> PyResult<()> {
    let id = u8::try_from(wire_id)
        .map_err(|_| PyValueError::new_err(format!("wire_id: {wire_id} is not a wire id (0..=255)")))?;
    Venue::register(name, id, seq_rule).map(|_| ()).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Every venue the core knows now: (name, wire id, registered at runtime), built-in ones first.
#[pyfunction]
fn core_venues() -> Vec<(&'static str, u8, bool)> {
    Venue::all().into_iter().map(|v| (v.name(), v.id(), v.is_registered())).collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(register_venue, m)?)?;
    m.add_function(wrap_pyfunction!(core_venues, m)?)?;
    Ok(())
}
