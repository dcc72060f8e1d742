//! The evaluation schedule of rule groups, as upstream computes it: each
//! group gets a stable offset inside its interval from the xxhash64 of the
//! label set `{file, name}` (upstream's `labels.Hash`) taken modulo the
//! interval in nanoseconds, so groups spread over the interval and land on
//! the same slots as upstream's; `Group.EvalTimestamp` aligns a time to the
//! group's slot. Shared by the rule manager and promtool's rule importer.

const NANOS_PER_MILLI: i128 = 1_000_000;

/// The group's evaluation slot (ms) at or before `now_ms`.
pub fn eval_timestamp_ms(name: &str, file: &str, interval_ms: i64, now_ms: i64) -> i64 {
    let interval_ns = i128::from(interval_ms.max(1)) * NANOS_PER_MILLI;
    let offset_ns = group_offset_ns(name, file, interval_ms.max(1));
    let ns = eval_timestamp_ns(i128::from(now_ms) * NANOS_PER_MILLI, interval_ns, offset_ns);
    // Upstream's `timestamp.FromTime` truncates to milliseconds.
    ns.div_euclid(NANOS_PER_MILLI) as i64
}

/// A group's evaluation offset within its interval: upstream hashes the
/// label set `{file=..., name=...}` (`labels.Hash`, xxhash64).
pub(crate) fn group_offset_ns(name: &str, file: &str, interval_ms: i64) -> i128 {
    let mut b = Vec::with_capacity(name.len() + file.len() + 12);
    for (k, v) in [("file", file), ("name", name)] {
        b.extend_from_slice(k.as_bytes());
        b.push(0xff);
        b.extend_from_slice(v.as_bytes());
        b.push(0xff);
    }
    let interval_ns = (interval_ms as u64).wrapping_mul(1_000_000);
    if interval_ns == 0 {
        return 0;
    }
    i128::from(xxhash64(&b) % interval_ns)
}

/// upstream's `Group.EvalTimestamp`.
pub(crate) fn eval_timestamp_ns(start_ns: i128, interval_ns: i128, offset_ns: i128) -> i128 {
    let adj = start_ns - offset_ns;
    // Go's % keeps the dividend's sign; times here are after 1970.
    let base = adj - adj % interval_ns;
    base + offset_ns
}

/// XXH64 with seed 0 (as Go's cespare/xxhash `Sum64`).
pub(crate) fn xxhash64(input: &[u8]) -> u64 {
    const P1: u64 = 11400714785074694791;
    const P2: u64 = 14029467366897019727;
    const P3: u64 = 1609587929392839161;
    const P4: u64 = 9650029242287828579;
    const P5: u64 = 2870177450012600261;
    fn round(acc: u64, input: u64) -> u64 {
        acc.wrapping_add(input.wrapping_mul(P2))
            .rotate_left(31)
            .wrapping_mul(P1)
    }
    fn merge(acc: u64, val: u64) -> u64 {
        (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
    }
    fn read64(b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(b.get(..8).unwrap_or(&[0; 8]));
        u64::from_le_bytes(a)
    }
    fn read32(b: &[u8]) -> u64 {
        let mut a = [0u8; 4];
        a.copy_from_slice(b.get(..4).unwrap_or(&[0; 4]));
        u64::from(u32::from_le_bytes(a))
    }
    let len = input.len() as u64;
    let mut rest = input;
    let mut h = if input.len() >= 32 {
        let mut v = [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)];
        while rest.len() >= 32 {
            for (i, acc) in v.iter_mut().enumerate() {
                *acc = round(*acc, read64(rest.get(i * 8..).unwrap_or_default()));
            }
            rest = rest.get(32..).unwrap_or_default();
        }
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for x in v {
            h = merge(h, x);
        }
        h
    } else {
        P5
    };
    h = h.wrapping_add(len);
    while rest.len() >= 8 {
        h ^= round(0, read64(rest));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = rest.get(8..).unwrap_or_default();
    }
    if rest.len() >= 4 {
        h ^= read32(rest).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = rest.get(4..).unwrap_or_default();
    }
    for &b in rest {
        h ^= u64::from(b).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NANOS_PER_SEC: i128 = 1_000_000_000;

    #[test]
    fn xxhash64_reference_values() {
        assert_eq!(xxhash64(b""), 0xEF46DB3751D8E999);
        assert_eq!(xxhash64(b"a"), 0xD24EC4F1A98C6E5B);
        assert_eq!(xxhash64(b"abc"), 0x44BC2CF5AD770999);
        assert_eq!(
            xxhash64(b"Nobody inspects the spammish repetition"),
            0xFBCEA83C8A378BF1
        );
    }

    #[test]
    fn eval_timestamps_keep_the_group_offset() {
        let interval = 10 * NANOS_PER_SEC;
        let t = eval_timestamp_ns(1_000_000_005 * NANOS_PER_SEC, interval, 3 * NANOS_PER_SEC);
        assert_eq!(t, 1_000_000_003 * NANOS_PER_SEC);
        assert!(group_offset_ns("g", "f.yml", 10_000) < interval);
    }

    #[test]
    fn group_slots_use_upstreams_nanosecond_offset() {
        // xxhash64("file\xfff.yml\xffname\xffg\xff") modulo 60s in ns:
        // the offset upstream's `Group.hash() % interval` gives.
        let h = xxhash64(b"file\xfff.yml\xffname\xffg\xff");
        let want_offset_ms = (h % 60_000_000_000 / 1_000_000) as i64;
        let now = 1_700_000_000_000;
        let slot = eval_timestamp_ms("g", "f.yml", 60_000, now);
        assert!(slot <= now && now - slot < 60_000, "{slot}");
        assert_eq!(slot.rem_euclid(60_000), want_offset_ms);
        // The next slots are whole intervals apart (the slot itself has a
        // sub-millisecond part upstream, so a slot is reached 1ms later).
        assert_eq!(
            eval_timestamp_ms("g", "f.yml", 60_000, slot + 60_001),
            slot + 60_000
        );
        assert_eq!(eval_timestamp_ms("g", "f.yml", 60_000, slot + 59_999), slot);
        // Another group of the same file gets another slot.
        assert_ne!(eval_timestamp_ms("h", "f.yml", 60_000, now), slot);
    }
}
