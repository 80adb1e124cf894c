//! Fast path for the hottest frame shapes: a diff-depth message (Backpack `depth`, Binance `depthUpdate`)
//! and a top-of-book ticker (`bookTicker`, both venues).
//!
//! A strict, validating, zero-copy JSON scanner specialised for one object shape: it records the byte
//! digits of the `[price, size]` strings instead of building values, and it declines (`Bail`) anything it
//! does not fully understand: other message types, escaped strings, unexpected types, duplicate keys,
//! invalid JSON. A declined frame goes through the general serde path, which either decodes it or
//! produces the precise error. So this file only ever speeds up frames that are valid, never changes
//! what a frame means. Prices and sizes are read digit by digit in the same pass (no second scan).

/// The fast path declined the frame; use the general path.
#[derive(Debug, PartialEq, Eq)]
pub struct Bail;

type R<T> = Result<T, Bail>;

/// A decimal string read during the scan, before the market's scale is known:
/// value = mantissa / 10^frac, with a sign. Converted with `RawNum::to_units`.
/// Packed in one word (mantissa in bits 0-55, fraction digits in 56-62, sign in 63): a level is then
/// two registers, and the level loop neither spills nor reloads partial structs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawNum(u64);

const MANTISSA_BITS: u32 = 56;
const MANTISSA_MASK: u64 = (1 << MANTISSA_BITS) - 1;

impl RawNum {
    /// None when the mantissa needs more than 56 bits (from about 17 digits: the general path reads those).
    #[inline(always)]
    pub fn new(mantissa: u64, frac: u32, neg: bool) -> Option<Self> {
        if mantissa > MANTISSA_MASK || frac > 0x7f {
            return None;
        }
        Some(RawNum(mantissa | (frac as u64) << MANTISSA_BITS | (neg as u64) << 63))
    }

    /// `new` for values known to fit (the caller read at most 14 digits).
    #[inline(always)]
    fn pack(mantissa: u64, frac: u32, neg: bool) -> Self {
        debug_assert!(mantissa <= MANTISSA_MASK && frac <= 0x7f);
        RawNum(mantissa | (frac as u64) << MANTISSA_BITS | (neg as u64) << 63)
    }

    #[inline(always)]
    pub fn mantissa(self) -> u64 {
        self.0 & MANTISSA_MASK
    }

    /// Digits after the decimal point.
    #[inline(always)]
    pub fn frac(self) -> u32 {
        ((self.0 >> MANTISSA_BITS) & 0x7f) as u32
    }

    #[inline(always)]
    pub fn is_negative(self) -> bool {
        self.0 >> 63 != 0
    }

    /// Units of 10^-decimals; None when digits beyond `decimals` are nonzero or the value overflows
    /// (the general path then reports the exact error).
    #[inline]
    pub fn to_units(self, decimals: u32) -> Option<i64> {
        // The common case, a non-negative value printed at the market's scale: the bits are the units.
        if self.0 >> MANTISSA_BITS == decimals as u64 {
            return Some((self.0 & MANTISSA_MASK) as i64);
        }
        let frac = self.frac();
        let mantissa = self.mantissa();
        let m = if frac == decimals {
            mantissa
        } else if frac < decimals {
            mantissa.checked_mul(crate::fixed::pow10(decimals - frac) as u64)?
        } else {
            let p = *POW10_U64.get((frac - decimals) as usize)?;
            if mantissa % p != 0 {
                return None;
            }
            mantissa / p
        };
        let v = i64::try_from(m).ok()?;
        Some(if self.is_negative() { -v } else { v })
    }
}

const POW10_U64: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// One level: (price, size) as raw decimals.
pub type RawLevel = (RawNum, RawNum);

/// The head fields of a depth or ticker frame (depth levels are in the caller's span buffers).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Head<'a> {
    pub stream: Option<&'a str>,
    pub event: Option<&'a str>,
    pub symbol: Option<&'a str>,
    pub first: Option<u64>,
    pub last: Option<u64>,
    pub prev: Option<u64>,
    /// `b` / `a` were level arrays (depth shape).
    pub bid_levels: bool,
    pub ask_levels: bool,
    /// Ticker shape: `b`, `B`, `a`, `A` as decimal strings (best bid px / qty, best ask px / qty).
    pub bid_px: Option<RawNum>,
    pub bid_sz: Option<RawNum>,
    pub ask_px: Option<RawNum>,
    pub ask_sz: Option<RawNum>,
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

/// Each side's column shapes, kept by the decoder between frames: a venue prints every level of a
/// market with the same shape, so the next frame's first level is read on the fast path too.
#[derive(Clone, Copy)]
pub struct ColumnShapes {
    sides: [SideShapes; 2],
}

#[derive(Clone, Copy)]
struct SideShapes {
    shapes: (Shape, Shape),
    #[cfg(target_arch = "x86_64")]
    pair: Option<sse::LevelShape>,
}

impl Default for ColumnShapes {
    fn default() -> Self {
        let side = SideShapes {
            shapes: (Shape::NONE, Shape::NONE),
            #[cfg(target_arch = "x86_64")]
            pair: None,
        };
        ColumnShapes { sides: [side; 2] }
    }
}

const MAX_DEPTH: u32 = 64;

