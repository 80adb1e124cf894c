//! Argument parsing at the Python edge, in one place: names -> the core's enums, with errors that name
//! the field and list what is accepted.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::events::{OrderState, Side, Venue};

pub fn venue_arg(name: &str) -> PyResult<Venue> {
    Venue::from_name(name).ok_or_else(|| {
        let known: Vec<_> = Venue::all().iter().map(|v| v.name()).collect();
        PyValueError::new_err(format!("venue: unknown venue {name:?} (known: {})", known.join(", ")))
    })
}

/// `field` names the argument in the error (`side`, `taker_side`).
pub fn side_arg(field: &str, name: &str) -> PyResult<Side> {
    match name {
        "bid" => Ok(Side::Bid),
        "ask" => Ok(Side::Ask),
        _ => Err(PyValueError::new_err(format!("{field}: expected 'bid' or 'ask', got {name:?}"))),
    }
}

pub fn state_arg(name: &str) -> PyResult<OrderState> {
    OrderState::ALL.into_iter().find(|s| s.name() == name).ok_or_else(|| {
        let known: Vec<_> = OrderState::ALL.iter().map(|s| s.name()).collect();
        PyValueError::new_err(format!("state: unknown order state {name:?} (known: {})", known.join(", ")))
    })
}
