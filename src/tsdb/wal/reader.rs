//! Reading WAL segments: [`Reader`] reads closed segments in order (replay,
//! checkpoints) and reports the first malformed byte as a corruption with
//! its segment and offset so the caller can repair; [`LiveReader`] tails a
//! segment that is still being written and treats "not there yet" as "come
//! back later", which is what the remote-write queue needs.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;

use super::{
    crc32c, WalError, PAGE_SIZE, RECORD_HEADER_SIZE, REC_FIRST, REC_FULL, REC_LAST, REC_MIDDLE,
    REC_PAGE_TERM, SNAPPY_MASK, ZSTD_MASK,
};

/// Reads as many bytes as are available up to `buf.len()`.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Above snappy's best ratio (a 3-byte copy of 64 bytes).
const MAX_SNAPPY_RATIO: usize = 32;

fn decompress(
    typ: u8,
    data: &[u8],
    decoder: &mut snap::raw::Decoder,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if typ & ZSTD_MASK != 0 {
        return Err("zstd-compressed WAL records are not supported by promlite".into());
    }
    let n = snap::raw::decompress_len(data).map_err(|e| format!("snappy: {e}"))?;
    // A snappy copy element expands at most 3 bytes into 64, so a length
    // beyond that ratio is damage, refused before allocating for it.
    if n > data.len().saturating_mul(MAX_SNAPPY_RATIO) {
        return Err(format!(
            "snappy: decompressed length {n} is impossible for {} compressed bytes",
            data.len()
        ));
    }
    out.clear();
    out.resize(n, 0);
    decoder
        .decompress(data, out)
        .map_err(|e| format!("snappy: {e}"))?;
    Ok(())
}

struct Cursor {
    index: u32,
    path: PathBuf,
    r: BufReader<File>,
    offset: u64,
}

/// Reads records from a sequence of segments, in order.
pub struct Reader {
    segments: Vec<(u32, PathBuf)>,
    next_segment: usize,
    cur: Option<Cursor>,
    rec: Vec<u8>,
    out: Vec<u8>,
    decoder: snap::raw::Decoder,
    /// Offset just after the last complete record in the current segment.
    good_offset: u64,
    /// Offset where the record last returned (or being read) starts.
    rec_start: u64,
}

impl Reader {
    /// A reader over `segments` (index, path), which must be sorted by index.
    pub fn new(segments: Vec<(u32, PathBuf)>) -> Reader {
        Reader {
            segments,
            next_segment: 0,
            cur: None,
            rec: Vec::new(),
            out: Vec::new(),
            decoder: snap::raw::Decoder::new(),
            good_offset: 0,
            rec_start: 0,
        }
    }

    /// Where the record last returned starts in [`Reader::segment`]: the
    /// place to truncate when that record turns out not to decode.
    pub fn record_start(&self) -> u64 {
        self.rec_start
    }

    /// The segment the last record came from.
    pub fn segment(&self) -> Option<u32> {
        self.cur.as_ref().map(|c| c.index)
    }

    /// The offset just after the last complete record in [`Reader::segment`].
    pub fn offset(&self) -> u64 {
        self.good_offset
    }

    fn open_next(&mut self) -> Result<bool, WalError> {
        let Some((index, path)) = self.segments.get(self.next_segment).cloned() else {
            self.cur = None;
            return Ok(false);
        };
        self.next_segment += 1;
        let f = File::open(&path).map_err(|e| WalError::io(&path, e))?;
        log::debug!("reading WAL segment {}", path.display());
        self.cur = Some(Cursor {
            index,
            path,
            r: BufReader::with_capacity(256 * 1024, f),
            offset: 0,
        });
        self.good_offset = 0;
        Ok(true)
    }

    fn corrupt(&self, reason: impl Into<String>) -> WalError {
        WalError::Corruption {
            segment: self.cur.as_ref().map(|c| c.index).unwrap_or(0),
            offset: self.good_offset,
            reason: reason.into(),
        }
    }

