//! RFC 6238 time-based one-time passwords, as virtual MFA devices use them:
//! HMAC-SHA1, 30-second steps, six digits.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const STEP: i64 = 30;

/// The step `t` falls in.
pub fn step_of(t: i64) -> i64 {
    t.div_euclid(STEP)
}

/// The six-digit code for `step` (RFC 4226's dynamic truncation).
pub fn code_for_step(seed: &[u8], step: i64) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(seed) else { return u32::MAX };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest.last().copied().unwrap_or(0) & 0x0f);
    let word = digest
        .get(offset..offset + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes);
    (word & 0x7fff_ffff) % 1_000_000
}

/// Parses a six-digit code as typed.
pub fn parse_code(code: &str) -> Option<u32> {
    (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())).then(|| code.parse().ok()).flatten()
}

/// The step within `window` steps of `now` (either side) whose code is
/// `code`, comparing every candidate so timing says nothing about which.
pub fn matching_step(seed: &[u8], code: u32, now: i64, window: i64) -> Option<i64> {
    let center = step_of(now);
    let mut found = None;
    for s in (center - window)..=(center + window) {
        let candidate = code_for_step(seed, s);
        if subtle::ConstantTimeEq::ct_eq(&candidate.to_be_bytes()[..], &code.to_be_bytes()[..]).into() && found.is_none() {
            found = Some(s);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, Appendix B, SHA-1 column, truncated to six digits.
    #[test]
    fn rfc6238_vectors() {
        let seed = b"12345678901234567890";
        for (t, eight_digits) in [
            (59, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(code_for_step(seed, step_of(t)), eight_digits % 1_000_000, "t={t}");
        }
    }

    #[test]
    fn window_and_parsing() {
        let seed = b"12345678901234567890";
        let now = 1_234_567_890;
        let code = code_for_step(seed, step_of(now) - 1);
        assert_eq!(matching_step(seed, code, now, 1), Some(step_of(now) - 1));
        assert_eq!(matching_step(seed, code, now + 90, 1), None);
        assert_eq!(parse_code("012345"), Some(12345));
        assert_eq!(parse_code("12345"), None);
        assert_eq!(parse_code("12345a"), None);
    }
}
