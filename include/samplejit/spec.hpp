// The kernel spec: every input that changes generated code, and its one canonical text form.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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

struct KernelSpec {
  Kind kind = Kind::Truncate;
  DType dtype = DType::F32;
  std::int64_t vocab = 0;
  int block = kDefaultBlock;
  MaskKind mask = MaskKind::None;
  std::string arch = "sm_90";  // "sm_XY" with optional a/f suffix

  // "truncate-bf16-v151936-b512-bitmask-sm_90" (or "sample-..."). Used in logs, file names and
  // the CLI.
  std::string canonical() const;
  // Inverse of canonical(); throws samplejit::Error naming the bad field and value.
  static KernelSpec parse(std::string_view text);
  // Throws samplejit::Error naming the argument and the value.
  void validate() const;

  bool operator==(const KernelSpec&) const = default;
};

// Compute capability from "sm_90" / "sm_90a" -> 90. Throws on malformed input.
int arch_number(std::string_view arch);

}  // namespace samplejit
