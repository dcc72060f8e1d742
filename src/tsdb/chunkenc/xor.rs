//! Gorilla XOR chunks in upstream's exact bit format (`tsdb/chunkenc/xor.go`):
//! a 2-byte big-endian sample count, the first timestamp as a varint and value
//! as 64 raw bits, the second timestamp as a uvarint delta, then
//! delta-of-delta timestamps in 1/16/20/24/68-bit buckets and XOR-compressed
//! values. Chunks written here can be read by upstream and the reverse.

use super::bstream::{put_uvarint, put_varint, BitReader, BitWriter};

/// Bytes of the sample-count header.
const HEADER_SIZE: usize = 2;

/// Whether `x` fits the signed `nbits` bucket as upstream's `bitRange` defines it.
fn bit_range(x: i64, nbits: u32) -> bool {
    -((1i64 << (nbits - 1)) - 1) <= x && x <= 1i64 << (nbits - 1)
}

/// The sample count stored in a chunk's header; 0 for a too-short slice.
pub fn num_samples(chunk: &[u8]) -> u16 {
    match chunk {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

/// Appends samples to an open XOR chunk. Holds only what the next append needs,
/// so an open chunk costs its bytes plus a few words.
#[derive(Clone, Debug)]
pub struct XorAppender {
    w: BitWriter,
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    num: u16,
}

/// What an [`XorAppender`] needs besides the chunk bytes to continue
/// appending: the head chunk snapshot stores it so a restart does not have
/// to decode every open chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XorState {
    /// Length of the chunk in bits (the last byte is zero-padded).
    pub bits: u64,
    pub t: i64,
    pub v: u64,
    pub t_delta: u64,
    pub leading: u8,
    pub trailing: u8,
}

impl Default for XorAppender {
    fn default() -> Self {
        XorAppender::new()
    }
}

impl XorAppender {
    /// An empty chunk.
    pub fn new() -> XorAppender {
        XorAppender::with_capacity(32)
    }

    /// An empty chunk whose buffer starts with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> XorAppender {
        XorAppender {
            w: BitWriter::with_prefix(&[0, 0], capacity),
            t: 0,
            v: 0,
            t_delta: 0,
            leading: 0xff,
            trailing: 0,
            num: 0,
        }
    }

    pub fn num_samples(&self) -> u16 {
        self.num
    }

    /// The state [`XorAppender::from_state`] continues from.
    pub fn state(&self) -> XorState {
        XorState {
            bits: self.w.bit_len(),
            t: self.t,
            v: self.v,
            t_delta: self.t_delta,
            leading: self.leading,
            trailing: self.trailing,
        }
    }

    /// An appender continuing chunk `bytes` (header included) from `st`, as
    /// taken by [`XorAppender::state`]; `None` when they do not fit together.
    pub fn from_state(bytes: &[u8], st: XorState, capacity: usize) -> Option<XorAppender> {
        let num = num_samples(bytes);
        // The state comes from a file: a window the writer could not have
        // produced would underflow the next append's bit arithmetic, and
        // fewer bits than the header would leave no room to rewrite it.
        let window_ok = st.leading == 0xff
            || (st.leading < 32 && u32::from(st.leading) + u32::from(st.trailing) < 64);
        if bytes.len() < HEADER_SIZE
            || st.bits < 8 * HEADER_SIZE as u64
            || (num == 0 && st.bits != 16)
            || !window_ok
        {
            return None;
        }
        Some(XorAppender {
            w: BitWriter::from_bits(bytes, st.bits, capacity)?,
            t: st.t,
            v: st.v,
            t_delta: st.t_delta,
            leading: st.leading,
            trailing: st.trailing,
            num,
        })
    }

    /// A copy of the chunk so far (header included); a valid chunk at any time.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.w.to_bytes()
    }

    /// Copies the chunk so far (as [`XorAppender::to_bytes`]) into `out`
    /// without allocating, for readers holding a stack buffer; the length
    /// copied, or `None` when `out` is too short.
    pub fn copy_to_slice(&self, out: &mut [u8]) -> Option<usize> {
        self.w.copy_to_slice(out)
    }

    /// Size of the chunk so far in bytes.
    pub fn len(&self) -> usize {
        self.w.len()
    }

    pub fn is_empty(&self) -> bool {
        self.num == 0
    }

    /// The last appended sample.
    pub fn last(&self) -> Option<(i64, f64)> {
        (self.num > 0).then(|| (self.t, f64::from_bits(self.v)))
    }

    /// Closes the chunk, returning its bytes with no spare capacity.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// Appends a sample. Callers keep timestamps non-decreasing; the format
    /// itself would encode any order, as upstream's does.
    pub fn append(&mut self, t: i64, v: f64) {
        let vbits = v.to_bits();
        match self.num {
            0 => {
                let mut buf = Vec::with_capacity(10);
                put_varint(&mut buf, t);
                for b in buf {
                    self.w.write_byte(b);
                }
                self.w.write_bits(vbits, 64);
            }
            1 => {
                let t_delta = t.wrapping_sub(self.t) as u64;
                let mut buf = Vec::with_capacity(10);
                put_uvarint(&mut buf, t_delta);
                for b in buf {
                    self.w.write_byte(b);
                }
                self.write_value(vbits);
                self.t_delta = t_delta;
            }
            _ => {
                let t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                if dod == 0 {
                    self.w.write_bit(false);
                } else if bit_range(dod, 14) {
                    self.w.write_bits(0b10, 2);
                    self.w.write_bits(dod as u64, 14);
                } else if bit_range(dod, 17) {
                    self.w.write_bits(0b110, 3);
                    self.w.write_bits(dod as u64, 17);
                } else if bit_range(dod, 20) {
                    self.w.write_bits(0b1110, 4);
                    self.w.write_bits(dod as u64, 20);
                } else {
                    self.w.write_bits(0b1111, 4);
                    self.w.write_bits(dod as u64, 64);
                }
                self.write_value(vbits);
                self.t_delta = t_delta;
            }
        }
        self.t = t;
        self.v = vbits;
        self.num = self.num.wrapping_add(1);
        let header = self.num.to_be_bytes();
        self.w.prefix_mut(HEADER_SIZE).copy_from_slice(&header);
    }

    fn write_value(&mut self, vbits: u64) {
        let delta = vbits ^ self.v;
        if delta == 0 {
            self.w.write_bit(false);
            return;
        }
        let mut leading = delta.leading_zeros() as u8;
        let trailing = delta.trailing_zeros() as u8;
        // The leading-zero count has 5 bits on the wire.
        if leading >= 32 {
            leading = 31;
        }
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            // Control bits `10`: reuse the previous window.
            self.w.write_bits(0b10, 2);
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.w.write_bits(delta >> self.trailing, sig);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        // 64 significant bits do not fit 6 bits; the wire value 0 means 64.
        let sig = 64 - u32::from(leading) - u32::from(trailing);
        // Control bits `11`, 5 bits of leading zeros, 6 bits of length.
        let header = (0b11 << 11) | (u64::from(leading) << 6) | u64::from(sig & 0x3f);
        self.w.write_bits(header, 13);
        self.w.write_bits(delta >> trailing, sig);
    }
}

