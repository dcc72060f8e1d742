//! Duration expressions (`foo[5m + 1m]`, `offset (1m * 2)`, `[step()]`):
//! arithmetic over numbers (seconds) and durations, with `step()`, `range()`,
//! `min_of()` and `max_of()`. The parser keeps such an expression in the
//! selector's `*_expr` field and folds it to milliseconds when it is
//! constant; `eval_duration_expr` resolves the rest once the query's step and
//! range are known (the engine calls it before evaluation).

use crate::promql::ast::{BinOp, Expr};

/// What `step()` and `range()` mean for one query, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DurationContext {
    pub step_ms: i64,
    /// `end - start` of the query; 0 for instant queries.
    pub range_ms: i64,
}

/// Whether `name` is one of the functions allowed in duration expressions
/// besides the `step`/`range` keywords.
pub(super) fn is_duration_call(name: &str) -> bool {
    name == "min_of" || name == "max_of"
}

/// Value in seconds when the expression needs no query context.
pub(super) fn fold_constant(e: &Expr) -> Option<f64> {
    eval_seconds(e, None).ok()
}

/// Evaluates a duration expression to milliseconds, rounded so that
/// `1001ms` (1.001 s as a float) stays 1001 ms.
pub fn eval_duration_expr(e: &Expr, ctx: &DurationContext) -> Result<i64, String> {
    let secs = eval_seconds(e, Some(ctx))?;
    if !secs.is_finite() {
        return Err(format!("duration expression {e} is not a finite number"));
    }
    Ok((secs * 1000.0).round() as i64)
}

fn eval_seconds(e: &Expr, ctx: Option<&DurationContext>) -> Result<f64, String> {
    match e {
        Expr::NumberLiteral(n) => Ok(n.val),
        Expr::Paren(p) => eval_seconds(&p.expr, ctx),
        Expr::Unary(u) => {
            let v = eval_seconds(&u.expr, ctx)?;
            Ok(if u.op == BinOp::Sub { -v } else { v })
        }
        Expr::Binary(b) => {
            let l = eval_seconds(&b.lhs, ctx)?;
            let r = eval_seconds(&b.rhs, ctx)?;
            match b.op {
                BinOp::Add => Ok(l + r),
                BinOp::Sub => Ok(l - r),
                BinOp::Mul => Ok(l * r),
                BinOp::Div => {
                    if r == 0.0 {
                        Err("division by zero in duration expression".to_string())
                    } else {
                        Ok(l / r)
                    }
                }
                BinOp::Mod => {
                    if r == 0.0 {
                        Err("modulo by zero in duration expression".to_string())
                    } else {
                        Ok(l % r)
                    }
                }
                BinOp::Pow => Ok(l.powf(r)),
                op => Err(format!(
                    "operator {} is not allowed in duration expressions",
                    op.as_str()
                )),
            }
        }
        Expr::Call(c) => {
            let need_ctx =
                || ctx.ok_or_else(|| format!("{}() needs the query's step and range", c.name));
            match (c.name.as_str(), c.args.as_slice()) {
                ("step", []) => Ok(need_ctx()?.step_ms as f64 / 1000.0),
                ("range", []) => Ok(need_ctx()?.range_ms as f64 / 1000.0),
                ("min_of", [a, b]) => Ok(eval_seconds(a, ctx)?.min(eval_seconds(b, ctx)?)),
                ("max_of", [a, b]) => Ok(eval_seconds(a, ctx)?.max(eval_seconds(b, ctx)?)),
                _ => Err(format!(
                    "function {} is not allowed in duration expressions",
                    c.name
                )),
            }
        }
        other => Err(format!("{other} is not allowed in duration expressions")),
    }
}
