//! The values a PromQL query returns, as upstream's `promql.Value`: a scalar,
//! a string, an instant vector or a range vector (matrix). These are the
//! engine's output types; the HTTP API and the rule manager read them.

use std::fmt;

use crate::model::value::format_go_g;
use crate::model::Labels;

use super::ast::ValueType;

/// One sample of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorSample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// One series of a range vector, samples in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixSeries {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

/// The result of a query.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, s: String },
    Vector(Vec<VectorSample>),
    Matrix(Vec<MatrixSeries>),
}

impl Value {
    /// The value's type, as the API's `resultType` names it.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Scalar { .. } => ValueType::Scalar,
            Value::String { .. } => ValueType::String,
            Value::Vector(_) => ValueType::Vector,
            Value::Matrix(_) => ValueType::Matrix,
        }
    }
}

impl fmt::Display for Value {
    /// Upstream's `String()` forms: `scalar: 1 @[0]`, one line per sample or series.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar { t, v } => write!(f, "scalar: {} @[{}]", format_go_g(*v), t),
            Value::String { t, s } => write!(f, "string: {} @[{}]", s, t),
            Value::Vector(v) => {
                for (i, s) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{} => {} @[{}]", s.labels, format_go_g(s.v), s.t)?;
                }
                Ok(())
            }
            Value::Matrix(m) => {
                for (i, s) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{} =>", s.labels)?;
                    for (t, v) in &s.samples {
                        write!(f, "\n{} @[{}]", format_go_g(*v), t)?;
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        assert_eq!(
            Value::Scalar { t: 5, v: 1.5 }.to_string(),
            "scalar: 1.5 @[5]"
        );
        let v = Value::Vector(vec![VectorSample {
            labels: Labels::from_pairs(&[("a", "b")]),
            t: 1,
            v: 2.0,
        }]);
        assert_eq!(v.to_string(), "{a=\"b\"} => 2 @[1]");
        assert_eq!(v.value_type(), ValueType::Vector);
    }
}
