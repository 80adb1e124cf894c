//! Request signers.

pub mod backpack;
