#include "verify.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "device.hpp"
#include "samplejit/reference.hpp"
#include "workloads.hpp"

namespace samplejit {

namespace {

bool bits_equal(DType d, const char* a, const char* b, std::int64_t i) {
  const std::size_t s = dtype_size(d);
  return std::memcmp(a + i * static_cast<std::int64_t>(s), b + i * static_cast<std::int64_t>(s), s) == 0;
}

bool is_neg_inf(DType d, const char* row, std::int64_t i) {
  const std::uint32_t ninf = ref::neg_inf_bits(d);
  if (d == DType::F32) {
    std::uint32_t b;
    std::memcpy(&b, row + 4 * i, 4);
    return b == ninf;
  }
  std::uint16_t b;
  std::memcpy(&b, row + 2 * i, 2);
  return b == static_cast<std::uint16_t>(ninf);
}

}  // namespace

VerifyReport verify_kernel(const Kernel& kernel, const VerifyOptions& o) {
  const KernelSpec& spec = kernel.spec();
  const DType d = spec.dtype;
  const std::int64_t V = spec.vocab, B = o.batch;
  const std::int64_t stride = o.row_stride ? o.row_stride : V;
  const std::size_t es = dtype_size(d);
  VerifyReport rep;
  rep.spec = spec.canonical();
  if (B <= 0) return rep;

  // Inputs: generated rows (tiled when distinct_rows is set), padding filled with a marker.
  std::mt19937_64 rng(o.seed);
  const std::int64_t distinct = o.distinct_rows > 0 ? std::min(o.distinct_rows, B) : B;
  std::vector<char> input(static_cast<std::size_t>(B * stride) * es);
  for (std::int64_t r = 0; r < distinct; ++r) {
    char* row = input.data() + static_cast<std::size_t>(r * stride) * es;
    const work::RowKind kind = o.kinds.empty() ? work::kAllKinds[rng() % std::size(work::kAllKinds)]
                                               : o.kinds[rng() % o.kinds.size()];
    work::fill_row(d, kind, V, rng, row);
    for (std::int64_t i = V; i < stride; ++i) work::store(d, row, i, 7.0f);
  }
  for (std::int64_t r = distinct; r < B; ++r)
    std::memcpy(input.data() + static_cast<std::size_t>(r * stride) * es,
                input.data() + static_cast<std::size_t>((r % distinct) * stride) * es, static_cast<std::size_t>(stride) * es);
  work::Params params =
      o.k_hi > 0 ? work::random_params(B, rng, o.k_lo, o.k_hi, 0.5f, 1.0f) : work::make_params(B, V, rng, o.edge_params);

  const std::size_t mask_bytes = spec.mask == MaskKind::Bool   ? static_cast<std::size_t>(B * V)
                                 : spec.mask == MaskKind::Bits ? static_cast<std::size_t>(B * ((V + 31) / 32)) * 4
                                                               : 0;
  // base_offset marker elements sit before row 0 (the launch gets a pointer past them); they, like
  // the padding, must come back unchanged.
  const std::size_t lead = static_cast<std::size_t>(std::max<std::int64_t>(0, o.base_offset)) * es;
  std::vector<char> lead_in(lead);
  for (std::size_t i = 0; i < lead / es; ++i) work::store(d, lead_in.data(), static_cast<std::int64_t>(i), 7.0f);
  detail::DeviceBuffer logits(lead + input.size()), top_k(static_cast<std::size_t>(B) * 4), top_p(static_cast<std::size_t>(B) * 4),
      mask(mask_bytes);
  if (lead) logits.upload(lead_in.data(), lead);
  logits.upload(input.data(), input.size(), lead);
  top_k.upload(params.top_k.data(), params.top_k.size() * 4);
  top_p.upload(params.top_p.data(), params.top_p.size() * 4);
  if (mask_bytes) SAMPLEJIT_CU_CALL(detail::driver().memsetD8(mask.get(), 0xCD, mask_bytes));  // poison
  detail::Stream stream;
  kernel.launch(stream.get(), logits.get() + lead, stride, B, o.with_top_k ? top_k.get() : 0, o.with_top_p ? top_p.get() : 0,
                mask.get());
  stream.sync();
  std::vector<char> output(input.size());
  logits.download(output.data(), output.size(), lead);
  if (lead) {
    std::vector<char> lead_out(lead);
    logits.download(lead_out.data(), lead);
    if (lead_out != lead_in) {
      rep.mismatches++;
      rep.errors.push_back(fmt::format("{}: an element before row 0 (base offset {}) was written", rep.spec, o.base_offset));
    }
  }
  std::vector<unsigned char> mask_host(mask_bytes);
  if (mask_bytes) mask.download(mask_host.data(), mask_bytes);

  std::vector<std::int64_t> rows;
  for (std::int64_t r = 0; r < B; r += std::max<std::int64_t>(1, o.check_every)) rows.push_back(r);
  for (std::int64_t r = std::max<std::int64_t>(0, B - 64); r < B; ++r)
    if (rows.back() < r) rows.push_back(r);

  std::mutex mu;
  auto judge = [&](std::int64_t r) -> std::string {
    const char* in = input.data() + static_cast<std::size_t>(r * stride) * es;
    const char* out = output.data() + static_cast<std::size_t>(r * stride) * es;
    std::vector<std::uint8_t> keep(static_cast<std::size_t>(V));
    for (std::int64_t i = 0; i < V; ++i) {
      keep[i] = !is_neg_inf(d, out, i);
      if (keep[i] && !bits_equal(d, in, out, i)) return fmt::format("token {} kept but its bits changed", i);
    }
    for (std::int64_t i = V; i < stride; ++i)
      if (!bits_equal(d, in, out, i)) return fmt::format("padding element {} (past vocab) was written", i);
    if (spec.mask == MaskKind::Bool) {
      const unsigned char* m = mask_host.data() + r * V;
      for (std::int64_t i = 0; i < V; ++i)
        if (m[i] != keep[i]) return fmt::format("bool mask[{}] = {} but logits say kept={}", i, m[i], keep[i]);
    } else if (spec.mask == MaskKind::Bits) {
      const std::int64_t W = (V + 31) / 32;
      for (std::int64_t w = 0; w < W; ++w) {
        std::uint32_t word;
        std::memcpy(&word, mask_host.data() + (r * W + w) * 4, 4);
        for (int j = 0; j < 32; ++j) {
          const std::int64_t i = 32 * w + j;
          const bool bit = (word >> j) & 1u;
          if (i < V ? bit != static_cast<bool>(keep[i]) : bit)
            return fmt::format("bit mask word {} bit {} = {} disagrees with the logits", w, j, bit);
        }
      }
    }
    ref::RowParams p;
    p.top_k = o.with_top_k ? params.top_k[r] : 0;
    p.top_p = o.with_top_p ? params.top_p[r] : 1.0f;
    if (auto err = ref::check_row(d, in, V, p, keep.data()))
      return fmt::format("k={} p={}: {}", p.top_k, p.top_p, *err);
    return {};
  };
  const unsigned threads = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  std::size_t next = 0;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      while (true) {
        std::size_t idx;
        {
          std::lock_guard lock(mu);
          if (next >= rows.size()) return;
          idx = next++;
        }
        std::string err = judge(rows[idx]);
        std::lock_guard lock(mu);
        rep.rows_checked++;
        if (!err.empty()) {
          rep.mismatches++;
          if (rep.errors.size() < 5) rep.errors.push_back(fmt::format("{} row {}: {}", rep.spec, rows[idx], err));
        }
      }
    });
  for (auto& t : pool) t.join();
  return rep;
}

}  // namespace samplejit
