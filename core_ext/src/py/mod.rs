//! PyO3 bindings. Each file registers the classes and functions of one area.

use pyo3::prelude::*;

pub mod args;
pub mod aster;
pub mod binance;
pub mod grvt;
pub mod journal;
#[cfg(unix)]
pub mod lighter;
pub mod lighter_sign;
pub mod limiter;
pub mod md;
pub mod order_entry;
pub mod orders;
pub mod ring;
pub mod venues;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    ring::register(m)?;
    md::register(m)?;
    limiter::register(m)?;
    orders::register(m)?;
    order_entry::register(m)?;
    binance::register(m)?;
    aster::register(m)?;
    journal::register(m)?;
    grvt::register(m)?;
    #[cfg(unix)]
    lighter::register(m)?;
    lighter_sign::register(m)?;
    venues::register(m)?;
    Ok(())
}
