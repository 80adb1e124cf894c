//! PyO3 bindings. Each file registers the classes and functions of one area.

use pyo3::prelude::*;

mod limiter;
mod md;
mod orders;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    md::register(m)?;
    limiter::register(m)?;
    orders::register(m)?;
    Ok(())
}
