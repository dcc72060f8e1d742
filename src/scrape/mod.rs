//! The scrape pipeline: exposition parsers (`textparse`).
pub mod textparse;
