//! Binary operators: arithmetic, comparisons (filtering or `bool`), set
//! operators, and vector matching (`on`/`ignoring`, `group_left`/
//! `group_right`), as upstream's `VectorBinop`, `VectorAnd/Or/Unless` and
//! `VectorscalarBinop`. Join signatures are hashed once per series; output
//! label sets are computed once per matched pair of series, not per step.

use std::collections::HashMap;

use crate::model::Labels;
use crate::promql::ast::{BinOp, BinaryExpr, Cardinality, ValueType, VectorMatching};

use super::eval::{expr_type, Evaluator, Matrix, SeriesCollector};
use super::QueryError;

pub(crate) fn eval_binary(ev: &mut Evaluator, b: &BinaryExpr) -> Result<Matrix, QueryError> {
    let lt = expr_type(&b.lhs);
    let rt = expr_type(&b.rhs);
    let lhs = ev.eval_matrix(&b.lhs)?;
    let rhs = ev.eval_matrix(&b.rhs)?;
    let out = match (lt, rt) {
        (ValueType::Scalar, ValueType::Scalar) => {
            let r = scalar_steps(ev, &rhs);
            let mut out = lhs.clone();
            for s in out.iter_mut() {
                for p in s.floats.iter_mut() {
                    let rv = r.get(ev.step_index(p.0)).copied().unwrap_or(f64::NAN);
                    let (v, keep) = elem_op(b.op, p.1, rv);
                    p.1 = if b.op.is_comparison() {
                        if keep {
                            1.0
                        } else {
                            0.0
                        }
                    } else {
                        v
                    };
                }
            }
            out
        }
        (ValueType::Vector, ValueType::Scalar) => {
            let r = scalar_steps(ev, &rhs);
            vector_scalar(ev, b, lhs.clone(), &r, false)
        }
        (ValueType::Scalar, ValueType::Vector) => {
            let l = scalar_steps(ev, &lhs);
            vector_scalar(ev, b, rhs.clone(), &l, true)
        }
        _ => {
            let default = VectorMatching {
                card: if b.op.is_set() {
                    Cardinality::ManyToMany
                } else {
                    Cardinality::OneToOne
                },
                ..VectorMatching::default()
            };
            let matching = b.matching.as_ref().unwrap_or(&default);
            if b.op.is_set() {
                vector_set(ev, b.op, &lhs, &rhs, matching)?
            } else {
                vector_binop(ev, b, &lhs, &rhs, matching)?
            }
        }
    };
    ev.release_matrix(&lhs);
    ev.release_matrix(&rhs);
    let n = out.iter().map(|s| s.floats.len()).sum();
    ev.account(n)?;
    Ok(out)
}

fn scalar_steps(ev: &Evaluator, m: &Matrix) -> Vec<f64> {
    let mut out = vec![f64::NAN; ev.num_steps()];
    if let Some(s) = m.first() {
        for &(t, v) in &s.floats {
            if let Some(slot) = out.get_mut(ev.step_index(t)) {
                *slot = v;
            }
        }
    }
    out
}

/// Upstream's `vectorElemBinop` for floats: the value and whether a
/// comparison holds.
pub(crate) fn elem_op(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Pow => (go_pow(l, r), true),
        BinOp::Mod => (l % r, true),
        BinOp::Atan2 => (l.atan2(r), true),
        BinOp::Eql => (l, l == r),
        BinOp::Neq => (l, l != r),
        BinOp::Gtr => (l, l > r),
        BinOp::Lss => (l, l < r),
        BinOp::Gte => (l, l >= r),
        BinOp::Lte => (l, l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => (l, true),
    }
}

/// Go's `math.Pow` special cases where they differ from C's `pow`.
fn go_pow(x: f64, y: f64) -> f64 {
    if y == 0.0 {
        return 1.0;
    }
    if x == 1.0 {
        return 1.0;
    }
    x.powf(y)
}

fn drops_name(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Pow | BinOp::Mod | BinOp::Atan2
    )
}

