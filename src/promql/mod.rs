//! PromQL: the typed syntax tree (`ast`), and later the lexer, parser,
//! printer and evaluation engine. `promql` sees storage only through
//! `storage::Queryable`/`Querier`; it never names a TSDB type.

pub mod ast;
pub mod engine;
pub mod functions;
pub mod lexer;
pub mod parser;
pub mod printer;
pub mod promqltest;
pub mod value;

pub use parser::{
    parse_expr, parse_metric_selector, parse_series_desc, ParseError, ParseOptions, SequenceValue,
};
pub use engine::{Engine, EngineOpts, QueryError, QueryErrorKind, QueryResult, QueryStats};
pub use value::{MatrixSeries, Value, VectorSample};
