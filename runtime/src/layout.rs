//! Layouts: how a shape maps onto a storage (strides in elements and an offset).
//!
//! Every view op (transpose, slice, expand, reshape of compatible data) is a new layout
//! over the same storage; nothing here moves data.

use ignis_ir::ShapeError;
use ignis_ir::shape::{self, Dims, ShapeResult};
use smallvec::SmallVec;

pub type Strides = SmallVec<[isize; 6]>;

/// Invariant: every index within `shape` maps (through `strides` and `offset`) to an
/// element inside the storage the layout is paired with. Strides are non-negative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub shape: Dims,
    pub strides: Strides,
    pub offset: usize,
}

/// Row-major strides of a contiguous tensor of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Strides {
    let mut strides: Strides = SmallVec::from_elem(0, shape.len());
    let mut acc = 1isize;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc *= shape[i].max(1) as isize;
    }
    strides
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout { shape: shape.iter().copied().collect(), strides: contiguous_strides(shape), offset: 0 }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        shape::numel(&self.shape)
    }

    /// Row-major with no gaps (size-1 dims may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1isize;
        for i in (0..self.shape.len()).rev() {
            let d = self.shape[i];
            if d != 1 && self.strides[i] != expected {
                return false;
            }
            // As `contiguous_strides` counts a size-0 dim: `Layout::contiguous` of an empty
            // shape must itself be contiguous.
            expected *= d.max(1) as isize;
        }
        true
    }

    /// Position in storage of a multi-index.
    pub fn index_of(&self, index: &[usize]) -> usize {
        let mut at = self.offset as isize;
        for (i, &x) in index.iter().enumerate() {
            at += x as isize * self.strides[i];
        }
        at as usize
    }

    /// Largest storage position the layout reaches, plus one (0 for an empty layout).
    pub fn storage_extent(&self) -> usize {
        if self.shape.contains(&0) {
            return 0;
        }
        let mut last = self.offset as isize;
        for (d, s) in self.shape.iter().zip(&self.strides) {
            last += (*d as isize - 1) * s;
        }
        last as usize + 1
    }

    pub fn permute(&self, perm: &[usize]) -> Layout {
        Layout {
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }

    pub fn transpose(&self, a: usize, b: usize) -> Layout {
        let mut l = self.clone();
        l.shape.swap(a, b);
        l.strides.swap(a, b);
        l
    }

    /// Keeps `len` elements of `dim` from `start` on, every `step`-th.
    pub fn slice(&self, dim: usize, start: usize, len: usize, step: usize) -> Layout {
        let mut l = self.clone();
        if len > 0 {
            l.offset = (self.offset as isize + start as isize * self.strides[dim]) as usize;
        }
        l.shape[dim] = len;
        l.strides[dim] *= step as isize;
        l
    }

    /// Broadcasts to `target` by giving new and size-1 dims stride 0.
    pub fn expand(&self, target: &[usize]) -> ShapeResult<Layout> {
        shape::expand(&self.shape, target)?;
        let lead = target.len() - self.rank();
        let mut strides: Strides = SmallVec::from_elem(0, target.len());
        for i in 0..self.rank() {
            strides[lead + i] = if self.shape[i] == target[lead + i] { self.strides[i] } else { 0 };
        }
        Ok(Layout { shape: target.iter().copied().collect(), strides, offset: self.offset })
    }

    pub fn unsqueeze(&self, dim: usize) -> Layout {
        let mut l = self.clone();
        let stride = if dim < self.rank() { self.strides[dim] * self.shape[dim] as isize } else { 1 };
        l.shape.insert(dim, 1);
        l.strides.insert(dim, stride);
        l
    }

    pub fn squeeze(&self, dim: usize) -> Layout {
        let mut l = self.clone();
        if l.shape[dim] == 1 {
            l.shape.remove(dim);
            l.strides.remove(dim);
        }
        l
    }

    /// A view with a new shape over the same elements, when the strides allow it
    /// (PyTorch's `view` rule); `None` means the data must be copied first.
    pub fn reshape(&self, target: &[usize]) -> Option<Layout> {
        if self.is_contiguous() {
            return Some(Layout {
                shape: target.iter().copied().collect(),
                strides: contiguous_strides(target),
                offset: self.offset,
            });
        }
        if self.numel() == 0 {
            return None;
        }
        // Walk the old dims in chunks that are contiguous among themselves; each chunk
        // must be split exactly by a run of new dims.
        let old: SmallVec<[(usize, isize); 6]> =
            self.shape.iter().zip(&self.strides).filter(|(d, _)| **d != 1).map(|(d, s)| (*d, *s)).collect();
        let mut new_strides: Strides = SmallVec::from_elem(0, target.len());
        let mut oi = 0;
        let mut ti = 0;
        while oi < old.len() {
            // Gather one contiguous chunk of old dims.
            let chunk_start = oi;
            let mut chunk_numel = old[oi].0;
            while oi + 1 < old.len() && old[oi].1 == old[oi + 1].1 * old[oi + 1].0 as isize {
                oi += 1;
                chunk_numel *= old[oi].0;
            }
            let chunk_stride = old[oi].1;
            oi += 1;
            let _ = chunk_start;
            // Cover it with new dims, innermost last.
            let mut covered = 1usize;
            let first_t = ti;
            while ti < target.len() && (covered < chunk_numel || target[ti] == 1) {
                if covered * target[ti] > chunk_numel {
                    return None;
                }
                covered *= target[ti];
                ti += 1;
                if covered == chunk_numel && (ti >= target.len() || target[ti] != 1) {
                    break;
                }
            }
            if covered != chunk_numel {
                return None;
            }
            let mut stride = chunk_stride;
            for t in (first_t..ti).rev() {
                new_strides[t] = stride;
                stride *= target[t] as isize;
            }
        }
        while ti < target.len() {
            if target[ti] != 1 {
                return None;
            }
            new_strides[ti] = 1;
            ti += 1;
        }
        Some(Layout { shape: target.iter().copied().collect(), strides: new_strides, offset: self.offset })
    }

    /// Checks a user-given strided view against a storage of `storage_len` elements.
    pub fn as_strided(shape: &[usize], strides: &[isize], offset: usize, storage_len: usize) -> ShapeResult<Layout> {
        if shape.len() != strides.len() || strides.iter().any(|&s| s < 0) {
            return Err(ShapeError(format!("invalid strides {strides:?} for shape {shape:?}")));
        }
        let l = Layout { shape: shape.iter().copied().collect(), strides: strides.iter().copied().collect(), offset };
        if l.storage_extent() > storage_len {
            return Err(ShapeError(format!(
                "view {shape:?} with strides {strides:?} at offset {offset} reaches past the storage ({storage_len} elements)"
            )));
        }
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_is_not_contiguous() {
        let l = Layout::contiguous(&[2, 3]);
        assert!(l.is_contiguous());
        assert!(!l.transpose(0, 1).is_contiguous());
        assert_eq!(l.transpose(0, 1).strides.as_slice(), &[1, 3]);
    }

    #[test]
    fn reshape_views_when_possible() {
        let l = Layout::contiguous(&[4, 6]);
        // A column slice [4, 3] of a [4, 6] tensor: rows stay separate chunks.
        let s = l.slice(1, 0, 3, 1);
        assert!(s.reshape(&[12]).is_none());
        assert_eq!(s.reshape(&[4, 3, 1]).unwrap().strides.as_slice(), &[6, 1, 1]);
        // Splitting an outer dim of a transposed tensor is a view.
        let t = Layout::contiguous(&[6, 4]).transpose(0, 1); // [4, 6] strides [1, 4]
        let r = t.reshape(&[2, 2, 6]).unwrap();
        assert_eq!(r.strides.as_slice(), &[2, 1, 4]);
        assert!(t.reshape(&[24]).is_none());
    }

    #[test]
    fn expand_gives_zero_strides() {
        let l = Layout::contiguous(&[3, 1]).expand(&[2, 3, 4]).unwrap();
        assert_eq!(l.strides.as_slice(), &[0, 1, 0]);
        assert_eq!(l.storage_extent(), 3);
    }
}