impl<'a> Scanner<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> R<()> {
        // Compact JSON has no whitespace: test the next byte before skipping any.
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            return Ok(());
        }
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// A string without escapes: its span (between the quotes). Escapes and control characters bail.
    #[inline]
    fn string_span(&mut self) -> R<(usize, usize)> {
        self.eat(b'"')?;
        let start = self.i;
        let rest = &self.b[start..];
        // Most keys are one letter.
        if let [c, b'"', ..] = *rest {
            if (0x20..0x80).contains(&c) && c != b'"' && c != b'\\' {
                self.i = start + 2;
                return Ok((start, start + 1));
            }
        }
        let mut k = 0;
        // Eight bytes at a time to the first quote, backslash or control byte.
        while k + 8 <= rest.len() {
            let m = string_stops(load8(rest, k));
            if m != 0 {
                k += (m.trailing_zeros() / 8) as usize;
                break;
            }
            k += 8;
        }
        // The word loop stopped at the first byte that is not plain ASCII: the rest goes byte by byte.
        let mut non_ascii = false;
        while k < rest.len() {
            let c = rest[k];
            if c == b'"' {
                let end = start + k;
                if non_ascii {
                    std::str::from_utf8(&rest[..k]).map_err(|_| Bail)?;
                }
                self.i = end + 1;
                return Ok((start, end));
            }
            if c == b'\\' || c < 0x20 {
                return Err(Bail);
            }
            non_ascii |= c >= 0x80;
            k += 1;
        }
        Err(Bail)
    }

    #[inline]
    fn string(&mut self) -> R<&'a str> {
        let (s, e) = self.string_span()?;
        // SAFETY: string_span checked these bytes are ASCII or valid UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(&self.b[s..e]) })
    }

    /// A JSON number (grammar checked); returns its span.
    fn number_span(&mut self) -> R<(usize, usize)> {
        self.ws();
        let b = self.b;
        let start = self.i;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(c) if c.is_ascii_digit() => i = digit_run_end(b, i + 1),
            _ => return Err(Bail),
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let d0 = i;
            i = digit_run_end(b, i);
            if i == d0 {
                return Err(Bail);
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let d0 = i;
            i = digit_run_end(b, i);
            if i == d0 {
                return Err(Bail);
            }
        }
        self.i = i;
        Ok((start, i))
    }

    /// An unsigned integer given as a JSON number or a decimal string.
    fn u64_value(&mut self) -> R<u64> {
        let (s, e) = if self.peek() == Some(b'"') { self.string_span()? } else { self.number_span()? };
        let digits = &self.b[s..e];
        if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(Bail);
        }
        // Up to 19 digits cannot overflow: eight at a time while eight more bytes are readable.
        if digits.len() <= 19 && e + 8 <= self.b.len() {
            let (mut v, mut k) = (0u64, s);
            while e - k >= 8 {
                v = v * 100_000_000 + swar_digits(load8(self.b, k), 8);
                k += 8;
            }
            let n = (e - k) as u32;
            if n > 0 {
                v = v * crate::fixed::pow10(n) as u64 + swar_digits(load8(self.b, k), n);
            }
            return Ok(v);
        }
        let mut v: u64 = 0;
        for &d in digits {
            v = v.checked_mul(10).and_then(|v| v.checked_add((d - b'0') as u64)).ok_or(Bail)?;
        }
        Ok(v)
    }

    fn literal(&mut self, word: &[u8]) -> R<()> {
        self.ws();
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// Skip any JSON value, validating it.
    fn skip_value(&mut self, depth: u32) -> R<()> {
        if depth > MAX_DEPTH {
            return Err(Bail);
        }
        match self.peek().ok_or(Bail)? {
            b'"' => self.string_span().map(|_| ()),
            b'{' => {
                self.i += 1;
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.string_span()?;
                    self.eat(b':')?;
                    self.skip_value(depth + 1)?;
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(Bail),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(Bail),
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number_span().map(|_| ()),
        }
    }

    /// A quoted decimal `"-?[0-9]+(\.[0-9]+)?"` read in one pass. Anything else bails.
    #[inline(always)]
    fn decimal_string(&mut self) -> R<RawNum> {
        self.eat(b'"')?;
        let (num, used) = decimal_body(&self.b[self.i..]).ok_or(Bail)?;
        self.i += used;
        Ok(num)
    }

    /// `[["px","sz"], ...]` into raw decimals.
    /// `st`: this side's column shapes, carried from frame to frame (`ColumnShapes`).
    fn levels(&mut self, out: &mut Vec<RawLevel>, st: &mut SideShapes) -> R<()> {
        #[cfg(target_arch = "x86_64")]
        if sse::available() {
            // SAFETY: the CPU has the features `levels_sse` is compiled for (checked just above).
            return unsafe { self.levels_sse(out, st) };
        }
        self.levels_scalar(out, &mut st.shapes)
    }

    /// `levels` with each level read as a whole in SSE registers once both columns' shapes are known
    /// (from the first level): both decimals converted at once, the bytes around them checked against
    /// the shapes' template. Anything the shapes do not cover takes the scalar reads, level by level.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "ssse3,sse4.1")]
    unsafe fn levels_sse(&mut self, out: &mut Vec<RawLevel>, st: &mut SideShapes) -> R<()> {
        out.clear();
        if self.open_levels()? {
            return Ok(());
        }
        let SideShapes { shapes, pair } = st;
        loop {
            let whole = match pair {
                Some(ls) => ls.level(self.b, self.i),
                None => None,
            };
            if let Some((level, used, more)) = whole {
                out.push(level);
                self.i += used;
                if more {
                    self.i += 1;
                    continue;
                }
            } else {
                let before = (shapes.0.quote, shapes.0.dot, shapes.1.quote, shapes.1.dot);
                out.push(self.level(shapes)?);
                if (shapes.0.quote, shapes.0.dot, shapes.1.quote, shapes.1.dot) != before || pair.is_none() {
                    *pair = sse::LevelShape::new(&shapes.0, &shapes.1);
                }
            }
            if self.close_level()? {
                return Ok(());
            }
        }
    }

    fn levels_scalar(&mut self, out: &mut Vec<RawLevel>, shapes: &mut (Shape, Shape)) -> R<()> {
        out.clear();
        if self.open_levels()? {
            return Ok(());
        }
        // The prices of one side share a shape, and so do the sizes (venues pad to the tick and step).
        loop {
            if let Some((level, used, more)) = level_fast(self.b, self.i, shapes) {
                out.push(level);
                self.i += used;
                if more {
                    self.i += 1;
                    continue;
                }
            } else {
                out.push(self.level(shapes)?);
            }
            if self.close_level()? {
                return Ok(());
            }
        }
    }

    /// The `[` of a level list; true when the list is empty (its `]` eaten too).
    #[inline(always)]
    fn open_levels(&mut self) -> R<bool> {
        self.eat(b'[')?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// After a level: steps to the next one (false) or past the list's `]` (true).
    #[inline(always)]
    fn close_level(&mut self) -> R<bool> {
        // Compact JSON: `,[` to the next level.
        if self.b.get(self.i..self.i + 2) == Some(b",[") {
            self.i += 1;
            return Ok(false);
        }
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(false)
            }
            Some(b']') => {
                self.i += 1;
                Ok(true)
            }
            _ => Err(Bail),
        }
    }

    /// One `["px","sz"]`. Compact JSON is matched byte for byte; anything else (whitespace) takes the
    /// token-by-token route.
    #[inline(always)]
    fn level(&mut self, shapes: &mut (Shape, Shape)) -> R<RawLevel> {
        if self.b.get(self.i..self.i + 2) == Some(b"[\"") {
            let (px, used) = decimal_shaped(&self.b[self.i + 2..], &mut shapes.0);
            if used == 0 {
                return Err(Bail);
            }
            let j = self.i + 2 + used;
            if self.b.get(j..j + 2) == Some(b",\"") {
                let (sz, used) = decimal_shaped(&self.b[j + 2..], &mut shapes.1);
                if used == 0 {
                    return Err(Bail);
                }
                let k = j + 2 + used;
                if self.b.get(k) == Some(&b']') {
                    self.i = k + 1;
                    return Ok((px, sz));
                }
            }
        }
        self.eat(b'[')?;
        let px = self.decimal_string()?;
        self.eat(b',')?;
        let sz = self.decimal_string()?;
        self.eat(b']')?;
        Ok((px, sz))
    }

    /// One message object (the message itself, or the `data` of an envelope when `outer`).
    fn object(
        &mut self,
        head: &mut Head<'a>,
        bids: &mut Vec<RawLevel>,
        asks: &mut Vec<RawLevel>,
        outer: bool,
        cols: &mut ColumnShapes,
    ) -> R<()> {
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        // Bit per known key, to refuse duplicates (serde's derive rejects them too).
        let mut seen = 0u32;
        let mut once = |bit: u32| -> R<()> {
            if seen & bit != 0 {
                return Err(Bail);
            }
            seen |= bit;
            Ok(())
        };
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            match key {
                "e" => {
                    once(1)?;
                    let e = self.string()?;
                    if !matches!(e, "depth" | "depthUpdate" | "bookTicker") {
                        return Err(Bail);
                    }
                    head.event = Some(e);
                }
                "s" => {
                    once(2)?;
                    head.symbol = Some(self.string()?);
                }
                "U" => {
                    once(4)?;
                    head.first = Some(self.u64_value()?);
                }
                "u" => {
                    once(8)?;
                    head.last = Some(self.u64_value()?);
                }
                "pu" => {
                    once(16)?;
                    head.prev = Some(self.u64_value()?);
                }
                // Levels in a depth message, the best price in a ticker.
                "b" => {
                    once(32)?;
                    if self.peek() == Some(b'[') {
                        self.levels(bids, &mut cols.sides[0])?;
                        head.bid_levels = true;
                    } else {
                        head.bid_px = Some(self.decimal_string()?);
                    }
                }
                "a" => {
                    once(64)?;
                    if self.peek() == Some(b'[') {
                        self.levels(asks, &mut cols.sides[1])?;
                        head.ask_levels = true;
                    } else {
                        head.ask_px = Some(self.decimal_string()?);
                    }
                }
                "B" => {
                    once(512)?;
                    head.bid_sz = Some(self.decimal_string()?);
                }
                "A" => {
                    once(1024)?;
                    head.ask_sz = Some(self.decimal_string()?);
                }
                "stream" if outer => {
                    once(128)?;
                    head.stream = Some(self.string()?);
                }
                "data" if outer => {
                    once(256)?;
                    self.object(head, bids, asks, false, cols)?;
                }
                // A venue error: the general path reports it.
                "error" | "code" => return Err(Bail),
                _ => self.skip_value(1)?,
            }
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(Bail),
            }
        }
    }
}

