//! Bit streams for the XOR chunk: a writer that appends bits MSB-first into a
//! byte vector and a reader over a byte slice, bit for bit compatible with
//! upstream's `tsdb/chunkenc/bstream.go`.

/// Appends bits to a byte vector, most significant bit first.
#[derive(Clone, Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Free bits in the last byte (0 means the next bit starts a new byte).
    free: u8,
}

impl BitWriter {
    /// A writer whose stream starts with `prefix` (whole bytes, e.g. a header).
    pub fn with_prefix(prefix: &[u8], capacity: usize) -> BitWriter {
        let mut bytes = Vec::with_capacity(capacity.max(prefix.len()));
        bytes.extend_from_slice(prefix);
        BitWriter { bytes, free: 0 }
    }

    /// Resumes writing at the end of `bytes`, whose last byte has `free` unused low bits.
    pub fn resume(bytes: Vec<u8>, free: u8) -> BitWriter {
        BitWriter { bytes, free }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    pub fn free_bits(&self) -> u8 {
        self.free
    }

    /// Gives the buffer back, trimmed to its length.
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.bytes.shrink_to_fit();
        self.bytes
    }

    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }

    /// Appends a byte, growing by a quarter instead of doubling: a head
    /// holds one open chunk per series, so doubling's slack would cost more
    /// than the few extra reallocations.
    fn push(&mut self, b: u8) {
        if self.bytes.len() == self.bytes.capacity() {
            self.bytes.reserve_exact((self.bytes.len() / 4).max(16));
        }
        self.bytes.push(b);
    }

    pub fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.push(0);
            self.free = 8;
        }
        if bit {
            if let Some(last) = self.bytes.last_mut() {
                *last |= 1 << (self.free - 1);
            }
        }
        self.free -= 1;
    }

    pub fn write_byte(&mut self, b: u8) {
        if self.free == 0 {
            self.push(b);
            return;
        }
        let free = self.free;
        if let Some(last) = self.bytes.last_mut() {
            *last |= b >> (8 - free);
        }
        self.push(b << free);
    }

    /// Writes the low `nbits` (at most 64) bits of `v`, most significant
    /// first: tops up the partial last byte, then whole bytes, then the rest.
    pub fn write_bits(&mut self, v: u64, nbits: u32) {
        let mut n = nbits.min(64);
        if n == 0 {
            return;
        }
        let v = if n < 64 { v & ((1u64 << n) - 1) } else { v };
        if self.free > 0 {
            let free = u32::from(self.free);
            let take = free.min(n);
            let bits = (v >> (n - take)) & ((1u64 << take) - 1);
            if let Some(last) = self.bytes.last_mut() {
                *last |= (bits << (free - take)) as u8;
            }
            self.free -= take as u8;
            n -= take;
        }
        while n >= 8 {
            n -= 8;
            self.push((v >> n) as u8);
        }
        if n > 0 {
            self.push((v << (8 - n)) as u8);
            self.free = (8 - n) as u8;
        }
    }
}

/// Reads bits MSB-first from bytes it borrows or owns.
#[derive(Clone, Debug)]
pub struct BitReader<B> {
    bytes: B,
    /// Position in bits from the start of `bytes`.
    pos: usize,
}

impl<B: AsRef<[u8]>> BitReader<B> {
    pub fn new(bytes: B) -> BitReader<B> {
        BitReader { bytes, pos: 0 }
    }

    pub fn get_ref(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// Bits left to read.
    pub fn remaining(&self) -> usize {
        (self.bytes.as_ref().len() * 8).saturating_sub(self.pos)
    }

    pub fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.as_ref().get(self.pos / 8)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1 == 1;
        self.pos += 1;
        Some(bit)
    }

    /// Reads `nbits` (at most 64) bits as the low bits of a u64.
    pub fn read_bits(&mut self, nbits: u32) -> Option<u64> {
        if nbits as usize > self.remaining() || nbits > 64 {
            return None;
        }
        let mut v: u64 = 0;
        let mut left = nbits;
        while left > 0 {
            let idx = self.pos / 8;
            let off = (self.pos % 8) as u32;
            let avail = 8 - off;
            let take = avail.min(left);
            let byte = u64::from(*self.bytes.as_ref().get(idx)?);
            let chunk = (byte >> (avail - take)) & ((1u64 << take) - 1);
            v = if take == 64 {
                chunk
            } else {
                (v << take) | chunk
            };
            self.pos += take as usize;
            left -= take;
        }
        Some(v)
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
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.read_bit(), Some(true));
        assert_eq!(r.read_uvarint(), Some(300));
        assert_eq!(r.read_varint(), None);
    }
}