/// Iterates an XOR chunk's samples; `B` borrows or owns the chunk bytes. A
/// truncated or corrupt chunk ends the iteration (see [`XorIterator::err`]).
#[derive(Clone, Debug)]
pub struct XorIterator<B> {
    r: BitReader<B>,
    num_total: u16,
    num_read: u16,
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    err: bool,
    done: bool,
}

impl<B: AsRef<[u8]>> XorIterator<B> {
    pub fn new(chunk: B) -> XorIterator<B> {
        let num_total = num_samples(chunk.as_ref());
        let mut r = BitReader::new(chunk);
        // Skip the header; a short chunk reports zero samples above.
        let _ = r.read_bits(16);
        XorIterator {
            r,
            num_total,
            num_read: 0,
            t: 0,
            v: 0,
            t_delta: 0,
            leading: 0,
            trailing: 0,
            err: false,
            done: false,
        }
    }

    /// Whether iteration stopped on malformed data rather than the end.
    pub fn err(&self) -> bool {
        self.err
    }

    /// The sample the iterator is on.
    pub fn at(&self) -> Option<(i64, f64)> {
        (self.num_read > 0 && !self.done).then(|| (self.t, f64::from_bits(self.v)))
    }

    /// Moves to the first sample with timestamp `>= t`; stays if already there.
    pub fn seek(&mut self, t: i64) -> Option<(i64, f64)> {
        if self.done {
            return None;
        }
        if let Some(cur) = self.at() {
            if cur.0 >= t {
                return Some(cur);
            }
        }
        loop {
            let s = self.next()?;
            if s.0 >= t {
                return Some(s);
            }
        }
    }

