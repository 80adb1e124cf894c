//! Request signers.

pub mod backpack;
pub mod binance;
pub mod grvt;
pub mod lighter;
pub mod nonce_pool;

#[cfg(unix)]
pub mod lighter_native;
