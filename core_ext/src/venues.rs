//! The venues the core knows, each registered by one line of `venues!` below: its wire id, its name,
//! and the type implementing [`VenueProtocol`] (its feed decoder and its sequence rule).
//!
//! Adding a venue: a decoder module under `decode/` with a unit type implementing `VenueProtocol`, and
//! one line here. Nothing else in the core names a venue: the decoder dispatch, the books' sequence
//! checks and the name <-> id mapping used by the bindings, the journal and the ring all come from
//! this table. Wire ids are stored in journals: never reuse or renumber one.

use crate::book::SeqRule;
use crate::decode::{FeedDecoder, FeedError};
pub use crate::protocol::{NoDecoder, VenueProtocol};

macro_rules! venues {
    ($($variant:ident = $id:literal, $name:literal, $protocol:ty;)+) => {
        /// The venues the core knows (see the `venues!` table).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Venue {
            $($variant = $id,)+
        }

        impl Venue {
            pub const ALL: &'static [Venue] = &[$(Venue::$variant,)+];

            pub fn name(self) -> &'static str {
                match self {
                    $(Venue::$variant => $name,)+
                }
            }

            pub fn from_name(name: &str) -> Option<Venue> {
                match name {
                    $($name => Some(Venue::$variant),)+
                    _ => None,
                }
            }

            pub fn from_id(id: u8) -> Option<Venue> {
                match id {
                    $($id => Some(Venue::$variant),)+
                    _ => None,
                }
            }

            /// The venue's book sequence rule.
            pub fn seq_rule(self) -> SeqRule {
                match self {
                    $(Venue::$variant => <$protocol as VenueProtocol>::SEQ_RULE,)+
                }
            }

            /// Whether the core decodes this venue's feed.
            pub fn has_decoder(self) -> bool {
                match self {
                    $(Venue::$variant => <$protocol as VenueProtocol>::HAS_DECODER,)+
                }
            }

            /// Decode one frame with the venue's decoder (static dispatch: a match, no vtable).
            pub(crate) fn feed(self, dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
                match self {
                    $(Venue::$variant => <$protocol as VenueProtocol>::feed(dec, frame, recv_ns),)+
                }
            }
        }
    };
}

venues! {
    Backpack = 0, "backpack", crate::decode::backpack::Backpack;
    Lighter = 1, "lighter", crate::decode::lighter::Lighter;
    BinanceUsdm = 2, "binance_usdm", crate::decode::binance::BinanceUsdm;
    Grvt = 3, "grvt", crate::decode::grvt::Grvt;
    Aster = 4, "aster", crate::decode::binance::BinanceUsdm;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_round_trip_and_are_unique() {
        let mut names: Vec<_> = Venue::ALL.iter().map(|v| v.name()).collect();
        for &v in Venue::ALL {
            assert_eq!(Venue::from_name(v.name()), Some(v));
            assert_eq!(Venue::from_id(v as u8), Some(v));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Venue::ALL.len());
        assert_eq!(Venue::from_name("kraken"), None);
        assert_eq!(Venue::from_id(200), None);
    }

    #[test]
    fn each_venue_brings_its_sequence_rule_and_decoder() {
        use crate::decode::{backpack::BackpackSeq, binance::BinanceSeq, lighter::LighterSeq};
        assert_eq!(Venue::Backpack.seq_rule(), SeqRule::of::<BackpackSeq>());
        assert_eq!(Venue::Lighter.seq_rule(), SeqRule::of::<LighterSeq>());
        assert_eq!(Venue::Aster.seq_rule(), SeqRule::of::<BinanceSeq>());
        assert_eq!(Venue::Grvt.seq_rule(), SeqRule::of::<BackpackSeq>());
        assert_eq!(Venue::BinanceUsdm.seq_rule().name, "binance_usdm");
        assert!(Venue::Backpack.has_decoder() && Venue::Grvt.has_decoder());
    }
}
