//! The Goldilocks field GF(p), p = 2^64 - 2^32 + 1, and its quintic extension GF(p^5) = GF(p)[X]/(X^5 - 3).
//!
//! Elements are kept as any `u64` (a value and the same value plus p are the same element); every
//! operation is exact for all `u64` inputs, and `canonical()` gives the unique representative below p
//! (used for comparisons and encodings).

/// p = 2^64 - 2^32 + 1.
pub const P: u64 = 0xffff_ffff_0000_0001;
/// 2^64 mod p = 2^32 - 1.
const EPSILON: u64 = 0xffff_ffff;

#[derive(Clone, Copy, Debug, Default)]
pub struct Gl(pub u64);

impl PartialEq for Gl {
    fn eq(&self, other: &Self) -> bool {
        self.canonical() == other.canonical()
    }
}
impl Eq for Gl {}

impl Gl {
    pub const ZERO: Gl = Gl(0);
    pub const ONE: Gl = Gl(1);

    #[inline(always)]
    pub fn canonical(self) -> u64 {
        if self.0 >= P {
            self.0 - P
        } else {
            self.0
        }
    }

    #[inline(always)]
    pub fn is_zero(self) -> bool {
        self.canonical() == 0
    }

    #[inline(always)]
    pub fn add(self, rhs: Gl) -> Gl {
        let (sum, over) = self.0.overflowing_add(rhs.0);
        let (mut sum, over) = sum.overflowing_add((over as u64) * EPSILON);
        if over {
            // sum < 2^32 here, so this cannot overflow
            sum += EPSILON;
        }
        Gl(sum)
    }

    #[inline(always)]
    pub fn sub(self, rhs: Gl) -> Gl {
        let (diff, borrow) = self.0.overflowing_sub(rhs.0);
        let (mut diff, borrow) = diff.overflowing_sub((borrow as u64) * EPSILON);
        if borrow {
            diff -= EPSILON;
        }
        Gl(diff)
    }

    #[inline(always)]
    pub fn neg(self) -> Gl {
        let c = self.canonical();
        Gl(if c == 0 { 0 } else { P - c })
    }

    #[inline(always)]
    pub fn double(self) -> Gl {
        self.add(self)
    }

    #[inline(always)]
    pub fn mul(self, rhs: Gl) -> Gl {
        reduce128((self.0 as u128) * (rhs.0 as u128))
    }

    #[inline(always)]
    pub fn square(self) -> Gl {
        self.mul(self)
    }

    pub fn exp_power_of_2(self, n: u32) -> Gl {
        let mut z = self;
        for _ in 0..n {
            z = z.square();
        }
        z
    }

    pub fn pow(self, mut e: u64) -> Gl {
        let mut base = self;
        let mut acc = Gl::ONE;
        while e > 0 {
            if e & 1 == 1 {
                acc = acc.mul(base);
            }
            base = base.square();
            e >>= 1;
        }
        acc
    }

    /// 1/x, or 0 for x = 0 (x^(p-2)).
    pub fn inverse_or_zero(self) -> Gl {
        self.pow(P - 2)
    }

    /// Legendre symbol as a field element: 1 (square), p-1 (non-square) or 0.
    pub fn legendre(self) -> Gl {
        self.pow((P - 1) / 2)
    }

    /// A square root if one exists (Tonelli-Shanks; p - 1 = 2^32 * (2^32 - 1)).
    pub fn sqrt(self) -> Option<Gl> {
        if self.is_zero() {
            return Some(Gl::ZERO);
        }
        if self.legendre().canonical() != 1 {
            return None;
        }
        const TWO_ADICITY: u32 = 32;
        // A primitive 2^32-th root of unity (the constant plonky2 and lighter's Go library use).
        const ROOT_OF_UNITY: Gl = Gl(7_277_203_076_849_721_926);
        let t: u64 = (P - 1) >> TWO_ADICITY;
        let mut z = ROOT_OF_UNITY;
        let mut w = self.pow((t - 1) / 2);
        let mut x = self.mul(w);
        let mut b = x.mul(w);
        let mut v = TWO_ADICITY;
        while b.canonical() != 1 {
            let mut k = 0;
            let mut b2k = b;
            while b2k.canonical() != 1 {
                b2k = b2k.square();
                k += 1;
                if k >= v {
                    return None; // unreachable for a residue; never loop forever on bad input
                }
            }
            w = z.exp_power_of_2(v - k - 1);
            z = w.square();
            b = b.mul(z);
            x = x.mul(w);
            v = k;
        }
        Some(x)
    }
}

