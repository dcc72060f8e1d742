//! PromQL: the typed syntax tree (`ast`), and later the lexer, parser,
//! printer and evaluation engine. `promql` sees storage only through
//! `storage::Queryable`/`Querier`; it never names a TSDB type.

pub mod ast;
