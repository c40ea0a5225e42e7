// The on-disk cubin cache: one self-contained, checksummed file per entry, published atomically.
// cache/README.md describes the format.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "samplejit/spec.hpp"

namespace samplejit {

struct CacheEntry {
  nlohmann::json meta;          // spec, key digest, lowered names, NVRTC version, options, log, ...
  std::vector<char> binary;     // cubin (or NUL-terminated PTX when meta["target_kind"] == "ptx")
};

struct CacheFileInfo {
  std::filesystem::path path;
  std::string spec = "?";       // canonical spec text from the metadata ("?" when unreadable)
  std::string digest = "?";     // key digest from the metadata ("?" when unreadable)
  std::uintmax_t bytes = 0;
  std::int64_t last_used = 0;   // seconds since epoch (mtime, bumped on every hit)
  bool valid = false;           // header, metadata and checksum all check out
  std::string problem;          // why not valid
};

class DiskCache {
 public:
  // Root resolution: SAMPLEJIT_CACHE_DIR; else the source tree's cache/ for a build-tree binary;
  // else $XDG_CACHE_HOME/samplejit; else ~/.cache/samplejit.
  static std::filesystem::path default_root();

  explicit DiskCache(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }

  // <root>/v<schema>/<arch>/<dtype>/v<vocab>/<canonical spec>.<digest>.sjit
  std::filesystem::path entry_path(const KernelSpec& spec, const std::string& digest) const;

  // A hit only when magic, format version, sizes, metadata (spec and digest equal to the request)
  // and payload checksum all check out. Anything else is a miss: the bad file is removed and a
  // warning printed once per process. A hit bumps the entry's mtime for LRU pruning.
  std::optional<CacheEntry> load(const KernelSpec& spec, const std::string& digest);

  // Write to a temp file under <root>/tmp, fsync, rename over the target. Returns false (after one
  // warning per process) when the root is not writable; never throws for I/O problems.
  bool store(const KernelSpec& spec, const std::string& digest, const CacheEntry& entry);

  // Remove an entry that loaded from disk but that the driver rejected.
  void remove(const KernelSpec& spec, const std::string& digest);

  // Small side files under <root>/toolchain/ (the NVRTC stamp: src/toolchain.cpp), published like
  // entries. `name` is [a-z0-9._-]+. read: nullopt when absent or unreadable; write: false (after
  // the store warning) when the root is not writable.
  std::optional<std::string> read_side_file(const std::string& name) const;
  bool write_side_file(const std::string& name, const std::string& text);

  std::vector<CacheFileInfo> list() const;    // every *.sjit under the root, checked
  std::uintmax_t total_bytes() const;
  // Delete least recently used entries until the total is <= max_bytes. Returns files removed.
  std::size_t prune(std::uintmax_t max_bytes);
  std::size_t clear();                          // delete every entry, temp file and side file
  bool writable();                              // root exists or can be created, and accepts files

 private:
  std::filesystem::path root_;
};

// Encoding used by store()/load(), exposed for tests and `cache verify`.
std::vector<char> encode_entry(const CacheEntry& entry);
// Throws samplejit::Error (code Cache) with the reason when the bytes are not a valid entry.
CacheEntry decode_entry(const std::vector<char>& bytes);

constexpr int kCacheSchemaVersion = 2;   // bump when the key or layout changes

}  // namespace samplejit