/// x mod p for any 128-bit x (2^64 = 2^32 - 1 and 2^96 = -1 mod p).
#[inline(always)]
pub fn reduce128(x: u128) -> Gl {
    let lo = x as u64;
    let hi = (x >> 64) as u64;
    let hi_hi = hi >> 32;
    let hi_lo = hi & EPSILON;
    let (mut t0, borrow) = lo.overflowing_sub(hi_hi);
    if borrow {
        t0 = t0.wrapping_sub(EPSILON);
    }
    let t1 = hi_lo * EPSILON;
    let (res, carry) = t0.overflowing_add(t1);
    Gl(res.wrapping_add(EPSILON * (carry as u64)))
}

/// An element of GF(p^5): c0 + c1 X + ... + c4 X^4 with X^5 = 3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fp5(pub [Gl; 5]);

/// W in X^5 = W.
const W: u64 = 3;
/// A primitive 5th root of unity in GF(p) (for the Frobenius map x -> x^p).
const DTH_ROOT: Gl = Gl(1_041_288_259_238_279_555);

/// Sum of 128-bit products, reduced once (an accumulator wide enough for 6 products times W).
#[derive(Clone, Copy)]
struct Acc {
    lo: u128,
    hi: u64,
}

impl Acc {
    #[inline(always)]
    fn new() -> Acc {
        Acc { lo: 0, hi: 0 }
    }
    #[inline(always)]
    fn add_prod(&mut self, a: u64, b: u64) {
        let (s, o) = self.lo.overflowing_add((a as u128) * (b as u128));
        self.lo = s;
        self.hi += o as u64;
    }
    #[inline(always)]
    fn reduce(self) -> Gl {
        // value = hi * 2^128 + lo; 2^128 = -2^32 mod p.
        let r = reduce128(self.lo);
        r.sub(Gl(self.hi << 32))
    }
}

impl Fp5 {
    pub const ZERO: Fp5 = Fp5([Gl::ZERO; 5]);
    pub const ONE: Fp5 = Fp5([Gl::ONE, Gl::ZERO, Gl::ZERO, Gl::ZERO, Gl::ZERO]);

    pub const fn from_u64s(v: [u64; 5]) -> Fp5 {
        Fp5([Gl(v[0]), Gl(v[1]), Gl(v[2]), Gl(v[3]), Gl(v[4])])
    }

    pub fn from_gl(x: Gl) -> Fp5 {
        Fp5([x, Gl::ZERO, Gl::ZERO, Gl::ZERO, Gl::ZERO])
    }

    pub fn canonical(self) -> [u64; 5] {
        let c = self.0;
        [c[0].canonical(), c[1].canonical(), c[2].canonical(), c[3].canonical(), c[4].canonical()]
    }

    pub fn is_zero(self) -> bool {
        self.0.iter().all(|c| c.is_zero())
    }