    /// The next record, `None` after the last segment ends cleanly.
    #[allow(clippy::should_implement_trait)] // lending: the record borrows the reader
    pub fn next(&mut self) -> Result<Option<&[u8]>, WalError> {
        if self.cur.is_none() && !self.open_next()? {
            return Ok(None);
        }
        self.rec.clear();
        let mut fragments = 0usize;
        let mut page = vec![0u8; PAGE_SIZE];
        loop {
            if fragments == 0 {
                self.rec_start = self.good_offset;
            }
            let Some(cur) = self.cur.as_mut() else {
                return Ok(None);
            };
            let mut hdr = [0u8; RECORD_HEADER_SIZE];
            let n = read_full(&mut cur.r, &mut hdr[..1]).map_err(|e| WalError::io(&cur.path, e))?;
            if n == 0 {
                if fragments > 0 {
                    return Err(self.corrupt("segment ends inside a record"));
                }
                if !self.open_next()? {
                    return Ok(None);
                }
                continue;
            }
            cur.offset += 1;
            let typ = hdr[0] & 0x7;
            if typ == REC_PAGE_TERM {
                // The rest of the page is zero padding.
                let k = PAGE_SIZE - (cur.offset as usize % PAGE_SIZE);
                if k == PAGE_SIZE {
                    continue;
                }
                let n = read_full(&mut cur.r, &mut page[..k])
                    .map_err(|e| WalError::io(&cur.path, e))?;
                cur.offset += n as u64;
                if page[..n].iter().any(|&b| b != 0) {
                    return Err(self.corrupt("unexpected non-zero byte in padded page"));
                }
                continue;
            }
            let n = read_full(&mut cur.r, &mut hdr[1..]).map_err(|e| WalError::io(&cur.path, e))?;
            cur.offset += n as u64;
            if n < RECORD_HEADER_SIZE - 1 {
                return Err(self.corrupt("segment ends inside a record header"));
            }
            let len = usize::from(u16::from_be_bytes([hdr[1], hdr[2]]));
            let crc = u32::from_be_bytes([hdr[3], hdr[4], hdr[5], hdr[6]]);
            if len > PAGE_SIZE - RECORD_HEADER_SIZE {
                return Err(self.corrupt(format!("invalid record size {len}")));
            }
            let n =
                read_full(&mut cur.r, &mut page[..len]).map_err(|e| WalError::io(&cur.path, e))?;
            cur.offset += n as u64;
            if n < len {
                return Err(self.corrupt("segment ends inside a record"));
            }
            let got = crc32c::checksum(&page[..len]);
            if got != crc {
                return Err(self.corrupt(format!("unexpected checksum {got:x}, expected {crc:x}")));
            }
            let ok = match typ {
                REC_FULL | REC_FIRST => fragments == 0,
                REC_MIDDLE | REC_LAST => fragments > 0,
                _ => false,
            };
            if !ok {
                return Err(self.corrupt(format!(
                    "invalid record type {typ} after {fragments} fragments"
                )));
            }
            self.rec.extend_from_slice(&page[..len]);
            fragments += 1;
            if typ == REC_FULL || typ == REC_LAST {
                let end = cur.offset;
                if hdr[0] & (SNAPPY_MASK | ZSTD_MASK) != 0 {
                    if let Err(e) = decompress(hdr[0], &self.rec, &mut self.decoder, &mut self.out)
                    {
                        return Err(self.corrupt(e));
                    }
                    std::mem::swap(&mut self.rec, &mut self.out);
                }
                self.good_offset = end;
                return Ok(Some(&self.rec));
            }
        }
    }
}

/// Tails one segment that may still be written to. `next` returns `Ok(None)`
/// when no complete record is available yet; call it again later.
pub struct LiveReader {
    file: File,
    buf: Vec<u8>,
    pos: usize,
    /// File offset of `buf[pos]`.
    offset: u64,
    rec: Vec<u8>,
    fragments: usize,
    out: Vec<u8>,
    decoder: snap::raw::Decoder,
}

