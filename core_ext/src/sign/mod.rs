//! Request signers.

pub mod aster;
pub mod backpack;
pub mod binance;
pub mod eip712;
pub mod grvt;
pub mod lighter;
pub mod nonce_pool;
pub mod refill;

#[cfg(unix)]
pub mod lighter_native;
