//! Venue feed decoders.