/// One compact level `["px","sz"]` in SSE registers, for a pair of column shapes (x86_64 with SSSE3 and
/// SSE4.1, detected at run time; the scalar reads otherwise).
#[cfg(target_arch = "x86_64")]
mod sse {
    use super::{RawLevel, RawNum, Shape};
    use std::arch::x86_64::*;

    pub fn available() -> bool {
        // Cached by std after the first call: one load and a test.
        is_x86_feature_detected!("ssse3") && is_x86_feature_detected!("sse4.1")
    }

    /// Both columns' shapes as SSE constants. The price's 8 bytes (from after its opening quote) go in
    /// the low half of a register and the size's in the high half.
    #[derive(Clone, Copy)]
    pub struct LevelShape {
        /// Gathers each half's digits (dot skipped), right-aligned in its 8 bytes; other bytes zeroed.
        gather: [u8; 16],
        /// '.' and '"' where each shape has them.
        template: [u8; 16],
        /// Bytes checked against `template`, and bytes that must be ASCII digits (one bit per byte).
        punct: u32,
        digits: u32,
        /// Offsets from the level's '[': the size's first byte, the closing ']'.
        size_at: usize,
        close_at: usize,
        price_frac: u32,
        size_frac: u32,
    }

    impl LevelShape {
        /// None unless both shapes are real (a dot and a closing quote within 8 bytes).
        pub fn new(price: &Shape, size: &Shape) -> Option<LevelShape> {
            if price.care == 0 || size.care == 0 {
                return None;
            }
            let mut gather = [0x80u8; 16];
            let mut template = [0u8; 16];
            let (mut punct, mut digits) = (0u32, 0u32);
            for (half, sh) in [(0usize, price), (8usize, size)] {
                let (dot, quote) = (sh.dot as usize, sh.quote as usize);
                template[half + dot] = b'.';
                template[half + quote] = b'"';
                punct |= 1 << (half + dot) | 1 << (half + quote);
                // quote - 1 digits (the dot skipped), right-aligned in the half.
                let first = half + 8 - (quote - 1);
                for (k, p) in (0..quote).filter(|&k| k != dot).enumerate() {
                    gather[first + k] = (half + p) as u8;
                    digits |= 1 << (half + p);
                }
            }
            let size_at = 2 + price.quote as usize + 3;
            Some(LevelShape {
                gather,
                template,
                punct,
                digits,
                size_at,
                close_at: size_at + size.quote as usize + 1,
                price_frac: price.quote - price.dot - 1,
                size_frac: size.quote - size.dot - 1,
            })
        }

