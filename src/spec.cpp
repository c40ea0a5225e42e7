// Spec validation and the canonical text form.
#include "samplejit/spec.hpp"

#include <charconv>
#include <vector>

#include <fmt/format.h>

#include "samplejit/error.hpp"

namespace samplejit {

void throw_invalid(const std::string& argument, const std::string& value, const std::string& why) {
  throw Error(ErrorCode::InvalidArgument, fmt::format("invalid {} '{}': {}", argument, value, why));
}

std::string_view to_string(Kind k) { return k == Kind::Sample ? "sample" : "truncate"; }

std::string_view to_string(DType d) {
  switch (d) {
    case DType::F32: return "fp32";
    case DType::F16: return "fp16";
    case DType::BF16: return "bf16";
  }
  return "?";
}

std::string_view to_string(MaskKind m) {
  switch (m) {
    case MaskKind::None: return "nomask";
    case MaskKind::Bool: return "boolmask";
    case MaskKind::Bits: return "bitmask";
  }
  return "?";
}

DType parse_dtype(std::string_view s) {
  if (s == "fp32" || s == "f32" || s == "float32" || s == "float") return DType::F32;
  if (s == "fp16" || s == "f16" || s == "float16" || s == "half") return DType::F16;
  if (s == "bf16" || s == "bfloat16") return DType::BF16;
  throw_invalid("dtype", std::string(s), "expected fp32, fp16 or bf16");
}

MaskKind parse_mask(std::string_view s) {
  if (s == "nomask" || s == "none") return MaskKind::None;
  if (s == "boolmask" || s == "bool") return MaskKind::Bool;
  if (s == "bitmask" || s == "bits") return MaskKind::Bits;
  throw_invalid("mask", std::string(s), "expected nomask, boolmask or bitmask");
}

std::size_t dtype_size(DType d) { return d == DType::F32 ? 4 : 2; }

bool is_valid_block(int block) { return block == 128 || block == 256 || block == 512 || block == 1024; }

bool is_valid_cluster(int cluster) {
  return cluster == kAutoCluster || cluster == 1 || cluster == 2 || cluster == 4 || cluster == 8 || cluster == 16;
}

std::int64_t cluster_slice_elements(std::int64_t vocab, int cluster) {
  if (cluster <= 1) return vocab;
  return ((vocab + cluster - 1) / cluster + 31) / 32 * 32;
}

std::int64_t cluster_shared_bytes(const KernelSpec& spec, int cluster) {
  if (cluster <= 1) return 0;
  return kClusterSharedHeader +
         (cluster_slice_elements(spec.vocab, cluster) * static_cast<std::int64_t>(dtype_size(spec.dtype)) + 15) / 16 *
             16;
}

std::int64_t cluster_shared_bytes(const KernelSpec& spec) { return cluster_shared_bytes(spec, spec.primary_cluster()); }

namespace {
// Staging a slice pays off once the row is larger than what one CTA reads quickly; below that,
// one CTA per row reads it from L2/HBM on each pass. Rows up to kSmallRowBytes (V = 32000):
// with k and p, one CTA per row (2-CTA rows lost at every batch measured, and more CTAs made
// random k up to 1.25-2x slower at B = 4: a short slice still collects up to 1024 candidates and
// each CTA sorts them); with one criterion, 8- and 4-CTA rows took 0.6-0.85x of the 2-CTA rows'
// time at B = 1-16 (fixed and random k, every dtype), so truncation modules of short rows hold
// 8-, 4- and 2-CTA kernels and the sampler's none. Larger rows stage in 16-CTA
// clusters, the fastest size at B = 1-4 for every mode, dtype and V >= 128256 of the sweep
// (docs/bench/switch-sizes-small-h100.json.gz: 0.65-0.88x of the 4- and 8-CTA rows chosen
// before); rows between 128 KB and 250 KB (16-bit V = 128256) are not measured.
constexpr std::int64_t kSmallRowBytes = 128 * 1024;
constexpr std::int64_t kMinStagedRowBytes = 16 * 1024;
}  // namespace

int KernelSpec::small_batch_cluster() const {
  const std::int64_t row_bytes = vocab * static_cast<std::int64_t>(dtype_size(dtype));
  int cc = 0;
  try {
    cc = arch_number(arch);
  } catch (const Error&) {
    return 1;  // no valid target yet (validate() reports it): nothing to stage for
  }
  if (cc < 90 || row_bytes < kMinStagedRowBytes) return 1;
  // Short rows run one CTA per row with k and p, which the sampler always has.
  if (row_bytes <= kSmallRowBytes && kind == Kind::Sample) return 1;
  const int c = row_bytes > kSmallRowBytes ? 16 : 8;
  return cluster_shared_bytes(*this, c) <= kMaxClusterSharedBytes ? c : 1;  // else too large to stage
}

bool KernelSpec::short_rows() const {
  return vocab * static_cast<std::int64_t>(dtype_size(dtype)) <= kSmallRowBytes;
}

std::vector<int> KernelSpec::row_clusters() const {
  if (cluster != kAutoCluster) return {cluster};
  const int small = small_batch_cluster();
  if (small <= 1) return {1};
  // Smaller clusters for batches whose rows would crowd the SMs on the small-batch one, where
  // their larger slices fit in shared memory. Which launches each may take is auto_row_cluster's.
  // On short rows the cluster kernels serve only top-k alone and top-p alone; the sampler, which
  // always has k and p, runs one CTA per row there.
  std::vector<int> rows = {small};
  for (int c : {8, 4, 2})
    if (c < small && cluster_shared_bytes(*this, c) <= kMaxClusterSharedBytes) rows.push_back(c);
  rows.push_back(1);
  return rows;
}

bool auto_takes_cluster(int cluster, std::int64_t rows, int sm_count, bool k_on, bool p_on) {
  if (cluster <= 1 || rows <= 0 || sm_count <= 0) return false;
  const std::int64_t twice = 2 * static_cast<std::int64_t>(sm_count);
  // The row limits scale with the SM count: 66 and 24 rows on 132 SMs. Top-p alone keeps winning
  // on a cluster past two CTAs per SM: fp32 V = 262144 on 8-CTA rows at B = 48-64 takes
  // 0.47-0.57x the time of one CTA per row (docs/bench/switch-topp-sizes-h100.json).
  if (!k_on) return rows * 4 <= twice;
  if (rows > twice / cluster) return false;
  if (cluster == 2) return !p_on && rows * 4 <= twice;
  return rows * 11 <= twice;
}

int auto_row_cluster(std::span<const int> clusters, std::int64_t rows, int sm_count, bool k_on, bool p_on,
                     bool short_rows) {
  if (rows <= 0 || sm_count <= 0) return 1;
  // Short rows with k and p: one CTA per row at every batch. Their 2-CTA rows lost at every B
  // measured (4-128, switch-h100.json.gz), and 4-16-CTA rows win at B <= 8 for fixed k but lose
  // 1.25-2x with random k from B = 4 (a 1000-4000-token slice still collects up to 1024
  // candidates and every CTA sorts them; switch-sizes-small-h100.json.gz, switch-sizes-all-h100.json.gz).
  if (short_rows && k_on && p_on) return 1;
  // A cluster CTA runs a chain of dependent phases; sharing an SM with another stretches every
  // phase, so the best cluster is the largest one whose CTAs all get an SM of their own, with
  // room to spare (clusters must fit in a GPC): at most half the SMs.
  const std::int64_t budget = sm_count / 2;
  int smallest = 1;
  bool long_pair = false;   // a 2-CTA kernel below a larger small-batch one on long rows
  bool short_pair = false;  // short rows' 2-CTA kernel, with k (and so k alone: see above)
  for (int c : clusters) {
    if (c <= 1) continue;
    if (c == 2 && !short_rows && c != clusters.front()) {
      long_pair = true;
      continue;
    }
    // Short rows with k alone: 4- and 8-CTA rows to B = 24, then 2-CTA rows (below).
    if (c == 2 && short_rows && k_on) {
      short_pair = true;
      continue;
    }
    smallest = c;
    if (c == 2 && k_on && p_on) continue;
    if (rows * c <= budget) return c;
  }
  // Top-p alone on long rows: past a quarter of the SMs' worth of rows, 2-CTA rows beat the
  // 4-CTA ones (16-bit V = 128256 and 151936 at B = 48-64: 0.70-0.92x; at B = 32 0.90-1.04x;
  // at B = 16-24 1.5-1.7x as long; docs/bench/switch-topp-sizes-h100.json).
  if (long_pair && !k_on && rows * 4 > sm_count && auto_takes_cluster(2, rows, sm_count, k_on, p_on)) return 2;
  if (auto_takes_cluster(smallest, rows, sm_count, k_on, p_on)) return smallest;
  // Short rows with k alone, past the 4-CTA kernel's limit (B = 24): 2-CTA rows while their CTAs
  // fit one per SM (B = 66). Since the cluster rows build the first-digit histogram while staging
  // (no key window, which random k used to miss), they take 0.73-0.85x the time of one CTA per row
  // at B = 32-64 with fixed and random k (docs/bench/staged-digit/sizes-32000.json); before, one
  // CTA per row won there with random k (docs/bench/topk-sizes-h100.json).
  if (short_pair && rows * 2 <= sm_count) return 2;
  // With k on long rows, past auto_takes_cluster's limit (B = 24), cluster rows beat one CTA per
  // row since they stage keys (882e111; docs/bench/sizes-882e111/: forced sizes, every mode with
  // k, both parameter sets, against one CTA per row): the 2-CTA kernel while its CTAs fit one per
  // SM (B = 66; measured at B = 32-64: 0.59-0.82x), else the smallest kernel above it, 4 or 8
  // CTAs, to B = 48 (0.61-0.93x; fp32 V = 262144's 8-CTA rows with fixed k and p 1.02x at B = 48 and
  // 1.03x from B = 56). A 16-CTA smallest kernel was not measured, and keeps the old limit.
  if (k_on && !short_rows && smallest > 2) {
    if (long_pair) return rows * 2 <= sm_count ? 2 : 1;
    if (smallest <= 8 && rows * 11 <= 4 * static_cast<std::int64_t>(sm_count)) return smallest;
  }
  return 1;
}

int arch_number(std::string_view arch) {
  std::string_view digits = arch;
  if (digits.rfind("sm_", 0) != 0) throw_invalid("arch", std::string(arch), "expected sm_XY, e.g. sm_90");
  digits.remove_prefix(3);
  if (!digits.empty() && (digits.back() == 'a' || digits.back() == 'f')) digits.remove_suffix(1);
  int cc = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cc);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || digits.size() < 2 || digits.size() > 3 ||
      cc < 50)
    throw_invalid("arch", std::string(arch), "expected sm_XY with XY >= 50, e.g. sm_90");
  return cc;
}

