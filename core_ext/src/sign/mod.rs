//! Request signers.