        /// The level at `at` when it has exactly these shapes: (level, bytes, whether `,[` follows).
        #[inline]
        #[target_feature(enable = "ssse3,sse4.1")]
        pub fn level(&self, b: &[u8], at: usize) -> Option<(RawLevel, usize, bool)> {
            // One bounds check: the size's 8 bytes end at most at +20, the `,[` after ']' at most at +22.
            let w: &[u8; 24] = b.get(at..at.checked_add(24)?)?.try_into().ok()?;
            let (sa, ca) = (self.size_at, self.close_at);
            if w[0] != b'[' || w[1] != b'"' || w[sa - 2] != b',' || w[sa - 1] != b'"' || w[ca] != b']' {
                return None;
            }
            let mut lo = [0u8; 8];
            let mut hi = [0u8; 8];
            lo.copy_from_slice(&w[2..10]);
            hi.copy_from_slice(&w[sa..sa + 8]);
            // SAFETY: plain SSE2..4.1 arithmetic on values in registers; the features are enabled here.
            let (price, size) = unsafe {
                let v = _mm_set_epi64x(i64::from_le_bytes(hi), i64::from_le_bytes(lo));
                let t = _mm_loadu_si128(self.template.as_ptr().cast());
                let punct_ok = _mm_movemask_epi8(_mm_cmpeq_epi8(v, t)) as u32;
                let d = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
                let digit = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d)) as u32;
                if punct_ok & self.punct != self.punct || digit & self.digits != self.digits {
                    return None;
                }
                let x = _mm_shuffle_epi8(d, _mm_loadu_si128(self.gather.as_ptr().cast()));
                let x = _mm_maddubs_epi16(x, _mm_set1_epi16(0x010a)); // pairs of digits: 10*a + b
                let x = _mm_madd_epi16(x, _mm_set1_epi32(0x0001_0064)); // pairs of those: 100*a + b
                let x = _mm_packus_epi32(x, x);
                let x = _mm_madd_epi16(x, _mm_set1_epi32(0x0001_2710)); // 10000*a + b
                (_mm_cvtsi128_si32(x) as u64, _mm_extract_epi32::<1>(x) as u64)
            };
            let more = w[ca + 1] == b',' && w[ca + 2] == b'[';
            Some((
                (RawNum::pack(price, self.price_frac, false), RawNum::pack(size, self.size_frac, false)),
                ca + 1,
                more,
            ))
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// High bit set in every zero byte of `x`, clear in the others (exact: no carries between bytes).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    !(((x & (0x7f * ONES)) + (0x7f * ONES)) | x) & (0x80 * ONES)
}

/// High bit set in every byte of `v` that ends the word-at-a-time string scan: '"', '\\', a control byte,
/// or a non-ASCII byte (read byte by byte after it, and the string checked as UTF-8).
#[inline(always)]
fn string_stops(v: u64) -> u64 {
    zero_bytes(v ^ (b'"' as u64 * ONES))
        | zero_bytes(v ^ (b'\\' as u64 * ONES))
        | zero_bytes(v & (0xe0 * ONES))
        | v & (0x80 * ONES)
}

/// High bit set in every byte of `v` that is not an ASCII digit, clear in the others.
#[inline(always)]
fn non_digits(v: u64) -> u64 {
    let t = v ^ (0x30 * ONES); // digits -> 0..=9
    // Masking to 7 bits first keeps the add from carrying into the next byte.
    (((t & (0x7f * ONES)) + (0x76 * ONES)) | t) & (0x80 * ONES)
}

/// The value of the `n` (1..=8) ASCII digits in the low bytes of `v` (first digit in the lowest byte).
#[inline(always)]
fn swar_digits(v: u64, n: u32) -> u64 {
    // Digits to 0..=9, shifted up so the missing leading digits read as zeros.
    let d = (v ^ (0x30 * ONES)) << (8 * (8 - n));
    let d = (d.wrapping_mul(10).wrapping_add(d >> 8)) & 0x00ff_00ff_00ff_00ff;
    let d = (d.wrapping_mul(100).wrapping_add(d >> 16)) & 0x0000_ffff_0000_ffff;
    (d.wrapping_mul(10_000).wrapping_add(d >> 32)) & 0xffff_ffff
}

