// The kernel spec: every input that changes generated code, and its one canonical text form.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace samplejit {

enum class DType : std::uint8_t { F32, F16, BF16 };
// Truncate: mask logits in place (top-k -> top-p). Sample: the fused decode-step sampler
// (temperature -> top-k -> top-p -> min-p -> sample), with optional mask/logits/logprob outputs.
enum class Kind : std::uint8_t { Truncate, Sample };
// None: no mask output. Bool: one byte per token, [B, V]. Bits: uint32 words [B, ceil(V/32)],
// bit j of word w is token 32*w + j.
enum class MaskKind : std::uint8_t { None, Bool, Bits };

std::string_view to_string(Kind k);
std::string_view to_string(DType d);
std::string_view to_string(MaskKind m);
DType parse_dtype(std::string_view s);      // "fp32"|"f32"|"float32"|"fp16"|"float16"|"bf16"|"bfloat16"
MaskKind parse_mask(std::string_view s);    // "nomask"|"boolmask"|"bitmask" (also none|bool|bits)
std::size_t dtype_size(DType d);

constexpr std::int64_t kMaxVocab = 2147483647;  // 2^31 - 1
constexpr int kDefaultBlock = 512;
bool is_valid_block(int block);  // 128, 256, 512, 1024
constexpr int kAutoCluster = 0;
bool is_valid_cluster(int cluster);  // 0 (auto), 1, 2, 4, 8, 16
// Whether a launch of an auto spec runs `rows` rows on its cluster kernel of `cluster` CTAs per
// row rather than one CTA per row, on a device with `sm_count` SMs. `k_on` / `p_on`: the launch
// passes per-row k / p (the sampler counts as both). Measured on an H100 (132 SMs) for every
// dtype and V of the benchmark grid at B = 4-128, both parameter sets
// (docs/bench/switch-h100.json.gz, docs/design.md): with k and p, 2-CTA rows never beat one CTA per
// row, and larger clusters win up to B = 24; top-k alone keeps 2-CTA rows up to B = 64 (random
// k: 0.70-1.04x of one CTA per row's time, fixed k = 50: 0.99-1.16x), top-p alone every cluster
// up to B = 66. With k, never more than two CTAs per SM (batch * cluster <= 2 * SMs); top-p alone
// goes past that (docs/bench/switch-topp-sizes-h100.json: 8-CTA rows at B = 48-64). These are
// the limits measured before the cluster kernels staged keys; auto_row_cluster goes past them
// with k on long rows.
bool auto_takes_cluster(int cluster, std::int64_t rows, int sm_count, bool k_on, bool p_on);
// The cluster an auto launch of `rows` rows runs, given the module's row kernels (`clusters`,
// largest first, as KernelSpec::row_clusters()). Smaller clusters win once a batch has enough
// rows to fill the SMs (docs/bench/switch-sizes-*-h100.json: every forced size, every mode): the
// largest cluster whose CTAs take at most half the SMs, 2-CTA rows with k and p excepted as
// above; failing that, the smallest cluster where auto_takes_cluster says so. Long rows with k
// (since the cluster kernels stage keys, docs/bench/sizes-882e111/) go on past that: to a 2-CTA
// kernel below a larger small-batch one while its CTAs fit one per SM (B = 25-66 on 132 SMs),
// else to the smallest 4- or 8-CTA kernel up to B = 48 (batch * 11 <= 4 * SMs); else 1. Top-p
// alone takes that 2-CTA kernel from a quarter of the SMs' worth of rows up to
// auto_takes_cluster's limit (B = 34-66 on 132 SMs). `short_rows`
// (KernelSpec::short_rows()): with k and p, one CTA per row always; top-k alone and top-p alone
// take the module's 8- and 4-CTA kernels by the same half-the-SMs budget, then top-p alone 2-CTA
// rows, and top-k alone 4-CTA rows to auto_takes_cluster's limit for k (B = 24), then 2-CTA rows
// while their CTAs fit one per SM (B = 66; since the staged first digit,
// docs/bench/staged-digit/).
int auto_row_cluster(std::span<const int> clusters, std::int64_t rows, int sm_count, bool k_on, bool p_on,
                     bool short_rows = false);

// Dynamic shared memory of a cluster kernel: a fixed header (templates/select.cuh kSharedHeader)
// and the staged slice. sm_90 allows 227 KB per CTA.
constexpr std::int64_t kClusterSharedHeader = 36864;
constexpr std::int64_t kMaxClusterSharedBytes = 227 * 1024;

struct KernelSpec {
  Kind kind = Kind::Truncate;
  DType dtype = DType::F32;
  std::int64_t vocab = 0;
  int block = kDefaultBlock;
  // CTAs that share one row. 1: one CTA per row, reading the row from global memory on each
  // pass. 2..16 (sm_90+): a thread-block cluster stages the row in shared memory and reads it
  // from HBM once. 0 (auto): the module holds the row kernels of row_clusters(); each launch
  // picks one by auto_row_cluster().
  int cluster = kAutoCluster;
  MaskKind mask = MaskKind::None;
  std::string arch = "sm_90";  // "sm_XY" with optional a/f suffix

  // The cluster an auto spec uses at small batch, from (arch, kind, dtype, vocab); 1 when none
  // helps.
  int small_batch_cluster() const;
  // Rows of up to 128 KB (V = 32000 in fp32, 65536 in 16-bit): their truncation modules add 8-,
  // 4- and 2-CTA kernels for top-k alone and top-p alone, and with k and p run one CTA per row.
  bool short_rows() const;
  // The cluster of the kernel launched for small batches: cluster, or small_batch_cluster() for auto.
  int primary_cluster() const { return cluster == kAutoCluster ? small_batch_cluster() : cluster; }
  // The CTAs per row of each row kernel in the module, largest first: {cluster} for an explicit
  // cluster; for auto, small_batch_cluster(), then 8 and 4 where they are smaller and their
  // slices fit in shared memory (for batches that would crowd the SMs), for truncation 2 on the
  // same terms, then 1. Short rows: 8, 4, 2, 1 for truncation, and the sampler's {1}.
  std::vector<int> row_clusters() const;
  // "truncate-bf16-v151936-b512-cauto-bitmask-sm_90" (or "sample-...", "c8", ...). Used in logs,
  // file names and the CLI.
  std::string canonical() const;
  // Inverse of canonical(); throws samplejit::Error naming the bad field and value.
  static KernelSpec parse(std::string_view text);
  // Throws samplejit::Error naming the argument and the value.
  void validate() const;

  bool operator==(const KernelSpec&) const = default;
};

struct KernelSpec;
// Elements of the row one CTA of the cluster holds (the whole row for cluster <= 1).
std::int64_t cluster_slice_elements(std::int64_t vocab, int cluster);
// Dynamic shared memory bytes of the spec's cluster kernel of `cluster` CTAs per row (0 for 1).
std::int64_t cluster_shared_bytes(const KernelSpec& spec, int cluster);
// The same for the spec's primary_cluster().
std::int64_t cluster_shared_bytes(const KernelSpec& spec);

// Compute capability from "sm_90" / "sm_90a" -> 90. Throws on malformed input.
int arch_number(std::string_view arch);

}  // namespace samplejit