impl LiveReader {
    pub fn new(file: File) -> LiveReader {
        LiveReader {
            file,
            buf: Vec::new(),
            pos: 0,
            offset: 0,
            rec: Vec::new(),
            fragments: 0,
            out: Vec::new(),
            decoder: snap::raw::Decoder::new(),
        }
    }

    /// Bytes of the segment consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn corrupt(&self, reason: impl Into<String>) -> WalError {
        WalError::Corruption {
            segment: 0,
            offset: self.offset,
            reason: reason.into(),
        }
    }

    /// Reads more of the file; false when nothing new was there.
    fn fill(&mut self) -> Result<bool, WalError> {
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + 64 * 1024, 0);
        let n = match self.file.read(&mut self.buf[old..]) {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(old);
                return Err(WalError::Io {
                    path: PathBuf::from("<live segment>"),
                    source: e,
                });
            }
        };
        self.buf.truncate(old + n);
        Ok(n > 0)
    }

    /// The next complete record, if one has been written.
    #[allow(clippy::should_implement_trait)] // lending: the record borrows the reader
    pub fn next(&mut self) -> Result<Option<&[u8]>, WalError> {
        loop {
            match self.try_fragment()? {
                Some(true) => return Ok(Some(&self.rec)),
                Some(false) => continue,
                None => {
                    if !self.fill()? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Consumes one fragment or padding: `Some(true)` when a record is
    /// complete, `Some(false)` to continue, `None` when more bytes are needed.
    fn try_fragment(&mut self) -> Result<Option<bool>, WalError> {
        if self.fragments == usize::MAX {
            self.fragments = 0;
            self.rec.clear();
        }
        let avail = &self.buf[self.pos..];
        let Some(&first) = avail.first() else {
            return Ok(None);
        };
        let typ = first & 0x7;
        if typ == REC_PAGE_TERM {
            let into_page = (self.offset as usize + 1) % PAGE_SIZE;
            let k = if into_page == 0 {
                0
            } else {
                PAGE_SIZE - into_page
            };
            if avail.len() < 1 + k {
                return Ok(None);
            }
            if avail[1..1 + k].iter().any(|&b| b != 0) {
                return Err(self.corrupt("unexpected non-zero byte in padded page"));
            }
            self.pos += 1 + k;
            self.offset += 1 + k as u64;
            return Ok(Some(false));
        }
        if avail.len() < RECORD_HEADER_SIZE {
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([avail[1], avail[2]]));
        let crc = u32::from_be_bytes([avail[3], avail[4], avail[5], avail[6]]);
        if len > PAGE_SIZE - RECORD_HEADER_SIZE {
            return Err(self.corrupt(format!("invalid record size {len}")));
        }
        if avail.len() < RECORD_HEADER_SIZE + len {
            return Ok(None);
        }
        let data = &avail[RECORD_HEADER_SIZE..RECORD_HEADER_SIZE + len];
        if crc32c::checksum(data) != crc {
            return Err(self.corrupt("checksum mismatch"));
        }
        let ok = match typ {
            REC_FULL | REC_FIRST => self.fragments == 0,
            REC_MIDDLE | REC_LAST => self.fragments > 0,
            _ => false,
        };
        if !ok {
            return Err(self.corrupt(format!("invalid record type {typ}")));
        }
        self.rec.extend_from_slice(data);
        self.pos += RECORD_HEADER_SIZE + len;
        self.offset += (RECORD_HEADER_SIZE + len) as u64;
        self.fragments += 1;
        if typ == REC_FULL || typ == REC_LAST {
            if first & (SNAPPY_MASK | ZSTD_MASK) != 0 {
                if let Err(e) = decompress(first, &self.rec, &mut self.decoder, &mut self.out) {
                    return Err(self.corrupt(e));
                }
                std::mem::swap(&mut self.rec, &mut self.out);
            }
            // Marks "record complete"; the next call starts a fresh record.
            self.fragments = usize::MAX;
            return Ok(Some(true));
        }
        Ok(Some(false))
    }
}
