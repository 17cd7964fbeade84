//! A cache-blocked copy of a strided matrix into a row-major one.
//!
//! Reading a transposed matrix element by element walks memory with a large stride, one
//! cache line per element. Copying in square tiles reuses every line that a tile touches
//! for all of the tile's rows: `matmul` uses this to give `gemm` a row-major operand, which
//! it reads without packing.

use crate::element::Element;
use crate::parallel::{self, SendPtr};

/// Tile side: a tile of f32 is 1 KiB, and each of its source and destination lines is
/// used whole at once (no line has to stay cached while others are read, which a large
/// power-of-two stride would prevent).
const TILE: usize = 16;

/// Rows of tiles per parallel task (64 KiB of f32 per 1024 columns).
const TILE_ROWS_PER_TASK: usize = 4;

/// Copies the `rows x cols` matrix at `src` (element `(i, j)` at `i * row_stride + j *
/// col_stride`) into `dst`, row-major and contiguous.
///
/// Each tile goes through a buffer: read a column of the tile at a time (contiguous when
/// the source is column-major), then copy the tile's rows out (contiguous in `dst`).
///
/// # Safety
/// `src` must be readable at every `(i, j)` of the matrix and `dst` writable for
/// `rows * cols` elements; the two must not overlap.
pub unsafe fn to_row_major<T: Element>(
    src: *const T,
    rows: usize,
    cols: usize,
    row_stride: isize,
    col_stride: isize,
    dst: *mut T,
) {
    let src = SendPtr(src as *mut T);
    let dst = SendPtr(dst);
    let tile_rows = rows.div_ceil(TILE);
    parallel::parallel_for(tile_rows, TILE_ROWS_PER_TASK, |first, end| {
        let mut tile = [[T::zero(); TILE]; TILE];
        for band in first..end {
            let i0 = band * TILE;
            let height = TILE.min(rows - i0);
            for j0 in (0..cols).step_by(TILE) {
                let width = TILE.min(cols - j0);
                for jj in 0..width {
                    let j = (j0 + jj) as isize;
                    for (ii, tile_row) in tile.iter_mut().enumerate().take(height) {
                        // SAFETY: (i0 + ii, j) lies in the matrix, which the caller vouches for.
                        tile_row[jj] = unsafe { *src.get().offset((i0 + ii) as isize * row_stride + j * col_stride) };
                    }
                }
                for (ii, tile_row) in tile.iter().enumerate().take(height) {
                    // SAFETY: row i0 + ii, columns j0..j0 + width lie inside `dst`.
                    let row = unsafe { std::slice::from_raw_parts_mut(dst.get().add((i0 + ii) * cols + j0), width) };
                    row.copy_from_slice(&tile_row[..width]);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_transposed_and_strided_matrices_row_major() {
        for (rows, cols) in [(1, 1), (3, 70), (64, 64), (65, 33), (300, 7), (0, 5)] {
            // The source is a (cols x rows) row-major buffer read transposed, with a gap of
            // 3 elements after each of its rows.
            let pitch = rows + 3;
            let src: Vec<f32> = (0..cols * pitch).map(|v| v as f32).collect();
            let mut dst = vec![f32::NAN; rows * cols];
            // SAFETY: every (i, j) maps to j * pitch + i < cols * pitch; dst has rows * cols.
            unsafe { to_row_major(src.as_ptr(), rows, cols, 1, pitch as isize, dst.as_mut_ptr()) };
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(dst[i * cols + j], src[j * pitch + i], "{rows}x{cols} at ({i}, {j})");
                }
            }
        }
    }
}
