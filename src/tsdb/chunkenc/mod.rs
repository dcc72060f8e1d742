//! Chunk encodings. Only upstream's XOR float encoding is built; the encoding
//! byte values are upstream's so chunk files can be exchanged with it.

pub mod bstream;
pub mod xor;

pub use xor::{num_samples, XorAppender, XorIterator, XorState};

/// Upstream's `EncXOR`: the encoding byte of a float chunk in chunk files.
pub const ENC_XOR: u8 = 1;

/// Samples per head chunk before it is closed, as upstream's default.
pub const SAMPLES_PER_CHUNK: u16 = 120;
