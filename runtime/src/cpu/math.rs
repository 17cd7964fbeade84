//! Scalar math written to vectorize: branch-free, inlined, no calls in the hot paths.
//!
//! `exp_f32` is a Cody-Waite range reduction with a degree-6 polynomial (max error about
//! 2 ulp on [-87, 88]); `tanh_f32` uses an odd Taylor polynomial below 0.55 and the exp
//! form above (max error about 4 ulp). Everything else is built from these or comes from
//! `std`/`libm`. f64 uses the `std`/`libm` functions throughout.

/// e^x for f32, vectorizable: Cody-Waite range reduction and a degree-6 polynomial, with
/// the exponent taken from the bits of `x * log2(e) + 1.5 * 2^23` instead of a float-to-int cast. The cast
/// saturates (NaN gives 0), which LLVM lowers one lane at a time; integer ops on the bits
/// stay in vector registers, and NaN still comes out as NaN through the polynomial.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Past the ends e^x is 0 (below half the smallest subnormal) or overflows to inf; the
    // clamp only keeps 2^n's exponent bits in range for the split below.
    let x = x.clamp(-105.0, 89.0);
    // Adding 1.5 * 2^23 rounds to an integer held in the low mantissa bits.
    const SHIFT: f32 = 12_582_912.0;
    let t = x * LOG2E + SHIFT;
    let n = t - SHIFT;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4f32;
    let p = p.mul_add(r, 1.398_199_9e-3);
    let p = p.mul_add(r, 8.333_452e-3);
    let p = p.mul_add(r, 4.166_579_6e-2);
    let p = p.mul_add(r, 1.666_666_5e-1);
    let p = p.mul_add(r, 0.5);
    let p = p.mul_add(r * r, r) + 1.0;
    // 2^n via the exponent bits, as two factors so that n in [-152, 129] after the clamp
    // stays representable: results below 2^-126 come out subnormal, above 2^128 inf.
    let n = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let (n1, n2) = (n >> 1, n - (n >> 1));
    let s1 = f32::from_bits((n1.wrapping_add(127) << 23) as u32);
    let s2 = f32::from_bits((n2.wrapping_add(127) << 23) as u32);
    p * s1 * s2
}

/// tanh for f32, vectorizable.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    // Odd Taylor series; the first omitted term is below 4e-8 relative at |x| = 0.55.
    let x2 = x * x;
    let p = -1.455_834_4e-3f32;
    let p = p.mul_add(x2, 3.592_128e-3);
    let p = p.mul_add(x2, -8.863_236e-3);
    let p = p.mul_add(x2, 2.186_948_8e-2);
    let p = p.mul_add(x2, -5.396_825_4e-2);
    let p = p.mul_add(x2, 1.333_333_3e-1);
    let p = p.mul_add(x2, -3.333_333_4e-1);
    let small = (p * x2).mul_add(x, x);
    let t = exp_f32(-2.0 * a);
    let large = ((1.0 - t) / (1.0 + t)).copysign(x);
    if a < 0.55 { small } else { large }
}

#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// GELU, tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
#[inline(always)]
pub fn gelu_tanh_f32(x: f32) -> f32 {
    const K: f32 = 0.797_884_6; // sqrt(2/pi)
    let inner = K * (x + 0.044_715 * x * x * x);
    0.5 * x * (1.0 + tanh_f32(inner))
}

pub fn gelu_tanh_f64(x: f64) -> f64 {
    let k = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
}

#[inline(always)]
pub fn silu_f32(x: f32) -> f32 {
    x / (1.0 + exp_f32(-x))
}

/// log(1 + e^x) without overflow: `max(x, 0) + log1p(e^-|x|)`.
pub fn softplus_f64(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

pub fn softplus_f32(x: f32) -> f32 {
    x.max(0.0) + exp_f32(-x.abs()).ln_1p()
}

pub fn sign<T: PartialOrd + Copy>(x: T, zero: T, one: T, minus_one: T) -> T {
    if x > zero {
        one
    } else if x < zero {
        minus_one
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> f32 {
        ((a - b).abs() / f32::EPSILON / b.abs().max(f32::MIN_POSITIVE)).max(0.0)
    }

    #[test]
    fn exp_within_3_ulp() {
        let mut worst = 0.0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let r = (x as f64).exp() as f32;
            worst = worst.max(ulps(exp_f32(x), r));
            x += 0.001_3;
        }
        assert!(worst <= 3.0, "worst error {worst} ulp");
        assert_eq!(exp_f32(0.0), 1.0);
    }

    #[test]
    fn tanh_within_5_ulp() {
        let mut worst = 0.0f32;
        let mut x = -12.0f32;
        while x < 12.0 {
            let r = (x as f64).tanh() as f32;
            if r != 0.0 {
                worst = worst.max(ulps(tanh_f32(x), r));
            }
            x += 0.000_7;
        }
        assert!(worst <= 5.0, "worst error {worst} ulp");
        assert_eq!(tanh_f32(20.0), 1.0);
        assert_eq!(tanh_f32(-20.0), -1.0);
    }

    #[test]
    fn exp_saturates_without_nan() {
        assert!(exp_f32(-1000.0) >= 0.0 && exp_f32(-1000.0) < 1e-37);
        assert!(exp_f32(1000.0).is_finite() || exp_f32(1000.0).is_infinite());
        assert!(exp_f32(f32::NAN).is_nan());
    }
}
