//! Runtime dispatch of the pixel kernels to AVX2.
//!
//! Wheels and binaries target baseline x86-64 (SSE2), where `f32::floor`
//! and `round_ties_even` are libm calls and 32-bit integer multiplies do
//! not vectorise; the same source compiled for AVX2 ran resize, warp and
//! tensor packing several times faster (`perf` of `get_batch`). The kernels
//! use no floating-point contraction, so both builds give the same bits.

/// Defines `fn NAME(ARGS) -> RET { BODY }` that runs BODY compiled for AVX2
/// when the CPU has it and for the baseline otherwise. Helpers BODY calls
/// must be `#[inline(always)]` to be compiled for AVX2 with it.
macro_rules! avx2_dispatch {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$attr])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn kernel($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    kernel($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    #[allow(unsafe_code)]
                    return unsafe { avx2($($arg),*) };
                }
            }
            kernel($($arg),*)
        }
    };
}

pub(crate) use avx2_dispatch;
