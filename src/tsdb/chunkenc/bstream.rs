//! Bit streams for the XOR chunk: a writer that appends bits MSB-first into a
//! byte vector and a reader over a byte slice, bit for bit compatible with
//! upstream's `tsdb/chunkenc/bstream.go`.

/// Appends bits to a byte vector, most significant bit first. Pending
/// bits collect in a 64-bit register and reach the vector eight bytes at a
/// time: with one open chunk per series, touching the chunk's heap buffer
/// on every sample would cost a cache miss per append.
#[derive(Clone, Debug, Default)]
pub struct BitWriter {
    /// Completed bytes.
    bytes: Vec<u8>,
    /// Pending bits, left-aligned.
    acc: u64,
    /// Number of pending bits (0..64).
    n: u8,
}

impl BitWriter {
    /// A writer whose stream starts with `prefix` (whole bytes, e.g. a header).
    pub fn with_prefix(prefix: &[u8], capacity: usize) -> BitWriter {
        let mut bytes = Vec::with_capacity(capacity.max(prefix.len()));
        bytes.extend_from_slice(prefix);
        BitWriter {
            bytes,
            acc: 0,
            n: 0,
        }
    }

    /// A writer continuing a stream of `nbits` bits held in `bytes` (the
    /// last byte zero-padded), as [`BitWriter::to_bytes`] and
    /// [`BitWriter::bit_len`] describe it. `None` when the lengths disagree.
    pub fn from_bits(bytes: &[u8], nbits: u64, capacity: usize) -> Option<BitWriter> {
        let whole = usize::try_from(nbits / 8).ok()?;
        let rem = (nbits % 8) as u8;
        if bytes.len() != whole + usize::from(rem > 0) {
            return None;
        }
        let mut v = Vec::with_capacity(capacity.max(bytes.len()));
        v.extend_from_slice(bytes.get(..whole)?);
        let acc = match bytes.get(whole) {
            Some(&b) if rem > 0 => (u64::from(b) << 56) & !(u64::MAX >> rem),
            _ => 0,
        };
        Some(BitWriter {
            bytes: v,
            acc,
            n: rem,
        })
    }

    /// Length of the stream in bits.
    pub fn bit_len(&self) -> u64 {
        self.bytes.len() as u64 * 8 + u64::from(self.n)
    }

    /// The prefix bytes given at creation, for in-place header updates.
    pub fn prefix_mut(&mut self, len: usize) -> &mut [u8] {
        let len = len.min(self.bytes.len());
        &mut self.bytes[..len]
    }

    /// Length of the stream in bytes, the last one zero-padded.
    pub fn len(&self) -> usize {
        self.bytes.len() + usize::from(self.n).div_ceil(8)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the stream's bytes (the last one zero-padded) to `out`.
    pub fn copy_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.bytes);
        let pending = usize::from(self.n).div_ceil(8);
        out.extend_from_slice(&self.acc.to_be_bytes()[..pending]);
    }

    /// Copies the stream's bytes (the last one zero-padded) to the start of
    /// `out` and returns their length; `None` when `out` is too short.
    pub fn copy_to_slice(&self, out: &mut [u8]) -> Option<usize> {
        let pending = usize::from(self.n).div_ceil(8);
        let n = self.bytes.len() + pending;
        let (whole, rest) = out.get_mut(..n)?.split_at_mut(self.bytes.len());
        whole.copy_from_slice(&self.bytes);
        rest.copy_from_slice(&self.acc.to_be_bytes()[..pending]);
        Some(n)
    }

    /// A copy of the stream's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        self.copy_to(&mut out);
        out
    }

    /// Gives the bytes back, trimmed to their length.
    pub fn into_bytes(mut self) -> Vec<u8> {
        let pending = usize::from(self.n).div_ceil(8);
        let acc = self.acc.to_be_bytes();
        self.bytes.reserve_exact(pending);
        self.bytes.extend_from_slice(&acc[..pending]);
        self.bytes.shrink_to_fit();
        self.bytes
    }

    /// Moves the full register into the vector, growing by a quarter
    /// instead of doubling (a doubled buffer per series is costly slack).
    fn flush_register(&mut self) {
        if self.bytes.capacity() - self.bytes.len() < 8 {
            self.bytes.reserve_exact((self.bytes.len() / 4).max(16));
        }
        self.bytes.extend_from_slice(&self.acc.to_be_bytes());
        self.acc = 0;
        self.n = 0;
    }

    pub fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    pub fn write_byte(&mut self, b: u8) {
        self.write_bits(u64::from(b), 8);
    }

    /// Writes the low `nbits` (at most 64) bits of `v`, most significant first.
    pub fn write_bits(&mut self, v: u64, nbits: u32) {
        let nbits = nbits.min(64);
        if nbits == 0 {
            return;
        }
        let v = if nbits < 64 {
            v & ((1u64 << nbits) - 1)
        } else {
            v
        };
        let n = u32::from(self.n);
        let free = 64 - n;
        if nbits < free {
            self.acc |= v << (free - nbits);
            self.n += nbits as u8;
            return;
        }
        // Fill the register, flush it, keep the rest.
        let rest = nbits - free;
        self.acc |= v >> rest;
        self.flush_register();
        if rest > 0 {
            self.acc = v << (64 - rest);
            self.n = rest as u8;
        }
    }
}

/// Reads bits MSB-first from bytes it borrows or owns. Keeps up to 64
/// bits in a register, refilled a byte at a time, so most reads are a
/// shift and a mask rather than a loop over bits.
#[derive(Clone, Debug)]
pub struct BitReader<B> {
    bytes: B,
    /// Next byte of `bytes` to load into `buf`.
    pos: usize,
    /// Unread bits, left-aligned (the next bit is bit 63).
    buf: u64,
    /// How many bits of `buf` are valid.
    valid: u32,
}

