//! A targeted-quantile stream: the CKMS algorithm ("Effective Computation of
//! Biased Quantiles over Data Streams", Cormode, Korn, Muthukrishnan,
//! Srivastava) as client_golang's summaries use it through beorn7/perks.
//!
//! The stream keeps a sorted list of `(value, width, delta)` tuples; each
//! tuple stands for `width` observations whose rank is known to within
//! `delta`. After every merge, neighbouring tuples are folded together while
//! the invariant `f(r)` still holds, so for targets `(q, ε)` a query for `q`
//! returns a value whose rank is within `ε·n` of `q·n` and memory grows with
//! `log(ε·n)/ε`, not with `n`. As in perks, the first `buf_cap` values are
//! only buffered, so a stream that has seen few values answers exactly. The
//! stream owns no clock and no lock: the summary around it batches
//! observations, sorts them once and hands the batch to each age bucket.

/// One tuple of the CKMS summary.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Tuple {
    value: f64,
    /// How many observations this tuple stands for.
    width: f64,
    /// The uncertainty of the tuple's rank.
    delta: f64,
}

/// A quantile with its allowed rank error, as in `SummaryOpts.Objectives`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Objective {
    pub quantile: f64,
    pub error: f64,
}

/// One objective with the invariant's slopes precomputed: the invariant is
/// evaluated for every tuple on every merge, and multiplications are much
/// cheaper there than the divisions they replace.
#[derive(Clone, Copy, Debug)]
struct Target {
    quantile: f64,
    /// `2ε/q`, the slope at ranks at or above `q·n`.
    upper: f64,
    /// `2ε/(1-q)`, the slope below.
    lower: f64,
}

/// A CKMS stream tuned to a fixed set of objectives.
#[derive(Clone, Debug)]
pub struct TargetedStream {
    targets: Vec<Target>,
    tuples: Vec<Tuple>,
    /// Reused between merges so a merge allocates nothing in steady state.
    scratch: Vec<Tuple>,
    /// Observations merged so far (the sum of all widths).
    n: f64,
    /// Values not merged yet.
    buf: Vec<f64>,
    buf_cap: usize,
}

impl TargetedStream {
    pub fn new(targets: &[Objective], buf_cap: usize) -> TargetedStream {
        TargetedStream {
            targets: targets
                .iter()
                .map(|t| Target {
                    quantile: t.quantile,
                    upper: 2.0 * t.error / t.quantile,
                    lower: 2.0 * t.error / (1.0 - t.quantile),
                })
                .collect(),
            tuples: Vec::new(),
            scratch: Vec::new(),
            n: 0.0,
            buf: Vec::new(),
            buf_cap: buf_cap.max(1),
        }
    }