    fn fail(&mut self) -> Option<(i64, f64)> {
        self.err = true;
        self.done = true;
        None
    }

    fn read_value(&mut self) -> Option<()> {
        if !self.r.read_bit()? {
            return Some(());
        }
        if self.r.read_bit()? {
            self.leading = self.r.read_bits(5)? as u8;
            let mut sig = self.r.read_bits(6)? as u8;
            if sig == 0 {
                sig = 64;
            }
            if u32::from(self.leading) + u32::from(sig) > 64 {
                return None;
            }
            self.trailing = 64 - self.leading - sig;
        }
        let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
        let bits = self.r.read_bits(sig)?;
        self.v ^= if self.trailing >= 64 {
            0
        } else {
            bits << self.trailing
        };
        Some(())
    }

    fn read_next(&mut self) -> Option<()> {
        match self.num_read {
            0 => {
                self.t = self.r.read_varint()?;
                self.v = self.r.read_bits(64)?;
            }
            1 => {
                self.t_delta = self.r.read_uvarint()?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
            _ => {
                let mut d: u8 = 0;
                for _ in 0..4 {
                    d <<= 1;
                    if !self.r.read_bit()? {
                        break;
                    }
                    d |= 1;
                }
                let size: u32 = match d {
                    0b0 => 0,
                    0b10 => 14,
                    0b110 => 17,
                    0b1110 => 20,
                    _ => 64,
                };
                let dod: i64 = match size {
                    0 => 0,
                    64 => self.r.read_bits(64)? as i64,
                    sz => {
                        let mut bits = self.r.read_bits(sz)?;
                        // Sign-extend the two's complement value of `sz` bits.
                        if bits > (1 << (sz - 1)) {
                            bits = bits.wrapping_sub(1 << sz);
                        }
                        bits as i64
                    }
                };
                self.t_delta = self.t_delta.wrapping_add(dod as u64);
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
        }
        Some(())
    }

    /// The next sample.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<(i64, f64)> {
        if self.done || self.num_read >= self.num_total {
            self.done = true;
            return None;
        }
        if self.read_next().is_none() {
            return self.fail();
        }
        self.num_read += 1;
        Some((self.t, f64::from_bits(self.v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::STALE_NAN_BITS;

    /// A tiny deterministic generator so tests need no extra crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn round_trip(samples: &[(i64, f64)]) {
        let mut a = XorAppender::new();
        for (t, v) in samples {
            a.append(*t, *v);
        }
        assert_eq!(num_samples(&a.to_bytes()) as usize, samples.len());
        let bytes = a.into_bytes();
        let mut it = XorIterator::new(&bytes[..]);
        for (i, (t, v)) in samples.iter().enumerate() {
            let got = it.next();
            let (gt, gv) = got.unwrap_or_else(|| panic!("sample {i} missing"));
            assert_eq!(gt, *t, "t at {i}");
            assert_eq!(gv.to_bits(), v.to_bits(), "v at {i}");
        }
        assert_eq!(it.next(), None);
        assert!(!it.err());
    }

    #[test]
    fn every_cut_and_flip_of_a_chunk_iterates_or_stops() {
        let mut rng = Rng(11);
        let mut a = XorAppender::new();
        let mut t = 0i64;
        for i in 0..120 {
            t += [15_000, 15_001, 1, 1 << 30][i % 4];
            let v = match i % 3 {
                0 => i as f64,
                1 => f64::from_bits(rng.next()),
                _ => f64::from_bits(STALE_NAN_BITS),
            };
            a.append(t, v);
        }
        let good = a.into_bytes();
        let drain = |b: &[u8]| {
            let mut it = XorIterator::new(b);
            while it.next().is_some() {}
            let mut it = XorIterator::new(b);
            let _ = it.seek(t / 2);
        };
        for cut in 0..good.len() {
            drain(&good[..cut]);
        }
        for at in 0..good.len() {
            for flip in [0x01u8, 0x10, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[at] ^= flip;
                drain(&bad);
            }
        }
    }

    #[test]
    fn from_state_rejects_states_no_writer_makes() {
        let mut a = XorAppender::new();
        for t in 0..5 {
            a.append(t * 1000, t as f64 * 1.5);
        }
        let (bytes, st) = (a.to_bytes(), a.state());
        assert!(XorAppender::from_state(&bytes, st, 0).is_some());
        // A one-sample header cut to 9..15 bits: rewriting it on append
        // used to index past the 1-byte buffer.
        for bits in 9..16 {
            let st = XorState { bits, ..st };
            assert!(XorAppender::from_state(&[0, 1], st, 0).is_none(), "{bits}");
        }
        for (leading, trailing) in [(32, 0), (200, 0), (31, 33), (0, 64)] {
            let bad = XorState {
                leading,
                trailing,
                ..st
            };
            assert!(
                XorAppender::from_state(&bytes, bad, 0).is_none(),
                "{leading}/{trailing}"
            );
        }
        // Whatever is accepted keeps appending without panicking.
        for leading in [0u8, 5, 31, 0xff] {
            for trailing in [0u8, 1, 32, 63] {
                let st = XorState {
                    leading,
                    trailing,
                    ..st
                };
                if let Some(mut a) = XorAppender::from_state(&bytes, st, 0) {
                    for (i, v) in [1.0, -3.5, f64::MAX, 0.0].into_iter().enumerate() {
                        a.append(10_000 + i as i64, v);
                    }
                }
            }
        }
    }

    #[test]
    fn appender_continues_from_state() {
        let mut rng = Rng(7);
        let mut whole = XorAppender::new();
        let mut first = XorAppender::new();
        let mut samples = Vec::new();
        for i in 0..100i64 {
            let s = (
                i * 15_000 + (rng.next() % 50) as i64,
                (rng.next() % 1000) as f64 / 7.0,
            );
            samples.push(s);
        }
        for (i, &(t, v)) in samples.iter().enumerate() {
            whole.append(t, v);
            if i < 37 {
                first.append(t, v);
            }
        }
        let bytes = first.to_bytes();
        let mut resumed = XorAppender::from_state(&bytes, first.state(), 64).unwrap();
        for &(t, v) in &samples[37..] {
            resumed.append(t, v);
        }
        assert_eq!(resumed.to_bytes(), whole.to_bytes());
        assert!(XorAppender::from_state(&bytes[..bytes.len() - 1], first.state(), 0).is_none());
    }

    #[test]
    fn edge_values_round_trip() {
        round_trip(&[]);
        round_trip(&[(-5, 1.0)]);
        round_trip(&[
            (1000, f64::NAN),
            (1000, f64::from_bits(STALE_NAN_BITS)),
            (1000, f64::INFINITY),
            (2000, f64::NEG_INFINITY),
            (2001, -0.0),
            (2001, 0.0),
            (-1_000_000, f64::MIN_POSITIVE),
            (i64::MAX / 2, f64::MAX),
            (i64::MIN / 2, f64::MIN),
            (0, 1.0),
            (8192, 2.0),
            (8192 * 2 + 1, 3.0),
            (8192 * 3 - 8191, 4.0),
            (1 << 40, 5.0),
        ]);
    }

    #[test]
    fn bucket_boundaries_round_trip() {
        // Delta-of-deltas exactly at each bucket's edges.
        let mut s = vec![(0i64, 0.0f64), (10, 1.0)];
        let mut t = 10;
        let mut delta = 10i64;
        for dod in [
            0i64,
            8192,
            -8191,
            8193,
            -8192,
            65536,
            -65535,
            65537,
            524288,
            -524287,
            524289,
            -524288,
            1 << 40,
            -(1 << 40),
        ] {
            delta += dod;
            t += delta;
            s.push((t, dod as f64));
        }
        round_trip(&s);
    }

    #[test]
    fn random_values_round_trip() {
        let mut rng = Rng(0x9e3779b97f4a7c15);
        for _ in 0..50 {
            let n = (rng.next() % 200) as usize;
            let mut t = (rng.next() % 1_000_000) as i64 - 500_000;
            let mut s = Vec::with_capacity(n);
            for _ in 0..n {
                t += (rng.next() % 30_000) as i64;
                let v = match rng.next() % 4 {
                    0 => f64::from_bits(rng.next()),
                    1 => (rng.next() % 100) as f64,
                    2 => s.last().map(|x: &(i64, f64)| x.1).unwrap_or(0.0),
                    _ => (rng.next() as f64) / 3.0,
                };
                s.push((t, v));
            }
            round_trip(&s);
        }
    }

    #[test]
    fn matches_upstream_bytes() {
        // The byte-aligned fields of upstream's layout for
        // (1000,1) (2000,2) (3000,3) (4005,3): header 4, varint 1000,
        // raw 1.0, uvarint 1000; the bit fields follow.
        let mut a = XorAppender::new();
        for (t, v) in [(1000, 1.0), (2000, 2.0), (3000, 3.0), (4005, 3.0)] {
            a.append(t, v);
        }
        let b = a.to_bytes();
        assert_eq!(&b[..2], &[0, 4]);
        assert_eq!(&b[2..4], &[0xd0, 0x0f]); // zig-zag varint of 1000
        assert_eq!(&b[4..12], &1.0f64.to_bits().to_be_bytes());
        assert_eq!(&b[12..14], &[0xe8, 0x07]); // uvarint 1000
        let mut it = XorIterator::new(b);
        assert_eq!(it.seek(3500), Some((4005, 3.0)));
    }

    #[test]
    fn seek_semantics() {
        let mut a = XorAppender::new();
        for i in 0..120 {
            a.append(i * 15_000, i as f64);
        }
        let mut it = XorIterator::new(a.to_bytes());
        assert_eq!(it.at(), None);
        assert_eq!(it.seek(15_001), Some((30_000, 2.0)));
        assert_eq!(it.seek(0), Some((30_000, 2.0)));
        assert_eq!(it.next(), Some((45_000, 3.0)));
        assert_eq!(it.seek(119 * 15_000), Some((119 * 15_000, 119.0)));
        assert_eq!(it.seek(i64::MAX), None);
        assert_eq!(it.at(), None);
    }

    #[test]
    fn truncated_chunk_reports_error() {
        let mut a = XorAppender::new();
        for i in 0..10 {
            a.append(i * 1000, i as f64 * 1.5);
        }
        let b = a.into_bytes();
        let cut = &b[..b.len() - 3];
        let mut it = XorIterator::new(cut);
        let mut n = 0;
        while it.next().is_some() {
            n += 1;
        }
        assert!(n < 10);
        assert!(it.err());
    }
}
