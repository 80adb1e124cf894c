//! The venues the core knows: the built-in ones, each one line of `venues!` below (its wire id, its
//! name, and the type implementing [`VenueProtocol`]: its feed decoder and its sequence rule), and the
//! ones a Python-only venue plugin registers at runtime ([`Venue::register`], ids [`REGISTERED_IDS`]).
//!
//! Adding a built-in venue: a decoder module under `decode/` with a unit type implementing
//! `VenueProtocol`, and one line here. Nothing else in the core names a venue: the decoder dispatch, the
//! books' sequence checks and the name <-> id mapping used by the bindings, the journal and the ring all
//! come from this module. Wire ids are stored in journals: never reuse or renumber one; a plugin picks
//! its id itself (stable across runs), the core never allocates one.
//!
//! A registered venue has no decoder (its connector pushes typed events) and a sequence rule chosen by
//! name among the core's rules. Registration is write-once per id, so reads take no lock: a built-in
//! venue is a `match` on its id, a registered one an atomic load of its slot.

use std::ops::RangeInclusive;
use std::sync::{Mutex, OnceLock};

use crate::book::{Monotonic, SeqRule};
use crate::decode::{FeedDecoder, FeedError};
pub use crate::protocol::{NoDecoder, VenueProtocol};

/// A venue: its wire id (what journals store). Built-in venues are the associated consts
/// (`Venue::Backpack`); registered ones come from [`Venue::register`] / [`Venue::from_name`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Venue(u8);

/// The wire ids a plugin may register (built-in ids stay below).
pub const REGISTERED_IDS: RangeInclusive<u8> = 128..=255;
const SLOTS: usize = 128;

macro_rules! venues {
    ($($variant:ident = $id:literal, $name:literal, $protocol:ty;)+) => {
        #[allow(non_upper_case_globals)]
        impl Venue {
            $(pub const $variant: Venue = Venue($id);)+

            /// The built-in venues (see [`Venue::all`] for the registered ones too).
            pub const BUILTIN: &'static [Venue] = &[$(Venue::$variant,)+];
        }

        fn builtin_name(id: u8) -> Option<&'static str> {
            match id {
                $($id => Some($name),)+
                _ => None,
            }
        }

        fn builtin_from_name(name: &str) -> Option<Venue> {
            match name {
                $($name => Some(Venue::$variant),)+
                _ => None,
            }
        }

        fn builtin_seq_rule(id: u8) -> Option<SeqRule> {
            match id {
                $($id => Some(<$protocol as VenueProtocol>::SEQ_RULE),)+
                _ => None,
            }
        }

        fn builtin_has_decoder(id: u8) -> Option<bool> {
            match id {
                $($id => Some(<$protocol as VenueProtocol>::HAS_DECODER),)+
                _ => None,
            }
        }

        /// Static dispatch to a built-in venue's decoder (a match, no vtable); a registered venue has none.
        fn feed_by_id(id: u8, dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
            match id {
                $($id => <$protocol as VenueProtocol>::feed(dec, frame, recv_ns),)+
                _ => NoDecoder::feed(dec, frame, recv_ns),
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

/// What a plugin registered for one id.
#[derive(Clone, Copy, Debug)]
struct Registered {
    name: &'static str,
    seq_rule: SeqRule,
}

/// One write-once slot per registrable id: readers load without a lock.
static SLOT: [OnceLock<Registered>; SLOTS] = [const { OnceLock::new() }; SLOTS];
/// Serialises registrations (the name check and the slot write must be one step).
static REGISTERING: Mutex<()> = Mutex::new(());

fn slot(id: u8) -> Option<&'static Registered> {
    id.checked_sub(*REGISTERED_IDS.start()).and_then(|i| SLOT[i as usize].get())
}

fn registered() -> impl Iterator<Item = (u8, &'static Registered)> {
    REGISTERED_IDS.filter_map(|id| slot(id).map(|r| (id, r)))
}

/// The longest registered venue name.
pub const MAX_NAME_LEN: usize = 32;

/// Why a registration was refused; `field` names the argument at fault (`name`, `wire_id`, `seq_rule`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterError {
    pub field: &'static str,
    pub reason: String,
}

impl std::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for RegisterError {}

fn refuse(field: &'static str, reason: String) -> Result<Venue, RegisterError> {
    Err(RegisterError { field, reason })
}

/// The sequence rules a registered venue may choose, by name: `monotonic` and each built-in venue's.
pub fn seq_rule_named(name: &str) -> Option<SeqRule> {
    seq_rule_names().find(|r| r.name == name)
}

fn seq_rule_names() -> impl Iterator<Item = SeqRule> {
    let mut seen: Vec<SeqRule> = vec![SeqRule::of::<Monotonic>()];
    for v in Venue::BUILTIN {
        let r = v.seq_rule();
        if !seen.contains(&r) {
            seen.push(r);
        }
    }
    seen.into_iter()
}

/// The names [`seq_rule_named`] accepts, for error messages and docs.
pub fn seq_rule_choices() -> Vec<&'static str> {
    seq_rule_names().map(|r| r.name).collect()
}

