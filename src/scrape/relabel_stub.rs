//! TEMPORARY stand-in for `model::relabel` until the config branch (which
//! owns relabeling) is merged: same names and signatures, no rules applied.
//! Scrape code reaches relabeling only through `scrape::relabel`.

use crate::model::Labels;

/// Placeholder for `model::relabel::RelabelConfig`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RelabelConfig;

/// Placeholder for `model::relabel::process`: keeps the set unchanged.
pub fn process(labels: &Labels, _cfgs: &[RelabelConfig]) -> Option<Labels> {
    Some(labels.clone())
}