/// End of the run of ASCII digits starting at `i` (eight bytes at a time where eight are readable).
#[inline(always)]
fn digit_run_end(b: &[u8], mut i: usize) -> usize {
    while i + 8 <= b.len() {
        let m = non_digits(load8(b, i));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

#[inline(always)]
fn load8(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The digits of a quoted decimal after its opening quote, through the closing quote: (value, bytes
/// consumed). Grammar `-?[0-9]+(\.[0-9]+)?"`, a mantissa below 2^56 (16 digits always fit). The common shape (up to 7 integer and
/// 7 fraction digits, 17 readable bytes) is read 8 bytes at a time with no per-digit branch: a
/// per-character loop mispredicts at every '.' and '"', and that was most of a depth frame's cost.
#[inline(always)]
fn decimal_body(rest: &[u8]) -> Option<(RawNum, usize)> {
    let (num, used) = decimal_raw(rest);
    (used != 0).then_some((num, used))
}

/// Where the dot and the closing quote of a decimal sat in its first 8 bytes (a non-negative decimal of
/// up to 6 digits with a fraction, e.g. `86601.0"` or `1.30000"`), as masks to test the next one with.
#[derive(Clone, Copy)]
struct Shape {
    /// High bits of bytes 0..=quote in the non-digit mask.
    care: u64,
    /// Their expected value: set at the dot and at the quote only.
    expect: u64,
    /// Bytes at the dot and the quote, and their expected value.
    sel: u64,
    want: u64,
    dot: u32,
    quote: u32,
}

impl Shape {
    /// Matches nothing.
    const NONE: Shape = Shape { care: 0, expect: 1, sel: 0, want: 0, dot: 1, quote: 2 };

    fn of(dot: u32, quote: u32) -> Shape {
        if dot == 0 || dot >= quote || quote - dot < 2 || quote > 7 {
            return Shape::NONE;
        }
        let hi = |p: u32| 0x80u64 << (8 * p);
        let byte = |p: u32| 0xffu64 << (8 * p);
        Shape {
            care: (0x80 * ONES) & (u64::MAX >> (8 * (7 - quote))),
            expect: hi(dot) | hi(quote),
            sel: byte(dot) | byte(quote),
            want: (b'.' as u64) << (8 * dot) | (b'"' as u64) << (8 * quote),
            dot,
            quote,
        }
    }
}

impl Shape {
    #[inline(always)]
    fn matches(&self, v: u64) -> bool {
        non_digits(v) & self.care == self.expect && v & self.sel == self.want
    }

    /// The decimal in `v`, which `matches`.
    #[inline(always)]
    fn value(&self, v: u64) -> RawNum {
        let below = (1u64 << (8 * self.dot)) - 1;
        let digits = (v & below) | ((v >> 8) & !below);
        RawNum::pack(swar_digits(digits, self.quote - 1), self.quote - self.dot - 1, false)
    }
}

/// A whole compact level `["px","sz"]` at `at` when both decimals have their column's shape:
/// (level, bytes, whether `,[` follows). One bounds check for the whole level; None = use `level`.
#[inline(always)]
fn level_fast(b: &[u8], at: usize, shapes: &(Shape, Shape)) -> Option<(RawLevel, usize, bool)> {
    let w: &[u8; 32] = b.get(at..at.checked_add(32)?)?.try_into().ok()?;
    let word = |k: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&w[k..k + 8]);
        u64::from_le_bytes(x)
    };
    let (sp, ss) = shapes;
    if w[0] != b'[' || w[1] != b'"' {
        return None;
    }
    let v = word(2);
    if !sp.matches(v) {
        return None;
    }
    let j = 3 + (sp.quote & 7) as usize; // after the price's closing quote: <= 10
    if w[j] != b',' || w[j + 1] != b'"' {
        return None;
    }
    let v2 = word(j + 2);
    if !ss.matches(v2) {
        return None;
    }
    let k = j + 3 + (ss.quote & 7) as usize; // the closing bracket: <= 20
    if w[k] != b']' {
        return None;
    }
    let more = w[k + 1] == b',' && w[k + 2] == b'[';
    Some(((sp.value(v), ss.value(v2)), k + 1, more))
}

/// `decimal_raw`, first trying the shape of the previous decimal in the same column. When it matches
/// (almost always), the next level's position does not wait on this one's bytes: the check is a branch
/// the CPU predicts, where computing the length from the data made every level wait for the previous.
#[inline(always)]
fn decimal_shaped(rest: &[u8], shape: &mut Shape) -> (RawNum, usize) {
    if rest.len() >= 8 {
        let v = load8(rest, 0);
        if shape.matches(v) {
            return (shape.value(v), shape.quote as usize + 1);
        }
    }
    let (num, used) = decimal_raw(rest);
    *shape = if used != 0 && !num.is_negative() && num.frac() > 0 {
        let quote = used as u32 - 1;
        Shape::of(quote.wrapping_sub(num.frac() + 1), quote)
    } else {
        Shape::NONE
    };
    (num, used)
}

/// `decimal_body` as a plain pair, used == 0 meaning "not a decimal": in the level loop an Option here
/// was kept in memory rather than in registers.
#[inline(always)]
fn decimal_raw(rest: &[u8]) -> (RawNum, usize) {
    const NONE: (RawNum, usize) = (RawNum(0), 0);
    let slow = |rest: &[u8]| decimal_body_bytewise(rest).unwrap_or(NONE);
    if rest.len() < 17 {
        return slow(rest);
    }
    let neg = rest[0] == b'-';
    let s = neg as usize;
    let v = load8(rest, s);
    let m = non_digits(v);
    if m == 0 {
        return slow(rest); // 8 or more integer digits
    }
    let p1 = m.trailing_zeros() / 8;
    if p1 == 0 {
        return NONE;
    }
    let c1 = (v >> (8 * p1)) as u8;
    if c1 == b'"' {
        let used = s + p1 as usize + 1;
        // At most 8 digits here: no range check needed.
        return (RawNum::pack(swar_digits(v, p1), 0, neg), used);
    }
    if c1 != b'.' {
        return NONE;
    }
    // Most prices and sizes fit in one word with their dot and closing quote ("86601.0" / "1.30000"):
    // drop the dot and convert all digits at once.
    let m2 = m & (m - 1); // the next non-digit after the dot
    if m2 != 0 {
        let p2 = m2.trailing_zeros() / 8;
        if p2 == p1 + 1 || (v >> (8 * p2)) as u8 != b'"' {
            return NONE;
        }
        let below = (1u64 << (8 * p1)) - 1;
        let digits = (v & below) | ((v >> 8) & !below);
        let used = s + p2 as usize + 1;
        return (RawNum::pack(swar_digits(digits, p2 - 1), p2 - p1 - 1, neg), used);
    }
    // The fraction runs past the first word: read it from the next.
    let int = swar_digits(v, p1);
    let f0 = s + p1 as usize + 1; // <= 9, so 8 bytes from f0 are within the 17 checked
    let w = load8(rest, f0);
    let m = non_digits(w);
    if m == 0 {
        return slow(rest); // 8 or more fraction digits
    }
    let n2 = m.trailing_zeros() / 8;
    let end2 = f0 + n2 as usize;
    if n2 == 0 || rest[end2] != b'"' {
        return NONE;
    }
    // At most 7 + 7 digits.
    let mantissa = int * crate::fixed::pow10(n2) as u64 + swar_digits(w, n2);
    (RawNum::pack(mantissa, n2, neg), end2 + 1)
}

/// `decimal_body` one byte at a time: for numbers near the end of the frame and long numbers.
#[cold]
#[inline(never)]
fn decimal_body_bytewise(rest: &[u8]) -> Option<(RawNum, usize)> {
    let neg = rest.first() == Some(&b'-');
    let start = neg as usize;
    let mut m: u64 = 0;
    let mut dot = usize::MAX;
    let mut k = start;
    while let Some(&c) = rest.get(k) {
        let d = c.wrapping_sub(b'0');
        if d <= 9 {
            m = m.wrapping_mul(10).wrapping_add(d as u64);
        } else if c == b'.' && dot == usize::MAX && k > start {
            dot = k;
        } else {
            break;
        }
        k += 1;
    }
    let has_dot = dot != usize::MAX;
    // At most 19 digits in total cannot wrap a u64; longer numbers (rare) take the general path.
    let n_digits = k - start - has_dot as usize;
    if k == start || rest.get(k) != Some(&b'"') || n_digits > 19 || (has_dot && dot + 1 == k) {
        return None;
    }
    let frac = if has_dot { k - dot - 1 } else { 0 };
    Some((RawNum::new(m, frac as u32, neg)?, k + 1))
}

/// Scan a depth or ticker frame; depth levels go to `bids` / `asks` as raw decimals.
pub fn market<'a>(frame: &'a [u8], bids: &mut Vec<RawLevel>, asks: &mut Vec<RawLevel>) -> R<Head<'a>> {
    market_with(frame, bids, asks, &mut ColumnShapes::default())
}