impl Venue {
    /// The wire id (what journals store).
    #[inline]
    pub const fn id(self) -> u8 {
        self.0
    }

    pub fn name(self) -> &'static str {
        match builtin_name(self.0) {
            Some(n) => n,
            // a Venue value exists only for a built-in or registered id, so the slot is set
            None => slot(self.0).map_or("?", |r| r.name),
        }
    }

    pub fn from_name(name: &str) -> Option<Venue> {
        builtin_from_name(name).or_else(|| registered().find(|(_, r)| r.name == name).map(|(id, _)| Venue(id)))
    }

    pub fn from_id(id: u8) -> Option<Venue> {
        if builtin_name(id).is_some() || slot(id).is_some() {
            Some(Venue(id))
        } else {
            None
        }
    }

    /// Every venue known now: the built-in ones, then the registered ones by id.
    pub fn all() -> Vec<Venue> {
        Venue::BUILTIN.iter().copied().chain(registered().map(|(id, _)| Venue(id))).collect()
    }

    /// Whether the venue was registered at runtime (not in the built-in table).
    pub fn is_registered(self) -> bool {
        builtin_name(self.0).is_none()
    }

    /// The venue's book sequence rule.
    pub fn seq_rule(self) -> SeqRule {
        builtin_seq_rule(self.0)
            .or_else(|| slot(self.0).map(|r| r.seq_rule))
            .unwrap_or(SeqRule::of::<Monotonic>())
    }

    /// Whether the core decodes this venue's feed (never for a registered venue).
    pub fn has_decoder(self) -> bool {
        builtin_has_decoder(self.0).unwrap_or(false)
    }

    /// Decode one frame with the venue's decoder (static dispatch: a match, no vtable).
    #[inline]
    pub(crate) fn feed(self, dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
        feed_by_id(self.0, dec, frame, recv_ns)
    }

    /// Make a venue the core has no table entry for known under `name` and wire id `id` (in
    /// [`REGISTERED_IDS`]), its books checked by the sequence rule named `seq_rule` (see
    /// [`seq_rule_named`]). Idempotent for the same (name, id, rule); refuses a built-in name or id, an
    /// id or name taken by another registration, and an id outside the range.
    pub fn register(name: &str, id: u8, seq_rule: &str) -> Result<Venue, RegisterError> {
        let name_ok = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return refuse(
                "name",
                format!("{name:?} is not a venue name (1..={MAX_NAME_LEN} characters of a-z, 0-9, _)"),
            );
        }
        if builtin_from_name(name).is_some() {
            return refuse("name", format!("{name:?} is a built-in venue of the core"));
        }
        if let Some(n) = builtin_name(id) {
            return refuse("wire_id", format!("{id} is the built-in venue {n:?}"));
        }
        if !REGISTERED_IDS.contains(&id) {
            let (lo, hi) = (REGISTERED_IDS.start(), REGISTERED_IDS.end());
            return refuse("wire_id", format!("{id} is outside the ids a plugin may register ({lo}..={hi})"));
        }
        let Some(rule) = seq_rule_named(seq_rule) else {
            return refuse(
                "seq_rule",
                format!("unknown sequence rule {seq_rule:?} (known: {})", seq_rule_choices().join(", ")),
            );
        };
        // a poisoned lock only means another registration panicked before writing: the slots are intact
        let _guard = REGISTERING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = slot(id) {
            if r.name != name {
                return refuse("wire_id", format!("{id} is already registered to venue {:?}", r.name));
            }
            if r.seq_rule != rule {
                return refuse(
                    "seq_rule",
                    format!("venue {name:?} is already registered with sequence rule {:?}", r.seq_rule.name),
                );
            }
            return Ok(Venue(id));
        }
        if let Some((other, _)) = registered().find(|(_, r)| r.name == name) {
            return refuse("name", format!("{name:?} is already registered with wire id {other}"));
        }
        // leaked once per slot (write-once, at most SLOTS names): `name()` hands out &'static str
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        let i = (id - REGISTERED_IDS.start()) as usize;
        // the slot was empty under the lock, so this set cannot lose
        let _ = SLOT[i].set(Registered { name: leaked, seq_rule: rule });
        Ok(Venue(id))
    }
}

