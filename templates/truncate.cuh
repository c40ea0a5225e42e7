// Exact top-k -> top-p truncation of logits in place (docs/semantics.md); follows select.cuh.

namespace sj {

template <int DT, int V, int BLOCK, int C, int MASK>
__global__ void __launch_bounds__(BLOCK, min_blocks(BLOCK, C))
    truncate_kernel(void* logits, long long row_stride, int batch, const int* top_k, const float* top_p,
                    void* mask_out) {
  typedef Row<DT, V, BLOCK, C, min_blocks(BLOCK, C)> R;
  typedef typename R::D D;
  typedef typename R::Bits Bits;
  typedef SharedFor<R, C> S;
  static_assert(C == 1 || sizeof(typename R::Smem) <= kSharedHeader, "shared header");

  int row;
  u32 rank;
  row_and_rank<C>(row, rank);
  if (row >= batch) return;  // whole clusters share a row, so they leave together
  SJ_MARK(0);
  R r(static_cast<Bits*>(logits) + static_cast<long long>(row) * row_stride, S::slice(), rank, S::get(), 1.0f);

  const int k = top_k ? top_k[row] : 0;
  const float p = top_p ? top_p[row] : 1.0f;
  const bool k_on = k > 0 && k < V;
  const bool p_on = p < 1.0f;  // false for NaN

  const typename R::Cut cut = r.template compute_cut<false>(k_on, k, p_on, p);

  // Final pass: write -inf over dropped tokens (only where needed) and emit the mask. C = 1 knows
  // the kept tokens when the cut came from the sorted candidates, and then only writes. Otherwise,
  // without a mask, 16-byte chunks are streamed (C > 1: from the staged keys, write_slice); the
  // mask layouts want the scalar, lane-per-token order.
  if (C == 1 && cut.listed > 0) {
    r.template write_listed<MASK>(cut.listed, true, mask_out, row);
  } else if constexpr (R::kStagedKeys && MASK == kMaskNone) {
    r.write_slice([&](u32 i, u32 key) { return !cut.keeps(i, key); });
  } else if constexpr (R::kVector && MASK == kMaskNone) {
    const float v = cut.value();
    r.stream([&](u32 i, Bits b) { return cut.keeps_value(i, D::to_float(b), v) ? b : static_cast<Bits>(D::kNegInf); });
  } else {
#pragma unroll 1
    for (u32 base = 0; base < R::kSlice; base += R::kTile) {
      Bits v[R::U];
      r.load_tile(base, v);
#pragma unroll
      for (int u = 0; u < R::U; ++u) {
        const u32 j = base + u * BLOCK + threadIdx.x;
        const u32 i = r.lo + j;
        const bool in = j < r.count();
        const bool keep = cut.keeps(i, R::key_of(v[u]));
        // Staged keys cannot tell -inf from NaN (both 0), so C > 1 writes -inf over both.
        if (in && !keep && (R::kStagedKeys || v[u] != static_cast<Bits>(D::kNegInf)))
          r.g[i] = static_cast<Bits>(D::kNegInf);
        r.template write_mask<MASK>(mask_out, row, i, in, keep);
      }
    }
  }
  SJ_MARK(9);
  // No closing cluster barrier: compute_cut ends with one after the last access to a peer.
}

}  // namespace sj
