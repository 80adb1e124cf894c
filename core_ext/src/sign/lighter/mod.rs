//! Lighter's transaction signature, native: Poseidon2 over Goldilocks, Schnorr over ECgFp5.
//!
//! Written for xtb from the published algorithm (lighter's `poseidon_crypto` and `lighter-go` Go
//! sources give the constants, the field order of each hash and the encodings); not audited. The test
//! suite cross-checks it against the Go library that ships in the lighter-sdk wheel (keys, hashes,
//! signatures both ways, tx_info), see docs/signing_lighter.md.

// Field, scalar and point types use named methods (a.mul(b)) rather than operator traits, so that every
// operation's cost and reduction is visible at the call site.
#![allow(clippy::should_implement_trait)]

pub mod ecgfp5;
pub mod goldilocks;
pub mod pool;
pub mod poseidon2;
pub mod schnorr;
pub mod signer;
pub mod tx;
