//! Rewrites a parsed expression before evaluation, as upstream's
//! `PreprocessExpr`: resolves duration expressions (`[5m + step()]`,
//! `offset -min_of(step(), 1s)`), pins `@ start()`/`@ end()` to the query's
//! times, checks the `@`/negative-offset feature switches, and wraps
//! sub-trees whose value does not change between steps in
//! `Expr::StepInvariant` so they are evaluated once.

use crate::promql::ast::{AtModifier, BinOp, Expr, StepInvariantExpr};

use super::{EngineOpts, QueryError};

/// Functions whose result depends on the evaluation time even when every
/// selector below them is pinned with `@` (upstream's `AtModifierUnsafeFunctions`).
pub const AT_MODIFIER_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

/// Largest time, offset or range (ms) the engine accepts: about 35,000
/// years, far beyond any real data, and small enough that the engine's
/// time arithmetic cannot overflow.
pub(crate) const MAX_TIME_MS: i64 = 1 << 50;

fn check_time(what: &str, v: i64) -> Result<i64, QueryError> {
    if v.abs() > MAX_TIME_MS {
        return Err(QueryError::bad_data(format!(
            "{what} {v}ms is out of the supported range"
        )));
    }
    Ok(v)
}

/// Returns the rewritten copy of `expr` for a query over `[start, end]` with `step`.
pub(crate) fn preprocess(
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
    opts: &EngineOpts,
) -> Result<Expr, QueryError> {
    let mut e = expr.clone();
    let ctx = Ctx {
        start,
        end,
        step,
        opts,
    };
    ctx.resolve(&mut e)?;
    if ctx.step_invariant(&mut e) {
        return Ok(wrap(e));
    }
    Ok(e)
}

struct Ctx<'a> {
    start: i64,
    end: i64,
    step: i64,
    opts: &'a EngineOpts,
}

fn wrap(e: Expr) -> Expr {
    match e {
        // Literals are cheap to evaluate at every step.
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::StepInvariant(_) => e,
        Expr::Paren(p) if matches!(*p.expr, Expr::NumberLiteral(_) | Expr::StringLiteral(_)) => {
            Expr::Paren(p)
        }
        e => Expr::StepInvariant(StepInvariantExpr { expr: Box::new(e) }),
    }
}

