//! Request signers.

pub mod backpack;

#[cfg(unix)]
pub mod lighter_native;