void KernelSpec::validate() const {
  if (vocab < 1 || vocab > kMaxVocab)
    throw_invalid("vocab", std::to_string(vocab), "must be in [1, 2147483647]");
  if (!is_valid_block(block)) throw_invalid("block", std::to_string(block), "must be 128, 256, 512 or 1024");
  const int cc = arch_number(arch);
  if (!is_valid_cluster(cluster))
    throw_invalid("cluster", std::to_string(cluster), "must be 0 (auto), 1, 2, 4, 8 or 16");
  if (cluster > 1 && cc < 90)
    throw_invalid("cluster", std::to_string(cluster), fmt::format("thread-block clusters need sm_90 or newer, not {}", arch));
  if (cluster > 1 && cluster_shared_bytes(*this) > kMaxClusterSharedBytes)  // auto picks slices that fit
    throw_invalid("cluster", std::to_string(cluster),
                  fmt::format("a {}-element {} slice of vocab {} needs {} bytes of shared memory per CTA (at most {}); "
                              "use a larger cluster or 1",
                              cluster_slice_elements(vocab, cluster), to_string(dtype), vocab,
                              cluster_shared_bytes(*this), kMaxClusterSharedBytes));
}

std::string KernelSpec::canonical() const {
  return fmt::format("{}-{}-v{}-b{}-c{}-{}-{}", to_string(kind), to_string(dtype), vocab, block,
                     cluster == kAutoCluster ? std::string("auto") : std::to_string(cluster), to_string(mask), arch);
}