/// `market` with the column shapes learnt from earlier frames (updated as this one is read; a shape is
/// only ever a hint, so a declined frame may leave its own).
pub fn market_with<'a>(
    frame: &'a [u8],
    bids: &mut Vec<RawLevel>,
    asks: &mut Vec<RawLevel>,
    cols: &mut ColumnShapes,
) -> R<Head<'a>> {
    let mut s = Scanner { b: frame, i: 0 };
    let mut head = Head::default();
    bids.clear();
    asks.clear();
    s.object(&mut head, bids, asks, true, cols)?;
    s.ws();
    if s.i != frame.len() || head.event.is_none() {
        return Err(Bail);
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(f: &str) -> R<(Head<'_>, Vec<RawLevel>, Vec<RawLevel>)> {
        let (mut b, mut a) = (Vec::new(), Vec::new());
        let h = market(f.as_bytes(), &mut b, &mut a)?;
        Ok((h, b, a))
    }

    #[test]
    fn backpack_and_binance_shapes() {
        let f = r#"{"data":{"E":1790134357267289,"T":1790134357267074,"U":6730019258,"a":[],"b":[["86655.9","1.94230"]],"e":"depth","s":"BTC_USDC_PERP","u":6730019258},"stream":"depth.BTC_USDC_PERP"}"#;
        let (h, b, a) = scan(f).unwrap();
        assert_eq!(h.event, Some("depth"));
        assert_eq!(h.symbol, Some("BTC_USDC_PERP"));
        assert_eq!(h.stream, Some("depth.BTC_USDC_PERP"));
        assert_eq!((h.first, h.last, h.prev), (Some(6730019258), Some(6730019258), None));
        assert!(a.is_empty());
        assert_eq!(b[0].0.to_units(1), Some(866559));
        assert_eq!(b[0].0.to_units(3), Some(86655900));
        assert_eq!(b[0].0.to_units(0), None); // nonzero digit beyond the scale
        assert_eq!(b[0].1.to_units(4), Some(19423)); // trailing zero dropped
        assert_eq!(b[0].1.to_units(3), None);
        let g = r#" {"e":"depthUpdate","E":123456789,"T":123456788,"s":"BTCUSDT","U":"157","u":160,"pu":149,"b":[["0.0024","10"]],"a":[["0.0026","100"]], "x":{"y":[1,-2.5e3,true,null,"z"]}} "#;
        let (h, b, a) = scan(g).unwrap();
        assert_eq!((h.first, h.last, h.prev), (Some(157), Some(160), Some(149)));
        assert_eq!((b.len(), a.len()), (1, 1));
    }

    #[test]
    fn declines_what_it_does_not_fully_understand() {
        for f in [
            r#"{"data":{"e":"trade","p":"1","q":"2"},"stream":"x"}"#,
            r#"{"data":{"e":"bookTicker","a":1,"b":"2"},"stream":"x"}"#,
            r#"{"data":{"e":"depth","b":[["1\u0030","2"]]},"stream":"x"}"#,
            r#"{"data":{"e":"depth","b":[[1,"2"]]}}"#,
            r#"{"data":{"e":"depth","U":1,"U":2}}"#,
            r#"{"data":{"e":"depth"}"#,
            r#"{"data":{"e":"depth"}} x"#,
            r#"{"data":{"e":"depth","x":01}}"#,
            r#"{"data":{"e":"depth","x":tru}}"#,
            r#"{"data":{"U":-1,"e":"depth"}}"#,
            r#"{"stream":"x"}"#,
            r#"{"data":{"e":"depth","b":[["1e5","2"]]}}"#,
            r#"{"data":{"e":"depth","b":[[".5","2"]]}}"#,
            r#"{"data":{"e":"depth","b":[["5.","2"]]}}"#,
            r#"{"data":{"e":"depth","b":[["99999999999999999999","2"]]}}"#,
        ] {
            assert_eq!(scan(f).map(|_| ()), Err(Bail), "{f}");
        }
    }

    #[test]
    fn ticker_shape() {
        let f = r#"{"data":{"A":"0.41200","B":"1.94230","E":1790134357267301,"T":1790134357267080,"a":"86656.0","b":"86655.9","e":"bookTicker","s":"BTC_USDC_PERP","u":6730019259},"stream":"bookTicker.BTC_USDC_PERP"}"#;
        let (h, b, a) = scan(f).unwrap();
        assert_eq!(h.event, Some("bookTicker"));
        assert!(b.is_empty() && a.is_empty() && !h.bid_levels && !h.ask_levels);
        assert_eq!(h.bid_px.unwrap().to_units(1), Some(866559));
        assert_eq!(h.bid_sz.unwrap().to_units(5), Some(194230));
        assert_eq!(h.ask_px.unwrap().to_units(1), Some(866560));
        assert_eq!(h.ask_sz.unwrap().to_units(5), Some(41200));
        assert_eq!(h.last, Some(6730019259));
        // A venue error anywhere goes to the general path, which reports it.
        assert_eq!(scan(r#"{"data":{"e":"depth","b":[]},"error":{"code":1}}"#).map(|_| ()), Err(Bail));
        assert_eq!(scan(r#"{"e":"depthUpdate","code":-1,"b":[]}"#).map(|_| ()), Err(Bail));
    }

    #[test]
    fn decimal_edge_cases() {
        let pad = "\"]]},{\"x\":1234567890";
        for (text, want) in [
            ("0", Some((0, 0, false))),
            ("-0.5", Some((5, 1, true))),
            ("1234567", Some((1234567, 0, false))),
            ("12345678", Some((12345678, 0, false))),
            ("1234567.1234567", Some((12345671234567, 7, false))),
            ("1234567.12345678", Some((123456712345678, 8, false))),
            ("000.00001", Some((1, 5, false))),
            ("1234567890123456", Some((1234567890123456, 0, false))),
            ("72057594037927935", Some(((1 << 56) - 1, 0, false))),
            ("7205759403792793.6", None),
            ("12345678901234567890", None),
            ("", None),
            ("-", None),
            (".5", None),
            ("5.", None),
            ("5..1", None),
            ("1.2.3", None),
            ("1e5", None),
            ("+1", None),
            ("1 ", None),
        ] {
            let s = format!("{text}{pad}");
            let got = decimal_body(s.as_bytes());
            assert_eq!(got.map(|(n, used)| ((n.mantissa(), n.frac() as u8, n.is_negative()), used)),
                want.map(|w: (u64, u8, bool)| (w, text.len() + 1)), "{text}");
            assert_eq!(got, decimal_body_bytewise(s.as_bytes()), "{text}");
        }
    }

    #[test]
    fn string_stops_finds_quotes_backslashes_and_control_bytes() {
        for (i, c) in [(0usize, b'"'), (3, b'\\'), (7, 0x1f), (5, 0x00)] {
            let mut w = *b"abcdefgh";
            w[i] = c;
            assert_eq!(string_stops(u64::from_le_bytes(w)).trailing_zeros() / 8, i as u32);
        }
        assert_eq!(string_stops(u64::from_le_bytes(*b"a b~\x7f!#z")), 0);
        // A non-ASCII byte stops the word loop; the string is then read byte by byte and checked as UTF-8.
        assert_eq!(string_stops(u64::from_le_bytes(*b"a b~\x7f\xff\xc3!")).trailing_zeros() / 8, 5);
        let mut s = Scanner { b: "\"BTC_\u{e9}t\u{e9}_longer\",".as_bytes(), i: 0 };
        assert_eq!(s.string(), Ok("BTC_\u{e9}t\u{e9}_longer"));
        let bad = b"\"abcdefgh\xff\xfeij\"";
        assert_eq!(Scanner { b: bad, i: 0 }.string(), Err(Bail));
        assert_eq!(scan(r#"{"e":"depth","stream_name_longer_than_8":"a\"b","b":[]}"#).map(|_| ()), Err(Bail));
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, the whole string (RFC 8259's number).
    fn json_number_grammar(s: &str) -> bool {
        let b = s.as_bytes();
        let mut i = usize::from(b.first() == Some(&b'-'));
        let run = |i: usize| i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(c) if c.is_ascii_digit() => i = run(i),
            _ => return false,
        }
        if b.get(i) == Some(&b'.') {
            let j = run(i + 1);
            if j == i + 1 {
                return false;
            }
            i = j;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1 + usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
            let j = run(i);
            if j == i {
                return false;
            }
            i = j;
        }
        i == b.len()
    }

    proptest::proptest! {
        /// The word-at-a-time byte classes agree with the byte-by-byte definitions.
        #[test]
        fn word_classes_match_bytes(w in proptest::prelude::any::<[u8; 8]>()) {
            let v = u64::from_le_bytes(w);
            for (i, &c) in w.iter().enumerate() {
                let bit = 0x80u64 << (8 * i);
                proptest::prop_assert_eq!(string_stops(v) & bit != 0, c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c));
                proptest::prop_assert_eq!(non_digits(v) & bit != 0, !c.is_ascii_digit());
            }
        }

        /// Reading a column with a remembered shape gives what reading each decimal alone gives.
        #[test]
        fn shaped_column_matches_plain(
            column in proptest::collection::vec("-?[0-9]{0,4}(\\.[0-9]{0,4})?[\"x.]", 1..12),
            tail in "[\"0-9.,\\]\\[a-z]{0,20}",
        ) {
            let mut shape = Shape::NONE;
            for text in column {
                let s = format!("{text}{tail}");
                let got = decimal_shaped(s.as_bytes(), &mut shape);
                let want = decimal_body(s.as_bytes()).unwrap_or((RawNum(0), 0));
                proptest::prop_assert_eq!(got, want, "{}", s);
            }
        }

        /// Whole level arrays (mostly one shape per column, with odd ones mixed in) read as each decimal
        /// read alone, or the frame is declined when one of them is not a plain decimal.
        #[test]
        fn level_arrays_match_plain_reads(
            levels in proptest::collection::vec(
                (
                    proptest::prop_oneof![4 => "8660[0-9]\\.[0-9]", 1 => "-?[0-9]{1,9}(\\.[0-9]{0,9})?"],
                    proptest::prop_oneof![4 => "[0-9]\\.[0-9]{5}", 1 => "[0-9.]{0,8}"],
                ),
                0..30,
            ),
            pad in " ?",
        ) {
            let body: Vec<String> = levels.iter().map(|(p, q)| format!("[\"{p}\",{pad}\"{q}\"]")).collect();
            let frame = format!(r#"{{"data":{{"U":1,"b":[{}],"e":"depth","s":"X","u":1}},"stream":"depth.X"}}"#, body.join(","));
            let plain = |t: &str| decimal_body_bytewise(format!("{t}\"").as_bytes()).map(|(n, _)| n);
            let want: Option<Vec<RawLevel>> = levels.iter().map(|(p, q)| Some((plain(p)?, plain(q)?))).collect();
            let (mut b, mut a) = (Vec::new(), Vec::new());
            let got = market(frame.as_bytes(), &mut b, &mut a).map(|_| b);
            match want {
                Some(w) => proptest::prop_assert_eq!(got, Ok(w)),
                None => proptest::prop_assert_eq!(got, Err(Bail)),
            }
        }

        /// The SSE level reader and the scalar one read the same levels, or both decline: columns of one
        /// shape per frame (drawn per test), with odd levels (other shapes, signs, whitespace, junk) mixed in.
        #[cfg(target_arch = "x86_64")]
        #[test]
        fn sse_levels_match_scalar(
            int_digits in (1usize..6, 1usize..6),
            frac_digits in (1usize..6, 1usize..6),
            levels in proptest::collection::vec(
                (proptest::prelude::any::<(u32, u32)>(), proptest::prop_oneof![
                    8 => proptest::strategy::Just(String::new()),
                    1 => "-?[0-9]{0,8}(\\.[0-9]{0,8})?",
                    1 => "[0-9.\\-a ,\\[\\]\"]{0,10}",
                ]),
                0..40,
            ),
            tail in "[\\],\\[ ]{0,3}",
        ) {
            if !sse::available() {
                return Ok(());
            }
            let col = |v: u32, (i, f): (usize, usize)| {
                let s = format!("{:0w$}", v as u64 % 10u64.pow((i + f) as u32), w = i + f);
                format!("{}.{}", &s[..i], &s[i..])
            };
            let body: Vec<String> = levels
                .iter()
                .map(|((p, q), odd)| {
                    let (mut p, q) = (col(*p, (int_digits.0, frac_digits.0)), col(*q, (int_digits.1, frac_digits.1)));
                    if !odd.is_empty() {
                        p = odd.clone();
                    }
                    format!("[\"{p}\",\"{q}\"]")
                })
                .collect();
            let text = format!("[{}]{tail}", body.join(","));
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let mut s1 = Scanner { b: text.as_bytes(), i: 0 };
            let mut s2 = Scanner { b: text.as_bytes(), i: 0 };
            // SAFETY: the features were detected above.
            let r1 = unsafe { s1.levels_sse(&mut a, &mut SideShapes { shapes: (Shape::NONE, Shape::NONE), pair: None }) };
            let r2 = s2.levels_scalar(&mut b, &mut (Shape::NONE, Shape::NONE));
            proptest::prop_assert_eq!(r1.is_ok(), r2.is_ok(), "{}", text);
            if r1.is_ok() {
                proptest::prop_assert_eq!(&a, &b, "{}", text);
                proptest::prop_assert_eq!(s1.i, s2.i);
            }
        }

        /// Shapes carried from frame to frame never change what a frame reads: a run of frames whose
        /// columns change shape (or hold odd levels) reads as each frame read alone.
        #[test]
        fn carried_shapes_read_as_fresh_ones(
            frames in proptest::collection::vec(
                (1usize..5, 1usize..5, proptest::collection::vec((0u32..100_000, 0u32..100_000), 0..6),
                 proptest::prop_oneof![6 => proptest::strategy::Just(String::new()), 1 => "-?[0-9.]{1,6}"]),
                1..8,
            ),
        ) {
            let mut cols = ColumnShapes::default();
            for (i, f, levels, odd) in &frames {
                let col = |v: u32| {
                    let s = format!("{:0w$}", v as u64 % 10u64.pow((i + f) as u32), w = i + f);
                    format!("{}.{}", &s[..*i], &s[*i..])
                };
                let body: Vec<String> = levels
                    .iter()
                    .enumerate()
                    .map(|(k, (p, q))| {
                        let p = if k == 1 && !odd.is_empty() { odd.clone() } else { col(*p) };
                        format!("[\"{p}\",\"{}\"]", col(*q))
                    })
                    .collect();
                let frame = format!(
                    r#"{{"data":{{"U":1,"a":[{0}],"b":[{0}],"e":"depth","s":"X","u":1}},"stream":"depth.X"}}"#,
                    body.join(",")
                );
                let (mut b1, mut a1, mut b2, mut a2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                let carried = market_with(frame.as_bytes(), &mut b1, &mut a1, &mut cols).map(|_| (b1, a1));
                let fresh = market(frame.as_bytes(), &mut b2, &mut a2).map(|_| (b2, a2));
                proptest::prop_assert_eq!(carried, fresh, "{}", frame);
            }
        }

        /// Counters (`U`, `u`, `pu`) and skipped numbers (`E`, `T`) read as a plain parse reads them: the
        /// value of a run of up to 20 digits (a quoted run too), or a decline; JSON number spans exactly.
        #[test]
        fn counters_and_number_spans_match_plain_parsing(
            digits in "[0-9]{1,22}",
            frac in proptest::option::of("\\.[0-9]{0,3}"),
            exp in proptest::option::of("[eE][+-]?[0-9]{0,3}"),
            quoted in proptest::prelude::any::<bool>(),
            tail in "[,}\\] a]{0,12}",
        ) {
            let num = format!("{digits}{}{}", frac.clone().unwrap_or_default(), exp.clone().unwrap_or_default());
            let text = if quoted { format!("\"{num}\"{tail}") } else { format!("{num}{tail}") };
            let leading_zero = digits.len() > 1 && digits.starts_with('0');
            let got = Scanner { b: text.as_bytes(), i: 0 }.u64_value();
            if frac.is_none() && exp.is_none() && (quoted || !leading_zero) {
                proptest::prop_assert_eq!(got.ok(), digits.parse::<u64>().ok().filter(|_| digits.len() <= 20), "{}", text);
            } else if quoted || !leading_zero {
                proptest::prop_assert!(got.is_err(), "{}", text); // a fraction or an exponent
            }
            if !quoted {
                let json_ok = json_number_grammar(&num);
                let span = Scanner { b: text.as_bytes(), i: 0 }.number_span();
                match span {
                    Ok((a, e)) if json_ok => proptest::prop_assert_eq!((a, e), (0, num.len()), "{}", text),
                    // Not a JSON number: at most a valid prefix ("0" of "01"), the next token then fails.
                    Ok((_, e)) => proptest::prop_assert!(e < num.len(), "{}", text),
                    Err(_) => proptest::prop_assert!(!json_ok, "{}", text),
                }
            }
        }

        /// The 8-bytes-at-a-time reader agrees with the byte-by-byte one on any input.
        #[test]
        fn swar_decimal_matches_bytewise(
            text in "-?[0-9.]{0,22}[\"0-9.a ]?",
            tail in "[\"0-9.,\\]\\[a-z]{0,20}",
        ) {
            let s = format!("{text}{tail}");
            proptest::prop_assert_eq!(decimal_body(s.as_bytes()), decimal_body_bytewise(s.as_bytes()));
        }
    }
}