impl std::fmt::Debug for Venue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Venue({}={})", self.name(), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_and_ids_round_trip_and_are_unique() {
        let mut names: Vec<_> = Venue::BUILTIN.iter().map(|v| v.name()).collect();
        for &v in Venue::BUILTIN {
            assert_eq!(Venue::from_name(v.name()), Some(v));
            assert_eq!(Venue::from_id(v.id()), Some(v));
            assert!(!v.is_registered());
            assert!(!REGISTERED_IDS.contains(&v.id()));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Venue::BUILTIN.len());
        assert_eq!(Venue::from_name("kraken"), None);
        assert_eq!(Venue::from_id(100), None);
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

    #[test]
    fn consts_work_as_match_patterns() {
        let label = |v: Venue| match v {
            Venue::Backpack => "bp",
            Venue::Lighter => "lt",
            _ => "other",
        };
        assert_eq!(label(Venue::Backpack), "bp");
        assert_eq!(label(Venue::Aster), "other");
    }

    // the slots are process-wide: each test uses its own ids and names

    #[test]
    fn a_registered_venue_is_known_everywhere_and_registration_is_idempotent() {
        let v = Venue::register("toy_reg_a", 250, "monotonic").unwrap();
        assert_eq!(v.id(), 250);
        assert_eq!(v.name(), "toy_reg_a");
        assert_eq!(Venue::from_name("toy_reg_a"), Some(v));
        assert_eq!(Venue::from_id(250), Some(v));
        assert!(Venue::all().contains(&v));
        assert!(v.is_registered() && !v.has_decoder());
        assert_eq!(v.seq_rule().name, "monotonic");
        assert_eq!(Venue::register("toy_reg_a", 250, "monotonic"), Ok(v));
        assert_eq!(format!("{v:?}"), "Venue(toy_reg_a=250)");
    }

    #[test]
    fn clashes_are_refused_naming_the_field() {
        Venue::register("toy_reg_b", 251, "backpack").unwrap();
        assert_eq!(Venue::from_name("toy_reg_b").unwrap().seq_rule().name, "backpack");
        let field = |r: Result<Venue, RegisterError>| r.unwrap_err().field;
        assert_eq!(field(Venue::register("backpack", 252, "monotonic")), "name");
        assert_eq!(field(Venue::register("toy_x", 4, "monotonic")), "wire_id");
        assert_eq!(field(Venue::register("toy_x", 60, "monotonic")), "wire_id");
        assert_eq!(field(Venue::register("toy_x", 251, "backpack")), "wire_id");
        assert_eq!(field(Venue::register("toy_reg_b", 252, "backpack")), "name");
        assert_eq!(field(Venue::register("toy_reg_b", 251, "monotonic")), "seq_rule");
        assert_eq!(field(Venue::register("toy_x", 252, "fifo")), "seq_rule");
        assert_eq!(field(Venue::register("", 252, "monotonic")), "name");
        assert_eq!(field(Venue::register("Toy X", 252, "monotonic")), "name");
        assert_eq!(Venue::from_id(252), None, "a refused registration leaves nothing behind");
        let e = Venue::register("toy_x", 251, "backpack").unwrap_err();
        assert_eq!(e.to_string(), "wire_id: 251 is already registered to venue \"toy_reg_b\"");
    }

    #[test]
    fn a_registered_venue_has_no_decoder_and_its_frames_are_refused() {
        use crate::ring::EventRing;
        use std::sync::Arc;
        let v = Venue::register("toy_reg_c", 253, "monotonic").unwrap();
        let mut dec = FeedDecoder::new(v, Arc::new(EventRing::new(8)));
        let e = dec.feed(b"{}", 1).unwrap_err();
        assert_eq!(e.venue, v);
        assert!(e.to_string().starts_with("toy_reg_c frame"), "{e}");
    }

    #[test]
    fn a_registered_venues_events_round_trip_through_the_journal() {
        use crate::events::{EventBody, Side, Trade};
        use crate::journal::{Journal, JournalOptions, JournalReader};
        use crate::ring::EventRing;
        let v = Venue::register("toy_reg_d", 249, "monotonic").unwrap();
        let dir = std::env::temp_dir().join(format!("xtb-venues-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("registered.journal");
        let ring = EventRing::new(8);
        let mut j = Journal::attach(&ring, &path, JournalOptions::default()).unwrap();
        let trade = |venue, trade_id| {
            EventBody::Trade(Trade { venue, book_id: 1, px: 100, sz: 2, taker_side: Side::Ask, trade_id })
        };
        ring.push(1, trade(v, 7));
        ring.push(2, trade(Venue::Aster, 8));
        j.close().unwrap();
        let bodies: Vec<_> = JournalReader::open(&path).unwrap().read_all().unwrap().into_iter().map(|e| e.body).collect();
        assert_eq!(bodies, vec![trade(v, 7), trade(Venue::Aster, 8)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    proptest! {
        // ids 128..=191 are this property's; each name is derived from its id, so cases never clash
        #[test]
        fn name_id_mapping_is_a_bijection(ids in proptest::collection::vec(128u8..=191, 1..20)) {
            for &id in &ids {
                let name = format!("prop_venue_{id}");
                let v = Venue::register(&name, id, "monotonic").unwrap();
                prop_assert_eq!(v.id(), id);
                prop_assert_eq!(Venue::from_id(id), Some(v));
                prop_assert_eq!(Venue::from_name(&name), Some(v));
                prop_assert_eq!(v.name(), name.as_str());
                // another name on the same id, or the same name on another id, is refused
                let other = 254; // never registered by any test
                prop_assert_eq!(Venue::register(&format!("prop_other_{id}"), id, "monotonic").unwrap_err().field, "wire_id");
                prop_assert_eq!(Venue::register(&name, other, "monotonic").unwrap_err().field, "name");
            }
            let all = Venue::all();
            for v in &all {
                prop_assert_eq!(Venue::from_name(v.name()), Some(*v));
                prop_assert_eq!(Venue::from_id(v.id()), Some(*v));
            }
            let mut names: Vec<_> = all.iter().map(|v| v.name()).collect();
            names.sort_unstable();
            names.dedup();
            prop_assert_eq!(names.len(), all.len());
        }
    }
}
