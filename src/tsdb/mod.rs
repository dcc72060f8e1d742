//! The local time-series database, as upstream's `tsdb` package: XOR chunks
//! (`chunkenc`), the postings index (`index`), the in-memory head (`head`),
//! the write-ahead log (`wal`) and `Db`, which ties them together behind the
//! `storage` traits. Nothing outside this module names these types except the
//! server wiring; queries and scrapes see only `storage::{Appendable, Queryable}`.

pub mod chunkenc;
pub mod head;
pub mod index;
pub mod wal;