impl<B: AsRef<[u8]>> BitReader<B> {
    pub fn new(bytes: B) -> BitReader<B> {
        BitReader {
            bytes,
            pos: 0,
            buf: 0,
            valid: 0,
        }
    }

    pub fn get_ref(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// Bits left to read.
    pub fn remaining(&self) -> usize {
        self.bytes.as_ref().len().saturating_sub(self.pos) * 8 + self.valid as usize
    }

    fn refill(&mut self) {
        let b = self.bytes.as_ref();
        while self.valid <= 56 {
            let Some(&byte) = b.get(self.pos) else { break };
            self.buf |= u64::from(byte) << (56 - self.valid);
            self.valid += 8;
            self.pos += 1;
        }
    }

    pub fn read_bit(&mut self) -> Option<bool> {
        if self.valid == 0 {
            self.refill();
            if self.valid == 0 {
                return None;
            }
        }
        let bit = self.buf >> 63 == 1;
        self.buf <<= 1;
        self.valid -= 1;
        Some(bit)
    }

    /// Reads `nbits` (at most 64) bits as the low bits of a u64.
    pub fn read_bits(&mut self, nbits: u32) -> Option<u64> {
        if nbits == 0 {
            return Some(0);
        }
        if nbits > 64 {
            return None;
        }
        if self.valid < nbits {
            self.refill();
        }
        if self.valid >= nbits {
            let v = if nbits == 64 {
                self.buf
            } else {
                self.buf >> (64 - nbits)
            };
            self.buf = if nbits == 64 { 0 } else { self.buf << nbits };
            self.valid -= nbits;
            return Some(v);
        }
        // More than the register holds after a refill (only near 64-bit
        // reads): take what is there, refill, take the rest.
        let have = self.valid;
        if have == 0 {
            return None;
        }
        let hi = self.read_bits(have)?;
        self.refill();
        let rest = nbits - have;
        if self.valid < rest {
            return None;
        }
        let lo = self.read_bits(rest)?;
        Some((hi << rest) | lo)
    }

    pub fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|v| v as u8)
    }

    /// Go's `binary.ReadUvarint` over the bit stream.
    pub fn read_uvarint(&mut self) -> Option<u64> {
        let mut x: u64 = 0;
        let mut s: u32 = 0;
        for i in 0..10 {
            let b = self.read_byte()?;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return None;
                }
                return Some(x | (u64::from(b) << s));
            }
            x |= u64::from(b & 0x7f) << s;
            s += 7;
        }
        None
    }

    /// Go's `binary.ReadVarint` (zig-zag) over the bit stream.
    pub fn read_varint(&mut self) -> Option<i64> {
        let ux = self.read_uvarint()?;
        let x = (ux >> 1) as i64;
        Some(if ux & 1 != 0 { !x } else { x })
    }
}

/// Go's `binary.PutUvarint`.
pub fn put_uvarint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// Go's `binary.PutVarint` (zig-zag).
pub fn put_varint(out: &mut Vec<u8>, x: i64) {
    let ux = ((x as u64) << 1) ^ ((x >> 63) as u64);
    put_uvarint(out, ux);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip() {
        let mut w = BitWriter::default();
        let items: Vec<(u64, u32)> = vec![
            (1, 1),
            (0b101, 3),
            (0xdead_beef, 32),
            (u64::MAX, 64),
            (0, 7),
            (0x3f, 6),
            (0x1234_5678_9abc_def0, 64),
        ];
        for (v, n) in &items {
            w.write_bits(*v, *n);
        }
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        for (v, n) in &items {
            let mask = if *n == 64 { u64::MAX } else { (1 << n) - 1 };
            assert_eq!(r.read_bits(*n), Some(v & mask));
        }
        assert!(r.remaining() < 8);
    }

    /// Many reads of every width, so refills meet every register fill
    /// level and the end of the stream.
    #[test]
    fn bits_round_trip_at_every_alignment() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut items = Vec::new();
        for i in 0..2000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = i % 64 + 1;
            let mask = if n == 64 { u64::MAX } else { (1 << n) - 1 };
            items.push((x & mask, n));
        }
        let mut w = BitWriter::default();
        for (v, n) in &items {
            w.write_bits(*v, *n);
        }
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        for (i, (v, n)) in items.iter().enumerate() {
            assert_eq!(r.read_bits(*n), Some(*v), "item {i}");
        }
        assert!(r.remaining() < 8);
    }

    #[test]
    fn copy_to_slice_matches_to_bytes() {
        let mut w = BitWriter::with_prefix(&[0, 0], 8);
        w.write_bits(0x1_2345, 17);
        let want = w.to_bytes();
        let mut buf = [0xaa; 16];
        assert_eq!(w.copy_to_slice(&mut buf), Some(want.len()));
        assert_eq!(&buf[..want.len()], &want[..]);
        assert_eq!(w.copy_to_slice(&mut buf[..want.len() - 1]), None);
    }

    #[test]
    fn varints_match_go() {
        let mut out = Vec::new();
        put_varint(&mut out, -1);
        assert_eq!(out, [1]);
        out.clear();
        put_uvarint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        let mut w = BitWriter::default();
        w.write_bit(true);
        for b in &out {
            w.write_byte(*b);
        }
        assert_eq!(w.len(), 3);
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.read_bit(), Some(true));
        assert_eq!(r.read_uvarint(), Some(300));
        assert_eq!(r.read_varint(), None);
    }
}
