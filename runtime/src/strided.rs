//! Iteration over N strided operands of one shape, row by row.
//!
//! Dims are coalesced first (size-1 dims dropped, neighbours merged when every operand
//! steps through them as one), so most views become one long row or a few long rows and
//! the inner loops see plain slices or constant strides.

use ignis_ir::Dims;
use smallvec::SmallVec;

/// A coalesced iteration space shared by `N` operands.
#[derive(Clone, Debug)]
pub struct Plan<const N: usize> {
    pub shape: Dims,
    pub strides: [SmallVec<[isize; 6]>; N],
}

impl<const N: usize> Plan<N> {
    pub fn new(shape: &[usize], strides: [&[isize]; N]) -> Self {
        let mut dims: Dims = SmallVec::new();
        let mut st: [SmallVec<[isize; 6]>; N] = std::array::from_fn(|_| SmallVec::new());
        for (i, &d) in shape.iter().enumerate() {
            if d == 1 {
                continue;
            }
            if let Some(&last) = dims.last() {
                let mergeable = (0..N).all(|k| *st[k].last().unwrap() == strides[k][i] * d as isize);
                if mergeable {
                    let n = dims.len();
                    dims[n - 1] = last * d;
                    for k in 0..N {
                        let m = st[k].len();
                        st[k][m - 1] = strides[k][i];
                    }
                    continue;
                }
            }
            dims.push(d);
            for k in 0..N {
                st[k].push(strides[k][i]);
            }
        }
        if dims.is_empty() {
            dims.push(if shape.contains(&0) { 0 } else { 1 });
            for s in st.iter_mut() {
                s.push(0);
            }
        }
        Plan { shape: dims, strides: st }
    }

    /// Length of the innermost row.
    pub fn row_len(&self) -> usize {
        *self.shape.last().unwrap()
    }

    /// Number of rows (product of the outer dims).
    pub fn rows(&self) -> usize {
        if self.shape.contains(&0) {
            return 0;
        }
        self.shape[..self.shape.len() - 1].iter().product()
    }

    pub fn inner_strides(&self) -> [isize; N] {
        std::array::from_fn(|k| *self.strides[k].last().unwrap())
    }

    /// Calls `f(offsets, row_len, inner_strides)` for rows `start..end`, where `offsets`
    /// are each operand's element offset (relative to its base) of the row's first element.
    pub fn for_rows(&self, start: usize, end: usize, mut f: impl FnMut([isize; N])) {
        if start >= end {
            return;
        }
        let outer = self.shape.len() - 1;
        // Decompose `start` into an outer multi-index.
        let mut index: SmallVec<[usize; 6]> = SmallVec::from_elem(0, outer);
        let mut rem = start;
        for d in (0..outer).rev() {
            index[d] = rem % self.shape[d];
            rem /= self.shape[d];
        }
        let mut offsets: [isize; N] =
            std::array::from_fn(|k| (0..outer).map(|d| index[d] as isize * self.strides[k][d]).sum());
        for _ in start..end {
            f(offsets);
            // Advance the odometer.
            for d in (0..outer).rev() {
                index[d] += 1;
                for k in 0..N {
                    offsets[k] += self.strides[k][d];
                }
                if index[d] < self.shape[d] {
                    break;
                }
                for k in 0..N {
                    offsets[k] -= self.strides[k][d] * self.shape[d] as isize;
                }
                index[d] = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_collapses_to_one_row() {
        let p = Plan::new(&[2, 3, 4], [&[12, 4, 1], &[12, 4, 1]]);
        assert_eq!(p.shape.as_slice(), &[24]);
    }

    #[test]
    fn broadcast_row_keeps_two_dims() {
        // out [4, 3] contiguous, bias [3] broadcast over rows.
        let p = Plan::new(&[4, 3], [&[3, 1], &[0, 1]]);
        assert_eq!(p.shape.as_slice(), &[4, 3]);
        let mut seen = vec![];
        p.for_rows(1, 3, |o| seen.push(o));
        assert_eq!(seen, vec![[3, 0], [6, 0]]);
    }

    #[test]
    fn odometer_visits_transposed_rows() {
        // A [2, 3, 2] tensor, permuted so strides are [1, 2, 6] — no dims merge.
        let p = Plan::new(&[2, 3, 2], [&[1, 2, 6]]);
        let mut seen = vec![];
        p.for_rows(0, p.rows(), |o| seen.push(o[0]));
        assert_eq!(seen, vec![0, 2, 4, 1, 3, 5]);
    }
}

impl<const N: usize> Plan<N> {
    /// Runs `f(offsets, len)` over every segment of every row, in parallel when large.
    /// Long rows are cut into pieces of about `grain` elements, so a fully contiguous
    /// (one-row) operation still spreads across threads. `offsets` are in elements.
    pub fn par_segments(&self, grain: usize, f: impl Fn([isize; N], usize) + Sync) {
        let row = self.row_len();
        let rows = self.rows();
        if rows == 0 || row == 0 {
            return;
        }
        let inner = self.inner_strides();
        if row >= grain {
            let pieces = row.div_ceil(grain);
            let piece = row.div_ceil(pieces).div_ceil(64) * 64;
            let pieces = row.div_ceil(piece);
            crate::parallel::parallel_for(rows * pieces, 1, |a, b| {
                for item in a..b {
                    let (r, p) = (item / pieces, item % pieces);
                    let start = p * piece;
                    let len = piece.min(row - start);
                    self.for_rows(r, r + 1, |offs| {
                        f(std::array::from_fn(|k| offs[k] + start as isize * inner[k]), len)
                    });
                }
            });
        } else {
            let per = (grain / row).max(1);
            crate::parallel::parallel_for(rows, per, |a, b| self.for_rows(a, b, |offs| f(offs, row)));
        }
    }
}
