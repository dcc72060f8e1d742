//! The inverted index: sorted postings lists of dense series ids, their set
//! operations, and the head's label → value → postings map that resolves
//! label matchers with upstream's semantics.

pub mod postings;

pub use postings::{intersect, merge, subtract, MemPostings};
