//! Poseidon2 over Goldilocks, width 12, rate 8, x^7 S-box, 8 full + 22 partial rounds: the permutation
//! and sponge ("plonky2" flavour: overwrite mode, no padding) that Lighter uses to hash transactions.
//! The round constants and the internal diagonal are public parameters (the external constants are those
//! of lighter's `poseidon_crypto` Go library; the diagonal is Plonky3's for width 12).

use super::goldilocks::{reduce128, Fp5, Gl};

pub const WIDTH: usize = 12;
pub const RATE: usize = 8;
const ROUNDS_F_HALF: usize = 4;
const ROUNDS_P: usize = 22;

pub(super) const EXTERNAL_CONSTANTS: [[u64; 12]; 8] = [
    [15492826721047263190, 11728330187201910315, 8836021247773420868, 16777404051263952451, 5510875212538051896, 6173089941271892285, 2927757366422211339, 10340958981325008808, 8541987352684552425, 9739599543776434497, 15073950188101532019, 12084856431752384512],
    [4584713381960671270, 8807052963476652830, 54136601502601741, 4872702333905478703, 5551030319979516287, 12889366755535460989, 16329242193178844328, 412018088475211848, 10505784623379650541, 9758812378619434837, 7421979329386275117, 375240370024755551],
    [3331431125640721931, 15684937309956309981, 578521833432107983, 14379242000670861838, 17922409828154900976, 8153494278429192257, 15904673920630731971, 11217863998460634216, 3301540195510742136, 9937973023749922003, 3059102938155026419, 1895288289490976132],
    [5580912693628927540, 10064804080494788323, 9582481583369602410, 10186259561546797986, 247426333829703916, 13193193905461376067, 6386232593701758044, 17954717245501896472, 1531720443376282699, 2455761864255501970, 11234429217864304495, 4746959618548874102],
    [13571697342473846203, 17477857865056504753, 15963032953523553760, 16033593225279635898, 14252634232868282405, 8219748254835277737, 7459165569491914711, 15855939513193752003, 16788866461340278896, 7102224659693946577, 3024718005636976471, 13695468978618890430],
    [8214202050877825436, 2670727992739346204, 16259532062589659211, 11869922396257088411, 3179482916972760137, 13525476046633427808, 3217337278042947412, 14494689598654046340, 15837379330312175383, 8029037639801151344, 2153456285263517937, 8301106462311849241],
    [13294194396455217955, 17394768489610594315, 12847609130464867455, 14015739446356528640, 5879251655839607853, 9747000124977436185, 8950393546890284269, 10765765936405694368, 14695323910334139959, 16366254691123000864, 15292774414889043182, 10910394433429313384],
    [17253424460214596184, 3442854447664030446, 3005570425335613727, 10859158614900201063, 9763230642109343539, 6647722546511515039, 909012944955815706, 18101204076790399111, 11588128829349125809, 15863878496612806566, 5201119062417750399, 176665553780565743],
];
pub(super) const INTERNAL_CONSTANTS: [u64; 22] = [11921381764981422944, 10318423381711320787, 8291411502347000766, 229948027109387563, 9152521390190983261, 7129306032690285515, 15395989607365232011, 8641397269074305925, 17256848792241043600, 6046475228902245682, 12041608676381094092, 12785542378683951657, 14546032085337914034, 3304199118235116851, 16499627707072547655, 10386478025625759321, 13475579315436919170, 16042710511297532028, 1411266850385657080, 9024840976168649958, 14047056970978379368, 838728605080212101];
pub(super) const MATRIX_DIAG_12: [u64; 12] = [0xc3b6c08e23ba9300, 0xd84b5de94a324fb6, 0x0d0c371c5b35b84f, 0x7964f570e7188037, 0x5daf18bbd996604b, 0x6743bc47b9595257, 0x5528b9362c59bb70, 0xac45e25b7127b68b, 0xa2077d7dfbb606b5, 0xf3faac6faee378ae, 0x0c6388b51545e883, 0xd27dbb6944917b60];

/// 4x4 MDS block [[2,3,1,1],[1,2,3,1],[1,1,2,3],[3,1,1,2]] on each quarter, then each lane gets the sum
/// of its column across quarters (the Poseidon2 external layer).
#[inline(always)]
fn external_linear_layer(s: &mut [Gl; WIDTH]) {
    let mut w = [0u128; WIDTH];
    for (i, x) in s.iter().enumerate() {
        w[i] = x.0 as u128;
    }
    for c in 0..3 {
        let i = c * 4;
        let (s0, s1, s2, s3) = (w[i], w[i + 1], w[i + 2], w[i + 3]);
        let t01 = s0 + s1;
        let t23 = s2 + s3;
        let t0123 = t01 + t23;
        w[i] = t0123 + t01 + s1;
        w[i + 1] = t0123 + s1 + 2 * s2;
        w[i + 2] = t0123 + t23 + s3;
        w[i + 3] = t0123 + s3 + 2 * s0;
    }
    let mut sums = [0u128; 4];
    for (k, sum) in sums.iter_mut().enumerate() {
        *sum = w[k] + w[k + 4] + w[k + 8];
    }
    for i in 0..WIDTH {
        s[i] = reduce128(w[i] + sums[i % 4]);
    }
}

