// Shared pieces of the samplejit CLI.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "samplejit/samplejit.hpp"

namespace samplejit::cli {

struct VariantOptions {
  std::vector<std::string> archs, dtypes, masks, model_configs, kinds;
  std::vector<long long> vocabs;
  std::vector<int> blocks;
  std::vector<int> clusters;  // empty: auto
};
void add_variant_options(CLI::App& cmd, VariantOptions& o, bool need_arch);
// The cartesian product of the options (model configs contribute their dtype x vocab pairs).
// Empty arch list: the GPU's arch if one is present, else sm_90 (said on stderr).
std::vector<KernelSpec> expand_variants(const VariantOptions& o);

// Adds verify, truncate and bench; the returned function runs whichever was parsed (nullopt if none).
std::function<std::optional<int>()> register_gpu_commands(CLI::App& app, bool& json);

}  // namespace samplejit::cli
