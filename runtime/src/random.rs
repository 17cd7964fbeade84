//! Counter-based random numbers (Philox 4x32-10).
//!
//! Element `i` of a draw with `(seed, offset)` depends only on those and `i`, so a draw
//! can be split across threads, replayed, and reproduced by generated code from the same
//! two integers, which is how compiled random ops take their seed as a program input.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Four random 32-bit words for counter `counter` under key `seed`.
pub fn philox(seed: u64, counter: u64) -> [u32; 4] {
    let mut c = [counter as u32, (counter >> 32) as u32, 0, 0];
    let mut k = [seed as u32, (seed >> 32) as u32];
    for _ in 0..10 {
        let p0 = (M0 as u64) * (c[0] as u64);
        let p1 = (M1 as u64) * (c[2] as u64);
        c = [((p1 >> 32) as u32) ^ c[1] ^ k[0], p1 as u32, ((p0 >> 32) as u32) ^ c[3] ^ k[1], p0 as u32];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

/// A uniform float in [0, 1) from 24 random bits.
pub fn unit_f32(word: u32) -> f32 {
    (word >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// A uniform double in [0, 1) from 53 random bits.
pub fn unit_f64(hi: u32, lo: u32) -> f64 {
    ((((hi as u64) << 32) | lo as u64) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Fills `out` with uniform [0, 1) numbers: element `i` comes from counter `offset + i / 4`.
pub fn fill_uniform(out: &mut [f64], seed: u64, offset: u64) {
    crate::parallel::for_chunks_mut(out, 1 << 14, |start, chunk| {
        for (j, v) in chunk.iter_mut().enumerate() {
            let i = (start + j) as u64;
            let w = philox(seed, offset + i / 2);
            let k = (i % 2) as usize * 2;
            *v = unit_f64(w[k], w[k + 1]);
        }
    });
}

/// Fills `out` with standard normal numbers (Box-Muller on pairs of uniforms).
pub fn fill_normal(out: &mut [f64], seed: u64, offset: u64) {
    crate::parallel::for_chunks_mut(out, 1 << 14, |start, chunk| {
        for (j, v) in chunk.iter_mut().enumerate() {
            let i = (start + j) as u64;
            let w = philox(seed, offset + i / 2);
            let u1 = unit_f64(w[0], w[1]).max(f64::MIN_POSITIVE);
            let u2 = unit_f64(w[2], w[3]);
            let r = (-2.0 * u1.ln()).sqrt();
            let theta = 2.0 * std::f64::consts::PI * u2;
            *v = if i.is_multiple_of(2) { r * theta.cos() } else { r * theta.sin() };
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_moments() {
        let mut v = vec![0.0; 100_000];
        fill_uniform(&mut v, 7, 0);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        assert!(v.iter().all(|&x| (0.0..1.0).contains(&x)));
    }

    #[test]
    fn normal_moments() {
        let mut v = vec![0.0; 100_000];
        fill_normal(&mut v, 11, 3);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.02 && (var - 1.0).abs() < 0.03, "{mean} {var}");
    }

    #[test]
    fn draws_depend_on_seed_and_offset_only() {
        assert_eq!(philox(1, 5), philox(1, 5));
        assert_ne!(philox(1, 5), philox(2, 5));
        assert_ne!(philox(1, 5), philox(1, 6));
    }
}