namespace {
std::int64_t parse_int(std::string_view field, std::string_view text, std::string_view whole) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size())
    throw_invalid(std::string(field), std::string(text), fmt::format("not an integer in spec '{}'", whole));
  return v;
}
}  // namespace

KernelSpec KernelSpec::parse(std::string_view text) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    auto dash = text.find('-', start);
    parts.push_back(text.substr(start, dash == std::string_view::npos ? std::string_view::npos : dash - start));
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  if (parts.size() != 7 || (parts[0] != "truncate" && parts[0] != "sample"))
    throw_invalid("spec", std::string(text),
                  "expected <truncate|sample>-<dtype>-v<vocab>-b<block>-c<auto|cluster>-<nomask|boolmask|bitmask>-<sm_XY>");
  if (parts[2].empty() || parts[2][0] != 'v') throw_invalid("spec vocab field", std::string(parts[2]), "expected v<vocab>");
  if (parts[3].empty() || parts[3][0] != 'b') throw_invalid("spec block field", std::string(parts[3]), "expected b<block>");
  if (parts[4].empty() || parts[4][0] != 'c')
    throw_invalid("spec cluster field", std::string(parts[4]), "expected c<cluster>");
  KernelSpec s;
  s.kind = parts[0] == "sample" ? Kind::Sample : Kind::Truncate;
  s.dtype = parse_dtype(parts[1]);
  s.vocab = parse_int("vocab", parts[2].substr(1), text);
  auto block = parse_int("block", parts[3].substr(1), text);
  if (block < 0 || block > 1 << 20) throw_invalid("block", std::string(parts[3].substr(1)), "must be 128, 256, 512 or 1024");
  s.block = static_cast<int>(block);
  if (parts[4] == "cauto") {
    s.cluster = kAutoCluster;
  } else {
    auto cluster = parse_int("cluster", parts[4].substr(1), text);
    if (cluster < 1 || cluster > 16)
      throw_invalid("cluster", std::string(parts[4].substr(1)), "must be auto, 1, 2, 4, 8 or 16");
    s.cluster = static_cast<int>(cluster);
  }
  s.mask = parse_mask(parts[5]);
  s.arch = std::string(parts[6]);
  s.validate();
  if (s.canonical() != text) throw_invalid("spec", std::string(text), fmt::format("not canonical; write '{}'", s.canonical()));
  return s;
}

}  // namespace samplejit
