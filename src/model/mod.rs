//! The data model every component shares: label sets, label matchers, samples
//! and timestamps. Plain data: nothing here starts a thread, opens a file or
//! knows about storage.

pub mod civil;
pub mod duration;
pub mod labels;
pub mod matcher;
pub mod relabel;
pub mod value;

pub use labels::{Label, Labels, LabelsBuilder};
pub use matcher::{MatchType, Matcher, MatcherError};
pub use value::{is_stale_nan, stale_nan, Sample, STALE_NAN_BITS};
