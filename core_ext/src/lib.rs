//! xtb's compiled core, exposed to Python as `xtb_core._core` (re-exported by the `xtb_core` package and by `xtb._core`).
//!
//! Pure-Rust modules (no Python types) hold the logic and are tested with `cargo test`;
//! `py/` holds the PyO3 bindings only. No panic crosses the FFI boundary: PyO3 turns a panic
//! in a binding into `PanicException`, and the C entry points in `ffi` catch unwinds themselves.

pub mod book;
pub mod decode;
pub mod dispatch;
pub mod events;
pub mod ffi;
pub mod fixed;
pub mod journal;
pub mod limiter;
pub mod protocol;
pub mod ring;
pub mod sign;
pub mod tracker;
pub mod venues;

mod py;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    py::register(m)
}
