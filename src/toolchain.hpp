// NVRTC's version and architectures for cache keys, from a stamp when that spares loading libnvrtc.
#pragma once

#include <string>

#include "samplejit/disk_cache.hpp"
#include "samplejit/jit.hpp"

namespace samplejit::detail {

struct KeyToolchain {
  NvrtcInfo info;
  bool from_stamp = false;  // read from the stamp; NVRTC itself was not asked
};

// Every cache key holds NVRTC's version, and loading libnvrtc (about 100 MB) costs a new process
// 5 ms with its pages in the page cache and 130-160 ms without (H100 host), more than the rest
// of a warm prepare. When `cache` holds a stamp written under the same loader state
// (src/toolchain.cpp) and the library file it names is unchanged, the stamp answers and
// nothing is loaded; otherwise NVRTC is loaded and asked, and the stamp (re)written. With no cache,
// or with a libnvrtc already in the process, NVRTC answers. Decided once per cache root and
// process; the answer is kept until confirm_toolchain replaces it.
KeyToolchain key_toolchain(DiskCache* cache);
// After NVRTC was loaded for a compile: what it reports, with the stamp rewritten if it said
// otherwise (a stale stamp; the caller then keys again).
NvrtcInfo confirm_toolchain(DiskCache* cache);

}  // namespace samplejit::detail
