// The NVRTC stamp: NVRTC's version and architectures for cache keys, read from the cache root so
// that a warm start need not load libnvrtc (docs/design.md, "Warm start without NVRTC").
#include "toolchain.hpp"

#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <fmt/format.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "dynload.hpp"

namespace samplejit::detail {
namespace {

constexpr int kStampSchema = 1;

// Path, device, inode, size, mtime and ctime: a file replaced, rewritten, renamed over or
// touched reads differently. A directory's mtime moves when an entry is added, removed or renamed.
std::string identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fmt::format("{}|absent:{}", path, errno);
  return fmt::format("{}|{}:{}:{}:{}.{}:{}.{}", path, st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec, st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
}

std::string env_or_unset(const char* name) {
  const char* v = std::getenv(name);
  return v ? fmt::format("={}", v) : std::string("unset");
}

void anchor() {}

// This library's own file: the executable's when linked into it. dladdr() names the executable
// by argv[0], which differs between launches of one program ("./samplejit" or a full path), so
// the link map is asked instead, and a library's path made absolute.
std::string own_file() {
  Dl_info where{};
  link_map* map = nullptr;
  if (dladdr1(reinterpret_cast<void*>(&anchor), &where, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) && map &&
      map->l_name && *map->l_name) {
    std::unique_ptr<char, decltype(&std::free)> real(::realpath(map->l_name, nullptr), &std::free);
    return real ? std::string(real.get()) : std::string(map->l_name);
  }
  return "/proc/self/exe";
}

// The directories this library's dlopen() of a bare name searches (RPATH, LD_LIBRARY_PATH,
// RUNPATH, the system directories), as the loader reports them; the ld.so.cache is hashed apart.
std::vector<std::string> search_dirs(const std::string& own) {
  std::vector<std::string> dirs;
  void* h = own == "/proc/self/exe" ? dlopen(nullptr, RTLD_LAZY) : dlopen(own.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (!h) return {"serinfo:unavailable"};
  Dl_serinfo size{};
  if (dlinfo(h, RTLD_DI_SERINFOSIZE, &size) == 0 && size.dls_size >= sizeof(Dl_serinfo)) {
    std::vector<std::max_align_t> buffer(size.dls_size / sizeof(std::max_align_t) + 1);
    auto* info = reinterpret_cast<Dl_serinfo*>(buffer.data());
    info->dls_size = size.dls_size;  // glibc wants the sizes it reported handed back
    info->dls_cnt = size.dls_cnt;
    if (dlinfo(h, RTLD_DI_SERINFO, info) == 0) {
      const Dl_serpath* paths = info->dls_serpath;
      for (unsigned i = 0; i < info->dls_cnt; ++i) dirs.emplace_back(paths[i].dls_name ? paths[i].dls_name : "");
    }
  }
  dlclose(h);
  if (dirs.empty()) dirs.emplace_back("serinfo:unavailable");
  return dirs;
}

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash == 0 ? 1 : slash);
}

std::string hex128(const std::string& bytes) {
  const XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

// A digest of what the dynamic loader consults to find libnvrtc from this library: the candidate
// names, LD_LIBRARY_PATH, LD_PRELOAD, /etc/ld.so.cache and /etc/ld.so.preload, the executable and
// this library's own file, and every directory of this library's search path (a file added to,
// removed from or renamed in one moves the directory's mtime). The stamp's file name carries it.
std::string loader_state_digest() {
  const std::string own = own_file();
  const std::vector<std::string> dirs = search_dirs(own);
  std::string s = fmt::format("schema {}\nlibrary {}\n", kStampSchema, library_version());
  for (const auto& n : nvrtc_candidates()) {
    s += "candidate " + n + "\n";
    if (!n.empty() && n.front() == '/') s += "  " + identity(n) + "\n  " + identity(parent_of(n)) + "\n";
  }
  for (const char* v : {"LD_LIBRARY_PATH", "LD_PRELOAD"}) s += fmt::format("env {} {}\n", v, env_or_unset(v));
  for (const char* f : {"/etc/ld.so.cache", "/etc/ld.so.preload", "/proc/self/exe"}) s += identity(f) + "\n";
  s += "self " + identity(own) + "\n";
  for (const auto& d : dirs) s += "dir " + identity(d) + "\n";
  return hex128(s);
}

std::string stamp_file(const std::string& state) { return "nvrtc-" + state + ".json"; }

struct Memo {
  std::mutex mutex;
  std::map<std::string, KeyToolchain> by_root;  // what keyed this process's prepares, per root
};
Memo& memo() {
  static Memo* m = new Memo;  // never destroyed: prepares may run while the process exits
  return *m;
}

nlohmann::json stamp_json(const NvrtcInfo& info, const std::string& file, const std::string& state) {
  return {{"schema", kStampSchema},
          {"loader_state", state},
          {"major", info.major},
          {"minor", info.minor},
          {"archs", info.archs},
          {"library", info.library},
          {"file", file},
          {"file_identity", identity(file)}};
}

// The stamp's answer, or nullopt when it is absent, unreadable, of another schema or loader
// state, or names a library file that has changed since.
std::optional<NvrtcInfo> read_stamp(const DiskCache& cache, const std::string& state) {
  const std::optional<std::string> text = cache.read_side_file(stamp_file(state));
  if (!text) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(*text);
    if (j.at("schema").get<int>() != kStampSchema) return std::nullopt;
    if (j.at("loader_state").get<std::string>() != state) return std::nullopt;
    const std::string file = j.at("file").get<std::string>();
    if (file.empty() || j.at("file_identity").get<std::string>() != identity(file)) return std::nullopt;
    NvrtcInfo info;
    info.major = j.at("major").get<int>();
    info.minor = j.at("minor").get<int>();
    info.archs = j.at("archs").get<std::vector<int>>();
    info.library = j.at("library").get<std::string>();
    const bool sane = info.major > 0 && info.minor >= 0 && !info.archs.empty() &&
                      std::is_sorted(info.archs.begin(), info.archs.end());
    if (!sane) return std::nullopt;
    return info;
  } catch (const std::exception&) {
    return std::nullopt;  // torn writes cannot happen (rename), but a hand-edited file can
  }
}

// Writes the stamp for the NVRTC this process loaded, unless the host program had mapped one
// first: then dlopen handed that one back, which the loader state does not describe.
void write_stamp(DiskCache& cache, const NvrtcInfo& info) {
  const NvrtcApi& api = nvrtc();
  if (api.found_resident) return;
  const std::string state = loader_state_digest();
  const auto current = read_stamp(cache, state);
  if (current && current->major == info.major && current->minor == info.minor && current->archs == info.archs)
    return;
  (void)cache.write_side_file(stamp_file(state), stamp_json(info, api.file, state).dump(2) + "\n");
}

}  // namespace

KeyToolchain key_toolchain(DiskCache* cache) {
  if (!cache) return {nvrtc_info(), false};
  const std::string root = cache->root().string();
  Memo& m = memo();
  // Once per root and process: later prepares reuse the answer (a stamped one is replaced by
  // confirm_toolchain when a miss makes NVRTC answer).
  std::lock_guard lock(m.mutex);
  if (auto it = m.by_root.find(root); it != m.by_root.end()) return it->second;
  std::optional<NvrtcInfo> stamped;
  if (!nvrtc_resident()) stamped = read_stamp(*cache, loader_state_digest());
  KeyToolchain t;
  if (stamped) {
    t = {*stamped, true};
  } else {
    t = {nvrtc_info(), false};
    write_stamp(*cache, t.info);
  }
  m.by_root[root] = t;
  return t;
}

NvrtcInfo confirm_toolchain(DiskCache* cache) {
  const NvrtcInfo& real = nvrtc_info();
  if (!cache) return real;
  Memo& m = memo();
  std::lock_guard lock(m.mutex);
  write_stamp(*cache, real);
  m.by_root[cache->root().string()] = {real, false};
  return real;
}

}  // namespace samplejit::detail