#[inline(always)]
fn internal_linear_layer(s: &mut [Gl; WIDTH]) {
    let mut sum: u128 = 0;
    for x in s.iter() {
        sum += x.0 as u128;
    }
    let sum = reduce128(sum);
    for i in 0..WIDTH {
        s[i] = reduce128(sum.0 as u128 + (s[i].0 as u128) * (MATRIX_DIAG_12[i] as u128));
    }
}

#[inline(always)]
fn sbox(x: Gl) -> Gl {
    let x2 = x.square();
    let x3 = x2.mul(x);
    x3.square().mul(x)
}

pub fn permute(s: &mut [Gl; WIDTH]) {
    external_linear_layer(s);
    for round in EXTERNAL_CONSTANTS.iter().take(ROUNDS_F_HALF) {
        full_round(s, round);
    }
    for rc in INTERNAL_CONSTANTS.iter().take(ROUNDS_P) {
        s[0] = sbox(s[0].add(Gl(*rc)));
        internal_linear_layer(s);
    }
    for round in EXTERNAL_CONSTANTS.iter().skip(ROUNDS_F_HALF) {
        full_round(s, round);
    }
}

#[inline(always)]
fn full_round(s: &mut [Gl; WIDTH], rc: &[u64; WIDTH]) {
    for i in 0..WIDTH {
        s[i] = sbox(s[i].add(Gl(rc[i])));
    }
    external_linear_layer(s);
}

/// Sponge without padding: each block of up to 8 inputs overwrites the first lanes, then permute;
/// squeeze `N` outputs from the rate part.
pub fn hash_n_to_m_no_pad<const N: usize>(input: &[Gl]) -> [Gl; N] {
    let mut state = [Gl::ZERO; WIDTH];
    for chunk in input.chunks(RATE) {
        state[..chunk.len()].copy_from_slice(chunk);
        permute(&mut state);
    }
    let mut out = [Gl::ZERO; N];
    let mut produced = 0;
    loop {
        for lane in state.iter().take(RATE) {
            out[produced] = *lane;
            produced += 1;
            if produced == N {
                return out;
            }
        }
        permute(&mut state);
    }
}

/// Hash to one GF(p^5) element (5 outputs).
pub fn hash_to_quintic(input: &[Gl]) -> Fp5 {
    Fp5(hash_n_to_m_no_pad::<5>(input))
}

/// Hash to a 4-element digest.
pub fn hash_no_pad(input: &[Gl]) -> [Gl; 4] {
    hash_n_to_m_no_pad::<4>(input)
}

pub fn hash_two_to_one(a: [Gl; 4], b: [Gl; 4]) -> [Gl; 4] {
    hash_no_pad(&[a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The external layer as an explicit matrix product, for the optimized version above.
    fn external_reference(s: [u64; WIDTH]) -> [u64; WIDTH] {
        let m4 = [[2u128, 3, 1, 1], [1, 2, 3, 1], [1, 1, 2, 3], [3, 1, 1, 2]];
        let p = super::super::goldilocks::P as u128;
        let mut out = [0u64; WIDTH];
        for (i, o) in out.iter_mut().enumerate() {
            let mut acc = 0u128;
            for j in 0..WIDTH {
                let coef = m4[i % 4][j % 4] * if i / 4 == j / 4 { 2 } else { 1 };
                acc = (acc + coef * (s[j] as u128 % p)) % p;
            }
            *o = acc as u64;
        }
        out
    }

    proptest! {
        #[test]
        fn external_layer_is_the_poseidon2_matrix(s in any::<[u64; WIDTH]>()) {
            let mut st = s.map(Gl);
            external_linear_layer(&mut st);
            prop_assert_eq!(st.map(|x| x.canonical()), external_reference(s));
        }

        #[test]
        fn sponge_absorbs_in_blocks_of_eight(v in proptest::collection::vec(any::<u64>(), 0..30)) {
            let input: Vec<Gl> = v.iter().map(|&x| Gl(x % super::super::goldilocks::P)).collect();
            let h = hash_to_quintic(&input);
            // overwrite mode: a 9-element input differs from its 8-element prefix
            if input.len() == 9 {
                prop_assert_ne!(h, hash_to_quintic(&input[..8]));
            }
            prop_assert_eq!(h.0[..4].to_vec(), hash_no_pad(&input).to_vec());
        }
    }

    #[test]
    fn permutation_of_zero_is_stable() {
        let mut a = [Gl::ZERO; WIDTH];
        permute(&mut a);
        let mut b = [Gl::ZERO; WIDTH];
        permute(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, [Gl::ZERO; WIDTH]);
    }
}