fn vector_scalar(ev: &Evaluator, b: &BinaryExpr, mut m: Matrix, sc: &[f64], swap: bool) -> Matrix {
    let drop = drops_name(b.op) || b.return_bool;
    for s in m.iter_mut() {
        s.floats.retain_mut(|p| {
            let sv = sc.get(ev.step_index(p.0)).copied().unwrap_or(f64::NAN);
            let (l, r) = if swap { (sv, p.1) } else { (p.1, sv) };
            let (mut v, mut keep) = elem_op(b.op, l, r);
            if b.op.is_comparison() && swap {
                v = r;
            }
            if b.return_bool {
                v = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            p.1 = v;
            keep
        });
        if drop {
            s.drop_name = true;
        }
    }
    m.retain(|s| !s.floats.is_empty());
    m
}

fn signature(metric: &Labels, matching: &VectorMatching) -> u64 {
    if matching.on {
        metric.hash_for_labels(&matching.matching_labels)
    } else {
        metric.hash_without_labels(&matching.matching_labels)
    }
}

/// Per step, the (series, value) pairs present: a transpose of the matrix.
fn by_step(ev: &Evaluator, m: &Matrix) -> Vec<Vec<(usize, f64)>> {
    let mut out = vec![Vec::new(); ev.num_steps()];
    for (i, s) in m.iter().enumerate() {
        for &(t, v) in &s.floats {
            if let Some(b) = out.get_mut(ev.step_index(t)) {
                b.push((i, v));
            }
        }
    }
    out
}

fn vector_set(
    ev: &mut Evaluator,
    op: BinOp,
    lhs: &Matrix,
    rhs: &Matrix,
    matching: &VectorMatching,
) -> Result<Matrix, QueryError> {
    let lsig: Vec<u64> = lhs.iter().map(|s| signature(&s.metric, matching)).collect();
    let rsig: Vec<u64> = rhs.iter().map(|s| signature(&s.metric, matching)).collect();
    let lsteps = by_step(ev, lhs);
    let rsteps = by_step(ev, rhs);
    let mut lout: Vec<Vec<(i64, f64)>> = vec![Vec::new(); lhs.len()];
    let mut rout: Vec<Vec<(i64, f64)>> = vec![Vec::new(); rhs.len()];
    for (k, (ls, rs)) in lsteps.iter().zip(&rsteps).enumerate() {
        let t = ev.start + k as i64 * ev.interval;
        match op {
            BinOp::And | BinOp::Unless => {
                let right: std::collections::HashSet<u64> =
                    rs.iter().map(|(j, _)| rsig[*j]).collect();
                for &(i, v) in ls {
                    if right.contains(&lsig[i]) == (op == BinOp::And) {
                        lout[i].push((t, v));
                    }
                }
            }
            _ => {
                let left: std::collections::HashSet<u64> =
                    ls.iter().map(|(i, _)| lsig[*i]).collect();
                for &(i, v) in ls {
                    lout[i].push((t, v));
                }
                for &(j, v) in rs {
                    if !left.contains(&rsig[j]) {
                        rout[j].push((t, v));
                    }
                }
            }
        }
        if k % 64 == 0 {
            ev.check_deadline()?;
        }
    }
    let mut col = SeriesCollector::new();
    for (s, floats) in lhs.iter().zip(lout).chain(rhs.iter().zip(rout)) {
        for (t, v) in floats {
            col.push(&s.metric, s.drop_name, t, v)?;
        }
    }
    Ok(col.series)
}

/// Upstream's `resultMetric`.
fn result_metric(l: &Labels, r: &Labels, b: &BinaryExpr, matching: &VectorMatching) -> Labels {
    let mut lb = l.builder();
    if matching.card == Cardinality::OneToOne {
        if matching.on {
            lb.retain(|x| matching.matching_labels.contains(&x.name));
        } else {
            lb.retain(|x| !matching.matching_labels.contains(&x.name));
        }
    }
    for name in &matching.include {
        match r.get(name) {
            Some(v) if !v.is_empty() => {
                lb.set(name, v);
            }
            _ => {
                lb.del(name);
            }
        }
    }
    let _ = b;
    lb.build()
}

fn vector_binop(
    ev: &mut Evaluator,
    b: &BinaryExpr,
    lhs: &Matrix,
    rhs: &Matrix,
    matching: &VectorMatching,
) -> Result<Matrix, QueryError> {
    if matching.card == Cardinality::ManyToMany {
        return Err(QueryError::exec(
            "many-to-many only allowed for set operators",
        ));
    }
    let one_to_many = matching.card == Cardinality::OneToMany;
    // The "many" side is `many`; the "one" side is `one`.
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let msig: Vec<u64> = many
        .iter()
        .map(|s| signature(&s.metric, matching))
        .collect();
    let osig: Vec<u64> = one.iter().map(|s| signature(&s.metric, matching)).collect();
    let msteps = by_step(ev, many);
    let osteps = by_step(ev, one);
    let drop = drops_name(b.op) || b.return_bool;
    // Output series per (many, one) pair, computed on first use.
    let mut pair_out: HashMap<(usize, usize), usize> = HashMap::new();
    let mut col = SeriesCollector::new();
    let mut metrics: Vec<Labels> = Vec::new();
    let mut right: HashMap<u64, (usize, f64)> = HashMap::new();
    let mut matched: HashMap<u64, Vec<usize>> = HashMap::new();
    // `fill(...)` modifiers stand in for a missing sample on one side. As
    // upstream, they name the sides after the swap for `group_right`:
    // `fill_right` fills a missing "one" side, `fill_left` a missing "many" side.
    let (fill_one, fill_many) = (matching.fill_right, matching.fill_left);
    let empty = Labels::empty();
    for (k, (ms, os)) in msteps.iter().zip(&osteps).enumerate() {
        let can_fill =
            (fill_one.is_some() && !ms.is_empty()) || (fill_many.is_some() && !os.is_empty());
        if (ms.is_empty() || os.is_empty()) && !can_fill {
            continue;
        }
        let t = ev.start + k as i64 * ev.interval;
        right.clear();
        for &(j, v) in os {
            if let Some(&(dup, _)) = right.get(&osig[j]) {
                let side = if one_to_many { "left" } else { "right" };
                let matched_labels = if matching.on {
                    one[j].metric.keep_only(&matching.matching_labels)
                } else {
                    let names: Vec<&str> = matching
                        .matching_labels
                        .iter()
                        .map(String::as_str)
                        .collect();
                    one[j].metric.without(&names).without_metric_name()
                };
                return Err(QueryError::exec(format!(
                    "found duplicate series for the match group {} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    matched_labels, side, one[dup].metric, one[j].metric
                )));
            }
            right.insert(osig[j], (j, v));
        }
        matched.clear();
        for &(i, v) in ms {
            let (j, rv) = match (right.get(&msig[i]), fill_one) {
                (Some(&(j, rv)), _) => (j, rv),
                (None, Some(fv)) => (usize::MAX, fv),
                (None, None) => continue,
            };
            let (fl, fr) = if one_to_many { (rv, v) } else { (v, rv) };
            let out_idx = match pair_out.get(&(i, j)) {
                Some(o) => *o,
                None => {
                    let other = one.get(j).map(|s| &s.metric).unwrap_or(&empty);
                    metrics.push(result_metric(&many[i].metric, other, b, matching));
                    pair_out.insert((i, j), metrics.len() - 1);
                    metrics.len() - 1
                }
            };
            let inserted = matched.entry(msig[i]).or_default();
            if matching.card == Cardinality::OneToOne {
                if !inserted.is_empty() {
                    return Err(QueryError::exec(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
            } else if inserted.iter().any(|o| metrics[*o] == metrics[out_idx]) {
                return Err(QueryError::exec(
                    "multiple matches for matching labels; many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
            inserted.push(out_idx);
            let (mut val, keep) = elem_op(b.op, fl, fr);
            if b.return_bool {
                val = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
            col.push(&metrics[out_idx], drop || many[i].drop_name, t, val)?;
        }
        if let Some(fv) = fill_many {
            for &(j, v) in os {
                if matched.contains_key(&osig[j]) {
                    continue;
                }
                let (fl, fr) = if one_to_many { (v, fv) } else { (fv, v) };
                let (mut val, keep) = elem_op(b.op, fl, fr);
                if b.return_bool {
                    val = if keep { 1.0 } else { 0.0 };
                } else if !keep {
                    continue;
                }
                let out_idx = match pair_out.get(&(usize::MAX, j)) {
                    Some(o) => *o,
                    None => {
                        // A filled series carries the labels of its match group.
                        let m = &one[j].metric;
                        let group = if matching.on {
                            m.keep_only(&matching.matching_labels)
                        } else {
                            let mut names: Vec<&str> = matching
                                .matching_labels
                                .iter()
                                .map(String::as_str)
                                .collect();
                            names.push(crate::model::labels::METRIC_NAME);
                            m.without(&names)
                        };
                        metrics.push(group);
                        pair_out.insert((usize::MAX, j), metrics.len() - 1);
                        metrics.len() - 1
                    }
                };
                // The series stands for the missing side: its name goes.
                col.push(&metrics[out_idx], true, t, val)?;
            }
        }
        if k % 64 == 0 {
            ev.check_deadline()?;
        }
    }
    Ok(col.series)
}
