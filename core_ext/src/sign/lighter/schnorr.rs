//! Schnorr signatures over ECgFp5 as Lighter uses them: for a message hash h in GF(p^5),
//! r = encode(k G), e = Poseidon2(r || h) read as a scalar, s = k - e sk; the signature is
//! s || e (40 + 40 bytes, little-endian). Verification recomputes r from s G + e pk.

use zeroize::Zeroize;

use super::ecgfp5::{mul_generator, Point, Scalar};
use super::goldilocks::{Fp5, Gl};
use super::poseidon2::hash_to_quintic;

/// A private key (a scalar below n); wiped on drop.
pub struct SecretKey(Scalar);

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0 .0.zeroize();
    }
}

impl SecretKey {
    /// From the 40 key bytes (little-endian), reduced mod n like lighter's Go library does.
    pub fn from_bytes(b: &[u8; 40]) -> SecretKey {
        SecretKey(Scalar::from_le_bytes_reduce(b))
    }

    /// A fresh key from the OS generator, with its 40 bytes (little-endian) for storage.
    pub fn generate() -> Result<(SecretKey, [u8; 40]), &'static str> {
        let k = random_scalar()?;
        let bytes = k.to_le_bytes();
        Ok((SecretKey(k), bytes))
    }

    /// The public key: encode(sk G).
    pub fn public_key(&self) -> Fp5 {
        mul_generator(&self.0).encode()
    }

    /// Sign a message hash with a fresh random nonce from the OS generator.
    pub fn sign(&self, hashed: &Fp5) -> Result<[u8; 80], &'static str> {
        let k = random_scalar()?;
        Ok(self.sign_with_nonce(hashed, &k))
    }

    /// Sign with a given nonce (tests; the nonce must be secret, uniform and never reused).
    pub fn sign_with_nonce(&self, hashed: &Fp5, k: &Scalar) -> [u8; 80] {
        self.sign_with_commitment(hashed, k, &mul_generator(k).encode())
    }

    /// Sign with a nonce k whose commitment r = encode(k G) was computed ahead (see `pool`); k must be
    /// secret, uniform and used for this one signature only.
    pub fn sign_with_commitment(&self, hashed: &Fp5, k: &Scalar, r: &Fp5) -> [u8; 80] {
        let r = *r;
        let e = challenge(&r, hashed);
        let s = k.sub(e.mul(self.0));
        let mut out = [0u8; 80];
        out[..40].copy_from_slice(&s.to_le_bytes());
        out[40..].copy_from_slice(&e.to_le_bytes());
        out
    }
}

fn challenge(r: &Fp5, hashed: &Fp5) -> Scalar {
    let mut pre = [Gl::ZERO; 10];
    pre[..5].copy_from_slice(&r.0);
    pre[5..].copy_from_slice(&hashed.0);
    Scalar::from_fp5(hash_to_quintic(&pre))
}

/// A uniform scalar in 1..n from the OS generator (rejection sampling on 319-bit values).
pub(super) fn random_scalar() -> Result<Scalar, &'static str> {
    for _ in 0..64 {
        let mut buf = [0u8; 40];
        aws_lc_rs::rand::fill(&mut buf).map_err(|_| "the OS random generator failed")?;
        buf[39] &= 0x7f;
        let candidate = Scalar::from_canonical_le_bytes(&buf);
        buf.zeroize();
        if let Some(k) = candidate {
            if !k.is_zero() {
                return Ok(k);
            }
        }
    }
    Err("the OS random generator returned no usable nonce in 64 draws")
}

/// Whether `sig` (80 bytes) is a valid signature of `hashed` under the encoded public key `pk`.
/// Non-canonical s or e, a key that encodes no point, or a wrong length are all invalid.
pub fn verify(pk: &Fp5, hashed: &Fp5, sig: &[u8]) -> bool {
    if sig.len() != 80 {
        return false;
    }
    let (Some(s), Some(e)) = (Scalar::from_canonical_le_bytes(&sig[..40]), Scalar::from_canonical_le_bytes(&sig[40..]))
    else {
        return false;
    };
    let Some(pk_point) = Point::decode(*pk) else {
        return false;
    };
    let r = mul_generator(&s).add(&pk_point.mul_vartime(&e)).encode();
    challenge(&r, hashed) == e
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::lighter::ecgfp5::tests::scalar;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn sign_verify_and_tamper(sk in any::<[u64; 5]>(), h in any::<[u64; 5]>(), flip in 0usize..80, bit in 0u8..8) {
            let sk = scalar(sk);
            prop_assume!(!sk.is_zero());
            let key = SecretKey(sk);
            let pk = key.public_key();
            let h = Fp5::from_u64s(h.map(|x| x % super::super::goldilocks::P));
            let sig = key.sign(&h).unwrap();
            prop_assert!(verify(&pk, &h, &sig));
            let mut bad = sig;
            bad[flip] ^= 1 << bit;
            prop_assert!(!verify(&pk, &h, &bad));
            let mut h2 = h;
            h2.0[0] = h2.0[0].add(Gl::ONE);
            prop_assert!(!verify(&pk, &h2, &sig));
            let other = SecretKey(sk.add(Scalar::ONE)).public_key();
            prop_assert!(!verify(&other, &h, &sig));
            // two signatures of one message differ (random nonce) and both verify
            let sig2 = key.sign(&h).unwrap();
            prop_assert_ne!(sig, sig2);
            prop_assert!(verify(&pk, &h, &sig2));
        }
    }

    #[test]
    fn bad_shapes_are_invalid() {
        let key = SecretKey(Scalar::ONE);
        let pk = key.public_key();
        let h = Fp5::ONE;
        let sig = key.sign(&h).unwrap();
        assert!(!verify(&pk, &h, &sig[..79]));
        let mut high = sig;
        high[40..].copy_from_slice(&[0xff; 40]); // e >= n
        assert!(!verify(&pk, &h, &high));
        assert!(!verify(&Fp5::from_u64s([1, 2, 3, 4, 5]), &h, &sig) || Point::decode(Fp5::from_u64s([1, 2, 3, 4, 5])).is_some());
    }
}