    /// 40 bytes, five canonical limbs little-endian.
    pub fn to_le_bytes(self) -> [u8; 40] {
        let mut out = [0u8; 40];
        for (i, limb) in self.canonical().iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&limb.to_le_bytes());
        }
        out
    }

    /// From 40 bytes; `None` if a limb is not below p (no second encoding of one element).
    pub fn from_canonical_le_bytes(b: &[u8]) -> Option<Fp5> {
        if b.len() != 40 {
            return None;
        }
        let mut limbs = [Gl::ZERO; 5];
        for (i, limb) in limbs.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            let v = u64::from_le_bytes(w);
            if v >= P {
                return None;
            }
            *limb = Gl(v);
        }
        Some(Fp5(limbs))
    }

    #[inline(always)]
    pub fn add(self, r: Fp5) -> Fp5 {
        let (a, b) = (self.0, r.0);
        Fp5([a[0].add(b[0]), a[1].add(b[1]), a[2].add(b[2]), a[3].add(b[3]), a[4].add(b[4])])
    }

    #[inline(always)]
    pub fn sub(self, r: Fp5) -> Fp5 {
        let (a, b) = (self.0, r.0);
        Fp5([a[0].sub(b[0]), a[1].sub(b[1]), a[2].sub(b[2]), a[3].sub(b[3]), a[4].sub(b[4])])
    }

    #[inline(always)]
    pub fn neg(self) -> Fp5 {
        let a = self.0;
        Fp5([a[0].neg(), a[1].neg(), a[2].neg(), a[3].neg(), a[4].neg()])
    }

    #[inline(always)]
    pub fn double(self) -> Fp5 {
        self.add(self)
    }

    pub fn scale(self, s: Gl) -> Fp5 {
        let a = self.0;
        Fp5([a[0].mul(s), a[1].mul(s), a[2].mul(s), a[3].mul(s), a[4].mul(s)])
    }

    /// Multiply by a small constant in the X^1 limb only (the curve's b = 263 X).
    #[inline(always)]
    pub fn mul_by_x_small(self, k: u64) -> Fp5 {
        // (a0 + a1 X + ... + a4 X^4) * k X = k*W*a4 + k*a0 X + k*a1 X^2 + k*a2 X^3 + k*a3 X^4
        let a = self.0;
        Fp5([a[4].mul(Gl(k * W)), a[0].mul(Gl(k)), a[1].mul(Gl(k)), a[2].mul(Gl(k)), a[3].mul(Gl(k))])
    }

    #[inline(always)]
    pub fn mul(self, r: Fp5) -> Fp5 {
        let a = self.0.map(|x| x.0);
        let b = r.0.map(|x| x.0);
        // Products that wrap past X^4 are multiplied by W = 3: fold the factor into one operand
        // (3 * a_i as a u128 product would overflow the accumulator, so reduce it first).
        let a3w = [0, Gl(a[1]).mul(Gl(W)).0, Gl(a[2]).mul(Gl(W)).0, Gl(a[3]).mul(Gl(W)).0, Gl(a[4]).mul(Gl(W)).0];
        let mut c = [Acc::new(); 5];
        c[0].add_prod(a[0], b[0]);
        c[0].add_prod(a3w[1], b[4]);
        c[0].add_prod(a3w[2], b[3]);
        c[0].add_prod(a3w[3], b[2]);
        c[0].add_prod(a3w[4], b[1]);

        c[1].add_prod(a[0], b[1]);
        c[1].add_prod(a[1], b[0]);
        c[1].add_prod(a3w[2], b[4]);
        c[1].add_prod(a3w[3], b[3]);
        c[1].add_prod(a3w[4], b[2]);

        c[2].add_prod(a[0], b[2]);
        c[2].add_prod(a[1], b[1]);
        c[2].add_prod(a[2], b[0]);
        c[2].add_prod(a3w[3], b[4]);
        c[2].add_prod(a3w[4], b[3]);

        c[3].add_prod(a[0], b[3]);
        c[3].add_prod(a[1], b[2]);
        c[3].add_prod(a[2], b[1]);
        c[3].add_prod(a[3], b[0]);
        c[3].add_prod(a3w[4], b[4]);

        c[4].add_prod(a[0], b[4]);
        c[4].add_prod(a[1], b[3]);
        c[4].add_prod(a[2], b[2]);
        c[4].add_prod(a[3], b[1]);
        c[4].add_prod(a[4], b[0]);
        Fp5([c[0].reduce(), c[1].reduce(), c[2].reduce(), c[3].reduce(), c[4].reduce()])
    }

    #[inline(always)]
    pub fn square(self) -> Fp5 {
        self.mul(self)
    }

    pub fn exp_power_of_2(self, n: u32) -> Fp5 {
        let mut z = self;
        for _ in 0..n {
            z = z.square();
        }
        z
    }

    /// x -> x^(p^count): limb i is multiplied by DTH_ROOT^(i*count).
    pub fn repeated_frobenius(self, count: usize) -> Fp5 {
        let count = count % 5;
        if count == 0 {
            return self;
        }
        let z0 = DTH_ROOT.pow(count as u64);
        let mut z = Gl::ONE;
        let mut out = self;
        for limb in out.0.iter_mut() {
            *limb = limb.mul(z);
            z = z.mul(z0);
        }
        out
    }

    pub fn frobenius(self) -> Fp5 {
        self.repeated_frobenius(1)
    }

    /// 1/x, or 0 for x = 0. Uses x^(r-1) with r = 1 + p + ... + p^4 (the norm is in GF(p)).
    pub fn inverse_or_zero(self) -> Fp5 {
        if self.is_zero() {
            return Fp5::ZERO;
        }
        let d = self.frobenius();
        let e = d.mul(d.frobenius());
        let f = e.mul(e.repeated_frobenius(2));
        // norm = (self * f) lies in GF(p): only its X^0 limb is needed.
        let g = self.mul(f).0[0];
        f.scale(g.inverse_or_zero())
    }

    pub fn div(self, r: Fp5) -> Fp5 {
        self.mul(r.inverse_or_zero())
    }

    /// Legendre symbol in GF(p^5) (= the base-field symbol of the norm): 1, p-1 or 0.
    pub fn legendre(self) -> Gl {
        let frob1 = self.frobenius();
        let frob2 = frob1.frobenius();
        let f12 = frob1.mul(frob2);
        let f34 = f12.repeated_frobenius(2);
        let norm = self.mul(f12).mul(f34).0[0];
        norm.legendre()
    }

    /// A square root if one exists (either root).
    pub fn sqrt(self) -> Option<Fp5> {
        if self.is_zero() {
            return Some(Fp5::ZERO);
        }
        // x^((r-1)/2) * ... : write sqrt(x) = sqrt(x * e^2) / e with x * e^2 in GF(p), where
        // e = x^((p + p^3)(p^... )) as in the ECgFp5 paper: v = x^(2^31), d = x * v^(2^32) / v
        // = x^((p-1)/2 + 1) ... e = Frob(d * Frob^2(d)).
        let v = self.exp_power_of_2(31);
        let d = self.mul(v.exp_power_of_2(32)).mul(v.inverse_or_zero());
        let e = d.mul(d.repeated_frobenius(2)).frobenius();
        let f = e.square();
        let g = self.mul(f).0[0];
        let s = g.sqrt()?;
        Some(Fp5::from_gl(s).mul(e.inverse_or_zero()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn slow_mul(a: u64, b: u64) -> u64 {
        ((a as u128 * b as u128) % P as u128) as u64
    }

    fn fp5(v: [u64; 5]) -> Fp5 {
        Fp5::from_u64s(v)
    }

    fn slow_fp5_mul(a: Fp5, b: Fp5) -> Fp5 {
        let mut c = [0u128; 9];
        for i in 0..5 {
            for j in 0..5 {
                c[i + j] = (c[i + j] + slow_mul(a.0[i].canonical(), b.0[j].canonical()) as u128) % P as u128;
            }
        }
        let mut out = [0u64; 5];
        for k in 0..5 {
            let hi = if k + 5 < 9 { c[k + 5] } else { 0 };
            out[k] = ((c[k] + 3 * hi) % P as u128) as u64;
        }
        fp5(out)
    }

    #[test]
    fn constants() {
        // DTH_ROOT is a primitive 5th root of unity
        assert_eq!(DTH_ROOT.pow(5).canonical(), 1);
        assert_ne!(DTH_ROOT.canonical(), 1);
        assert_eq!(reduce128(u128::MAX).canonical(), (u128::MAX % P as u128) as u64);
        assert_eq!(Gl(P).canonical(), 0);
        let root = Gl(7_277_203_076_849_721_926);
        assert_eq!(root.exp_power_of_2(31).canonical(), P - 1);
        assert_eq!(Gl(u64::MAX).add(Gl(u64::MAX)).canonical(), ((2 * (u64::MAX as u128)) % P as u128) as u64);
    }

    proptest! {
        #[test]
        fn base_field_ops_match_integers(a in any::<u64>(), b in any::<u64>()) {
            let (am, bm) = (a as u128 % P as u128, b as u128 % P as u128);
            let p = P as u128;
            prop_assert_eq!(Gl(a).add(Gl(b)).canonical() as u128, (am + bm) % p);
            prop_assert_eq!(Gl(a).sub(Gl(b)).canonical() as u128, (am + p - bm) % p);
            prop_assert_eq!(Gl(a).mul(Gl(b)).canonical() as u128, (am * bm) % p);
            prop_assert_eq!(Gl(a).neg().add(Gl(a)).canonical(), 0);
            if am != 0 {
                prop_assert_eq!(Gl(a).inverse_or_zero().mul(Gl(a)).canonical(), 1);
            }
        }

        #[test]
        fn base_sqrt(a in any::<u64>()) {
            let sq = Gl(a).square();
            let r = sq.sqrt().expect("a square has a root");
            prop_assert_eq!(r.square(), sq);
        }

        #[test]
        fn fp5_laws(a in any::<[u64; 5]>(), b in any::<[u64; 5]>(), c in any::<[u64; 5]>()) {
            let (a, b, c) = (fp5(a), fp5(b), fp5(c));
            prop_assert_eq!(a.mul(b), slow_fp5_mul(a, b));
            prop_assert_eq!(a.mul(b), b.mul(a));
            prop_assert_eq!(a.mul(b.add(c)), a.mul(b).add(a.mul(c)));
            prop_assert_eq!(a.mul(b).mul(c), a.mul(b.mul(c)));
            prop_assert_eq!(a.sub(b).add(b), a);
            if !a.is_zero() {
                prop_assert_eq!(a.mul(a.inverse_or_zero()), Fp5::ONE);
            }
            // Frobenius is x^p
            let mut xp = Fp5::ONE;
            let mut base = a;
            let mut e = P;
            while e > 0 { if e & 1 == 1 { xp = xp.mul(base); } base = base.square(); e >>= 1; }
            prop_assert_eq!(a.frobenius(), xp);
            prop_assert_eq!(a.mul_by_x_small(263), a.mul(fp5([0, 263, 0, 0, 0])));
        }

        #[test]
        fn fp5_sqrt_and_legendre(a in any::<[u64; 5]>()) {
            let a = fp5(a);
            let sq = a.square();
            let r = sq.sqrt().expect("a square has a root");
            prop_assert_eq!(r.square(), sq);
            if !a.is_zero() {
                prop_assert_eq!(sq.legendre().canonical(), 1);
                // a non-square times a square is a non-square: 3 is not a square in GF(p^5)? check via legendre
                let l = a.legendre().canonical();
                prop_assert!(l == 1 || l == P - 1);
                prop_assert_eq!(a.sqrt().is_some(), l == 1);
            }
        }
    }
}
