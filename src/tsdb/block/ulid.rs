//! ULIDs for block directory names: 48 bits of milliseconds and 80 random
//! bits in Crockford base32, so names sort by creation time as upstream's.

use std::io::Read;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Random bytes from `/dev/urandom`, or, where that is missing, from the
/// clock, pid and a counter (enough to keep names unique on one host).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut out))
        .is_ok();
    if !ok {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut x = nanos
            ^ (u64::from(std::process::id()) << 32)
            ^ COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, std::sync::atomic::Ordering::Relaxed);
        for b in out.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    out
}

/// A new ULID for time `ms` (milliseconds since the epoch).
pub fn new_ulid(ms: u64) -> String {
    let rand: [u8; 10] = random_bytes();
    let mut v: u128 = u128::from(ms & 0xffff_ffff_ffff) << 80;
    for (i, b) in rand.iter().enumerate() {
        v |= u128::from(*b) << (72 - 8 * i);
    }
    (0..26)
        .map(|i| ALPHABET[((v >> (125 - 5 * i)) & 0x1f) as usize] as char)
        .collect()
}

/// Whether `s` looks like a ULID (26 Crockford base32 characters).
pub fn is_ulid(s: &str) -> bool {
    s.len() == 26 && s.bytes().all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_sort_by_time_and_differ() {
        let a = new_ulid(1_600_000_000_000);
        let b = new_ulid(1_600_000_000_001);
        assert!(is_ulid(&a) && is_ulid(&b));
        assert!(a < b);
        assert_ne!(new_ulid(5), new_ulid(5));
        // The time part of a ULID for t=0 is all zeros.
        assert!(new_ulid(0).starts_with("0000000000"));
    }
}
