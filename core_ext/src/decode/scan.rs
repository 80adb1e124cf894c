//! Fast path for the hottest frame shape: a diff-depth message (Backpack `depth`, Binance `depthUpdate`).
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

/// A decimal string read digit by digit during the scan, before the market's scale is known:
/// value = mantissa / 10^frac (sign separate). Converted with `RawNum::to_units`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawNum {
    pub mantissa: u64,
    pub frac: u8,
    pub neg: bool,
}

impl RawNum {
    /// Units of 10^-decimals; None when digits beyond `decimals` are nonzero or the value overflows
    /// (the general path then reports the exact error).
    #[inline]
    pub fn to_units(self, decimals: u32) -> Option<i64> {
        let frac = self.frac as u32;
        let m = if frac == decimals {
            self.mantissa
        } else if frac < decimals {
            self.mantissa.checked_mul(crate::fixed::pow10(decimals - frac) as u64)?
        } else {
            let p = *POW10_U64.get((frac - decimals) as usize)?;
            if self.mantissa % p != 0 {
                return None;
            }
            self.mantissa / p
        };
        let v = i64::try_from(m).ok()?;
        Some(if self.neg { -v } else { v })
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

/// The head fields of a depth frame (levels are in the caller's span buffers).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DepthHead<'a> {
    pub stream: Option<&'a str>,
    pub event: Option<&'a str>,
    pub symbol: Option<&'a str>,
    pub first: Option<u64>,
    pub last: Option<u64>,
    pub prev: Option<u64>,
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
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
        let mut k = 0;
        while k < rest.len() {
            let c = rest[k];
            if c == b'"' {
                let end = start + k;
                if !rest[..k].is_ascii() {
                    std::str::from_utf8(&rest[..k]).map_err(|_| Bail)?;
                }
                self.i = end + 1;
                return Ok((start, end));
            }
            if c == b'\\' || c < 0x20 {
                return Err(Bail);
            }
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
            Some(c) if c.is_ascii_digit() => {
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => return Err(Bail),
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let d0 = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
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
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
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
    fn levels(&mut self, out: &mut Vec<RawLevel>) -> R<()> {
        out.clear();
        self.eat(b'[')?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.eat(b'[')?;
            let px = self.decimal_string()?;
            self.eat(b',')?;
            let sz = self.decimal_string()?;
            self.eat(b']')?;
            out.push((px, sz));
            if self.b.get(self.i) == Some(&b',') && self.b.get(self.i + 1) == Some(&b'[') {
                self.i += 1;
                continue;
            }
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

    /// One depth object (the message itself, or the `data` of an envelope when `outer`).
    fn depth_object(
        &mut self,
        head: &mut DepthHead<'a>,
        bids: &mut Vec<RawLevel>,
        asks: &mut Vec<RawLevel>,
        outer: bool,
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
                    if e != "depth" && e != "depthUpdate" {
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
                "b" => {
                    once(32)?;
                    self.levels(bids)?;
                }
                "a" => {
                    once(64)?;
                    self.levels(asks)?;
                }
                "stream" if outer => {
                    once(128)?;
                    head.stream = Some(self.string()?);
                }
                "data" if outer => {
                    once(256)?;
                    self.depth_object(head, bids, asks, false)?;
                }
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

/// The digits of a quoted decimal after its opening quote, through the closing quote: (value, bytes
/// consumed). Kept out of line so the digit loop keeps its accumulator in a register.
#[inline(never)]
fn decimal_body(rest: &[u8]) -> Option<(RawNum, usize)> {
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
    Some((RawNum { mantissa: m, frac: frac as u8, neg }, k + 1))
}

/// Scan a depth frame; levels go to `bids` / `asks` as raw decimals.
pub fn depth<'a>(frame: &'a [u8], bids: &mut Vec<RawLevel>, asks: &mut Vec<RawLevel>) -> R<DepthHead<'a>> {
    let mut s = Scanner { b: frame, i: 0 };
    let mut head = DepthHead::default();
    bids.clear();
    asks.clear();
    s.depth_object(&mut head, bids, asks, true)?;
    s.ws();
    if s.i != frame.len() || head.event.is_none() {
        return Err(Bail);
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(f: &str) -> R<(DepthHead<'_>, Vec<RawLevel>, Vec<RawLevel>)> {
        let (mut b, mut a) = (Vec::new(), Vec::new());
        let h = depth(f.as_bytes(), &mut b, &mut a)?;
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
            r#"{"data":{"e":"bookTicker","a":"1","b":"2"},"stream":"x"}"#,
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
}