impl Ctx<'_> {
    fn at_time(&self, ts: Option<i64>, se: Option<AtModifier>) -> Result<Option<i64>, QueryError> {
        let t = match se {
            Some(AtModifier::Start) => Some(self.start),
            Some(AtModifier::End) => Some(self.end),
            None => ts,
        };
        if t.is_some() && !self.opts.enable_at_modifier {
            return Err(QueryError::bad_data("@ modifier is disabled"));
        }
        Ok(t)
    }

    fn offset(&self, written: i64, e: &Option<Box<Expr>>) -> Result<i64, QueryError> {
        let off = match e {
            Some(e) => self.duration(e)?,
            None => written,
        };
        if off < 0 && !self.opts.enable_negative_offset {
            return Err(QueryError::bad_data("negative offset is disabled"));
        }
        Ok(off)
    }

    /// Evaluates a duration expression to milliseconds.
    fn duration(&self, e: &Expr) -> Result<i64, QueryError> {
        let secs = self.duration_secs(e)?;
        if !secs.is_finite() {
            return Err(QueryError::bad_data(format!(
                "duration expression evaluates to a non-finite value: {secs}"
            )));
        }
        Ok((secs * 1000.0).round() as i64)
    }

    fn duration_secs(&self, e: &Expr) -> Result<f64, QueryError> {
        Ok(match e {
            Expr::NumberLiteral(n) => n.val,
            Expr::Paren(p) => self.duration_secs(&p.expr)?,
            Expr::StepInvariant(s) => self.duration_secs(&s.expr)?,
            Expr::Unary(u) => {
                let v = self.duration_secs(&u.expr)?;
                if u.op == BinOp::Sub {
                    -v
                } else {
                    v
                }
            }
            Expr::Binary(b) => {
                let l = self.duration_secs(&b.lhs)?;
                let r = self.duration_secs(&b.rhs)?;
                match b.op {
                    BinOp::Add => l + r,
                    BinOp::Sub => l - r,
                    BinOp::Mul => l * r,
                    BinOp::Div => {
                        if r == 0.0 {
                            return Err(QueryError::bad_data("division by zero"));
                        }
                        l / r
                    }
                    BinOp::Mod => {
                        if r == 0.0 {
                            return Err(QueryError::bad_data("modulo by zero"));
                        }
                        l % r
                    }
                    BinOp::Pow => l.powf(r),
                    op => {
                        return Err(QueryError::bad_data(format!(
                            "unexpected operator {} in duration expression",
                            op.as_str()
                        )))
                    }
                }
            }
            Expr::Call(c) => match (c.name.to_ascii_lowercase().as_str(), c.args.as_slice()) {
                ("step", []) => self.step as f64 / 1000.0,
                ("range", []) => (self.end - self.start) as f64 / 1000.0,
                ("min_of", [a, b]) => self.duration_secs(a)?.min(self.duration_secs(b)?),
                ("max_of", [a, b]) => self.duration_secs(a)?.max(self.duration_secs(b)?),
                (name, _) => {
                    return Err(QueryError::bad_data(format!(
                        "function {name} is not allowed in a duration expression"
                    )))
                }
            },
            _ => {
                return Err(QueryError::bad_data(
                    "unexpected expression in duration expression",
                ))
            }
        })
    }

    /// Resolves duration expressions and `@ start()/end()` throughout `e`.
    fn resolve(&self, e: &mut Expr) -> Result<(), QueryError> {
        match e {
            Expr::VectorSelector(vs) => {
                vs.original_offset =
                    check_time("offset", self.offset(vs.original_offset, &vs.offset_expr)?)?;
                vs.offset_expr = None;
                vs.timestamp = self.at_time(vs.timestamp, vs.start_or_end)?;
                if let Some(t) = vs.timestamp {
                    check_time("@ time", t)?;
                }
                vs.start_or_end = None;
            }
            Expr::MatrixSelector(ms) => {
                if let Some(r) = ms.range_expr.take() {
                    ms.range = self.duration(&r)?;
                    if ms.range <= 0 {
                        return Err(QueryError::bad_data(format!(
                            "duration must be greater than 0, got {}",
                            crate::model::duration::format_duration(ms.range)
                        )));
                    }
                }
                check_time("range", ms.range)?;
                self.resolve(&mut ms.vector_selector)?;
            }
            Expr::Subquery(sq) => {
                if let Some(r) = sq.range_expr.take() {
                    sq.range = self.duration(&r)?;
                }
                if let Some(s) = sq.step_expr.take() {
                    sq.step = self.duration(&s)?;
                }
                sq.original_offset =
                    check_time("offset", self.offset(sq.original_offset, &sq.offset_expr)?)?;
                sq.offset_expr = None;
                sq.timestamp = self.at_time(sq.timestamp, sq.start_or_end)?;
                if let Some(t) = sq.timestamp {
                    check_time("@ time", t)?;
                }
                check_time("range", sq.range)?;
                check_time("step", sq.step)?;
                sq.start_or_end = None;
                self.resolve(&mut sq.expr)?;
            }
            Expr::Aggregate(a) => {
                self.resolve(&mut a.expr)?;
                if let Some(p) = a.param.as_mut() {
                    self.resolve(p)?;
                }
            }
            Expr::Binary(b) => {
                self.resolve(&mut b.lhs)?;
                self.resolve(&mut b.rhs)?;
            }
            Expr::Call(c) => {
                for a in c.args.iter_mut() {
                    self.resolve(a)?;
                }
            }
            Expr::Paren(p) => self.resolve(&mut p.expr)?,
            Expr::Unary(u) => self.resolve(&mut u.expr)?,
            Expr::StepInvariant(s) => self.resolve(&mut s.expr)?,
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        }
        Ok(())
    }

    /// Whether `e` has the same value at every step; wraps invariant
    /// children of variant nodes.
    fn step_invariant(&self, e: &mut Expr) -> bool {
        match e {
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
            Expr::VectorSelector(vs) => vs.timestamp.is_some(),
            Expr::MatrixSelector(ms) => match ms.vector_selector.as_ref() {
                Expr::VectorSelector(vs) => vs.timestamp.is_some(),
                _ => false,
            },
            Expr::Subquery(sq) => {
                if self.step_invariant(&mut sq.expr) {
                    let inner = std::mem::replace(sq.expr.as_mut(), placeholder());
                    *sq.expr = wrap(inner);
                }
                sq.timestamp.is_some()
            }
            Expr::Aggregate(a) => {
                // The parameter is evaluated per step anyway; only the
                // vector decides.
                if let Some(p) = a.param.as_mut() {
                    self.step_invariant(p);
                }
                self.step_invariant(&mut a.expr)
            }
            Expr::Paren(p) => self.step_invariant(&mut p.expr),
            Expr::Unary(u) => self.step_invariant(&mut u.expr),
            Expr::StepInvariant(_) => true,
            Expr::Binary(b) => {
                let l = self.step_invariant(&mut b.lhs);
                let r = self.step_invariant(&mut b.rhs);
                if l && r {
                    return true;
                }
                if l {
                    let inner = std::mem::replace(b.lhs.as_mut(), placeholder());
                    *b.lhs = wrap(inner);
                }
                if r {
                    let inner = std::mem::replace(b.rhs.as_mut(), placeholder());
                    *b.rhs = wrap(inner);
                }
                false
            }
            Expr::Call(c) => {
                let unsafe_fn = AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.name.as_str());
                let flags: Vec<bool> = c.args.iter_mut().map(|a| self.step_invariant(a)).collect();
                if !unsafe_fn && flags.iter().all(|f| *f) {
                    return true;
                }
                for (a, inv) in c.args.iter_mut().zip(flags) {
                    if inv {
                        let inner = std::mem::replace(a, placeholder());
                        *a = wrap(inner);
                    }
                }
                false
            }
        }
    }
}

fn placeholder() -> Expr {
    Expr::NumberLiteral(crate::promql::ast::NumberLiteral {
        val: 0.0,
        duration: false,
        pos: Default::default(),
    })
}
