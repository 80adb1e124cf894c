//! What a venue plugs into the core ([`VenueProtocol`]): its feed decoder and its book sequence rule. The
//! venue table (`venues.rs`) names each venue's implementation; a decoder module implements this trait
//! and depends on nothing else of the table.

use crate::book::SeqRule;
use crate::decode::{FeedDecoder, FeedError};

/// What a venue plugs into the core: how to read its feed and how it numbers book updates.
pub trait VenueProtocol {
    /// The book sequence rule of the venue's depth stream (see [`SeqRule`]).
    const SEQ_RULE: SeqRule;
    /// False only for a venue registered before its decoder exists.
    const HAS_DECODER: bool = true;
    /// Decode one WebSocket frame into book updates / trades / private events on the decoder's ring.
    /// Ok(n) = events pushed.
    fn feed(dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError>;
}

/// A venue whose feed the core does not decode yet: every frame is refused with a clear reason.
pub struct NoDecoder;

impl VenueProtocol for NoDecoder {
    const SEQ_RULE: SeqRule = SeqRule::of::<crate::book::Monotonic>();
    const HAS_DECODER: bool = false;
    fn feed(dec: &mut FeedDecoder, _frame: &[u8], _recv_ns: i64) -> Result<u32, FeedError> {
        Err(FeedError {
            venue: dec.venue,
            channel: String::new(),
            reason: "no decoder for this venue yet".into(),
        })
    }
}
