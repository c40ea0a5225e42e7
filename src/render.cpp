// spec -> source: the embedded template plus one explicit instantiation.
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "samplejit/error.hpp"
#include "samplejit/jit.hpp"

namespace samplejit::detail {
extern const std::pair<std::string_view, std::string_view> kEmbeddedTemplates[];
extern const int kEmbeddedTemplateCount;
}  // namespace samplejit::detail

namespace samplejit {
namespace {

std::string_view template_text(std::string_view name) {
  for (int i = 0; i < detail::kEmbeddedTemplateCount; ++i)
    if (detail::kEmbeddedTemplates[i].first == name) return detail::kEmbeddedTemplates[i].second;
  throw Error(ErrorCode::Internal, fmt::format("template {} is not embedded in this build", name));
}

std::string_view dtype_constant(DType d) {
  switch (d) {
    case DType::F32: return "sj::kF32";
    case DType::F16: return "sj::kF16";
    case DType::BF16: return "sj::kBF16";
  }
  return "?";
}

std::string_view mask_constant(MaskKind m) {
  switch (m) {
    case MaskKind::None: return "sj::kMaskNone";
    case MaskKind::Bool: return "sj::kMaskBool";
    case MaskKind::Bits: return "sj::kMaskBits";
  }
  return "?";
}

std::string template_args(const KernelSpec& spec, int cluster) {
  return fmt::format("{}, {}, {}, {}, {}", dtype_constant(spec.dtype), spec.vocab, spec.block, cluster,
                     mask_constant(spec.mask));
}

std::string instantiation(const KernelSpec& spec, int cluster) {
  const bool sample = spec.kind == Kind::Sample;
  return fmt::format("template __global__ void sj::{}_kernel<{}>({});\n", to_string(spec.kind),
                     template_args(spec, cluster),
                     sample ? "const sj::SampleParams" : "void*, long long, int, const int*, const float*, void*");
}

// The sampler's CSR packer, one CTA of 1024 threads (Kernel::sample launches it so).
constexpr std::string_view kCsrPackExpression = "&sj::csr_pack_kernel<1024>";
constexpr std::string_view kCsrPackInstantiation =
    "template __global__ void sj::csr_pack_kernel<1024>(const int*, const int*, int, int, long long*, int*);\n";

}  // namespace

std::string kernel_name_expression(const KernelSpec& spec) {
  return fmt::format("&sj::{}_kernel<{}>", to_string(spec.kind), template_args(spec, spec.primary_cluster()));
}

std::vector<int> entry_clusters(const KernelSpec& spec) {
  const std::vector<int> rows = spec.row_clusters();
  std::vector<int> out = {spec.primary_cluster()};
  if (spec.kind == Kind::Sample) out.push_back(0);
  out.insert(out.end(), rows.begin() + 1, rows.end());
  return out;
}

std::vector<std::string> kernel_name_expressions(const KernelSpec& spec) {
  std::vector<std::string> names;
  for (int c : entry_clusters(spec))
    names.push_back(c == 0 ? std::string(kCsrPackExpression)
                           : fmt::format("&sj::{}_kernel<{}>", to_string(spec.kind), template_args(spec, c)));
  return names;
}

int program_count(const KernelSpec& spec) { return static_cast<int>(spec.row_clusters().size()); }

std::vector<int> entry_programs(const KernelSpec& spec) {
  const int n = program_count(spec);
  std::vector<int> out = {0};
  if (spec.kind == Kind::Sample) out.push_back(0);
  for (int p = 1; p < n; ++p) out.push_back(p);
  return out;
}

std::string program_option(int program) { return fmt::format("-DSJ_PROGRAM={}", program); }

std::string render(const KernelSpec& spec) {
  spec.validate();
  const bool sample = spec.kind == Kind::Sample;
  // Program p instantiates the p-th row kernel (and program 0 the sampler's packer); without
  // SJ_PROGRAM, as when the unit is compiled by hand, every kernel is instantiated.
  std::string instantiations;
  const std::vector<int> rows = spec.row_clusters();
  for (std::size_t p = 0; p < rows.size(); ++p) {
    instantiations += fmt::format("#if !defined(SJ_PROGRAM) || SJ_PROGRAM == {}\n", p);
    instantiations += instantiation(spec, rows[p]);
    if (p == 0 && sample) instantiations += kCsrPackInstantiation;
    instantiations += "#endif\n";
  }
  return fmt::format(
      "// samplejit {} generated for {}\n"
      "// NVRTC compiles this unit once per row kernel: {} program(s), each with -DSJ_PROGRAM=<its index>.\n"
      "{}\n{}\n{}",
      library_version(), spec.canonical(), rows.size(), template_text("select.cuh"),
      template_text(sample ? "sample.cuh" : "truncate.cuh"), instantiations);
}

}  // namespace samplejit