    /// Observations seen since the last reset.
    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.n as u64 + self.buf.len() as u64
    }

    /// Tuples held: the stream's memory, for tests that bound it.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.tuples.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.tuples.is_empty()
    }

    pub fn reset(&mut self) {
        self.tuples.clear();
        self.buf.clear();
        self.n = 0.0;
    }

    /// Takes a batch sorted ascending. A full batch arriving with nothing
    /// buffered is merged as it is, so the summary's single sort serves
    /// every age bucket.
    pub fn insert_sorted(&mut self, batch: &[f64]) {
        if self.buf.is_empty() && batch.len() >= self.buf_cap {
            self.merge_sorted(batch);
            return;
        }
        self.buf.extend_from_slice(batch);
        if self.buf.len() >= self.buf_cap {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.sort_by(f64::total_cmp);
        self.merge_sorted(&buf);
        buf.clear();
        self.buf = buf;
    }

    /// The largest rank error the targets allow at rank `r`: the minimum over
    /// all targets of CKMS's targeted invariant.
    fn invariant(&self, r: f64) -> f64 {
        let mut m = f64::MAX;
        for t in &self.targets {
            let f = if t.quantile * self.n <= r {
                t.upper * r
            } else {
                t.lower * (self.n - r)
            };
            if f < m {
                m = f;
            }
        }
        m
    }

    /// Merges a batch sorted ascending by `f64::total_cmp`. A NaN (which
    /// that order puts last) is kept as a value, as client_golang keeps it.
    fn merge_sorted(&mut self, batch: &[f64]) {
        if batch.is_empty() {
            return;
        }
        // Walk the batch and the tuples together, building a new list, so a
        // batch costs one pass instead of one shifting insert per value.
        let mut merged = std::mem::take(&mut self.scratch);
        merged.clear();
        merged.reserve(self.tuples.len() + batch.len());
        let mut old = self.tuples.iter().copied().peekable();
        let mut r = 0.0;
        for &v in batch {
            while let Some(c) = old.next_if(|c| c.value <= v || v.is_nan()) {
                r += c.width;
                merged.push(c);
            }
            // A value past the current maximum is known exactly (delta 0), as
            // is one into an empty stream; otherwise its rank is uncertain by
            // what the invariant allows here.
            let delta = if old.peek().is_none() {
                0.0
            } else {
                (self.invariant(r).floor() - 1.0).max(0.0)
            };
            merged.push(Tuple {
                value: v,
                width: 1.0,
                delta,
            });
            self.n += 1.0;
            r += 1.0;
        }
        merged.extend(old);
        self.scratch = std::mem::replace(&mut self.tuples, merged);
        self.compress();
    }

    /// Folds each tuple into its right neighbour while the combined tuple
    /// still satisfies the invariant at its rank.
    fn compress(&mut self) {
        let len = self.tuples.len();
        if len < 2 {
            return;
        }
        // Scanning from the top down, `x` is the tuple being grown; kept
        // tuples are written from the end of the same vector, which the scan
        // has already passed, so no second buffer is needed.
        let mut x = self.tuples[len - 1];
        let mut w = len - 1;
        let mut r = self.n - 1.0 - x.width;
        for i in (0..len - 1).rev() {
            let c = self.tuples[i];
            if c.width + x.width + x.delta <= self.invariant(r) {
                x.width += c.width;
            } else {
                self.tuples[w] = x;
                w -= 1;
                x = c;
            }
            r -= c.width;
        }
        self.tuples[w] = x;
        self.tuples.drain(..w);
    }

    /// The estimate for quantile `q`, or NaN when the stream is empty.
    pub fn query(&mut self, q: f64) -> f64 {
        if self.tuples.is_empty() {
            // Nothing merged yet: the exact answer from the buffer.
            self.buf.sort_by(f64::total_cmp);
            let i = (self.buf.len() as f64 * q).ceil() as usize;
            let i = i.saturating_sub(1).min(self.buf.len().saturating_sub(1));
            return self.buf.get(i).copied().unwrap_or(f64::NAN);
        }
        self.flush();
        let Some(first) = self.tuples.first() else {
            return f64::NAN;
        };
        let mut t = (q * self.n).ceil();
        t += (self.invariant(t) / 2.0).ceil();
        let mut p = *first;
        let mut r = 0.0;
        for c in self.tuples.iter().skip(1) {
            r += p.width;
            if r + c.width + c.delta > t {
                return p.value;
            }
            p = *c;
        }
        p.value
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), so the accuracy tests
    /// need no crate and fail the same way every run.
    pub(crate) struct Rng(u64);

    impl Rng {
        pub(crate) fn new(seed: u64) -> Rng {
            Rng(seed.max(1))
        }
        pub(crate) fn next_f64(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
            (x >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn targets() -> Vec<Objective> {
        [
            (0.01, 0.001),
            (0.05, 0.005),
            (0.5, 0.05),
            (0.9, 0.01),
            (0.99, 0.001),
        ]
        .iter()
        .map(|&(quantile, error)| Objective { quantile, error })
        .collect()
    }

    /// Feeds `values` in batches of `batch` (as the summary does) and checks
    /// every target's estimate lies within its allowed rank error.
    fn check_accuracy(values: &[f64], batch: usize) -> TargetedStream {
        let mut s = TargetedStream::new(&targets(), 500);
        for chunk in values.chunks(batch) {
            let mut c = chunk.to_vec();
            c.sort_by(f64::total_cmp);
            s.insert_sorted(&c);
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        for t in targets() {
            let got = s.query(t.quantile);
            // The ranks the estimate may hold (a value can repeat).
            let lo = sorted.partition_point(|v| *v < got) as f64;
            let hi = sorted.partition_point(|v| *v <= got) as f64;
            let want = t.quantile * n;
            let allowed = t.error * n + 1.0;
            assert!(
                hi >= want - allowed && lo <= want + allowed,
                "q={} got {got} with ranks {lo}..{hi}, want rank {want} ± {allowed} (n={n})",
                t.quantile
            );
        }
        s
    }

    #[test]
    fn uniform_random_within_objectives() {
        let mut rng = Rng::new(42);
        let values: Vec<f64> = (0..100_000).map(|_| rng.next_f64()).collect();
        let mut s = check_accuracy(&values, 500);
        assert_eq!(s.count(), 100_000);
        s.flush();
        // Memory is bounded far below n.
        assert!(s.len() < 2_000, "{} tuples", s.len());
    }

    #[test]
    fn skewed_random_within_objectives() {
        let mut rng = Rng::new(7);
        // Exponential-ish latencies with a long tail.
        let values: Vec<f64> = (0..50_000)
            .map(|_| -(1.0 - rng.next_f64()).ln() * 0.2)
            .collect();
        check_accuracy(&values, 500);
        check_accuracy(&values, 37);
    }

    #[test]
    fn ascending_and_descending_input() {
        let up: Vec<f64> = (0..20_000).map(f64::from).collect();
        check_accuracy(&up, 500);
        let down: Vec<f64> = (0..20_000).rev().map(f64::from).collect();
        check_accuracy(&down, 500);
    }

    #[test]
    fn few_values_are_exact() {
        let mut s = TargetedStream::new(&targets(), 500);
        s.insert_sorted(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.query(0.5), 2.0);
        assert_eq!(s.query(0.99), 4.0);
        assert_eq!(s.query(0.01), 1.0);
    }

    #[test]
    fn empty_is_nan_and_reset_empties() {
        let mut s = TargetedStream::new(&targets(), 500);
        assert!(s.query(0.5).is_nan());
        s.insert_sorted(&[1.0]);
        assert_eq!(s.query(0.5), 1.0);
        s.reset();
        assert!(s.query(0.5).is_nan());
        assert_eq!(s.count(), 0);
        assert!(s.is_empty());
    }
}
