// The on-disk cubin cache. cache/README.md documents the layout and the entry format byte by byte.
//
// Publishing is write-to-temp + fsync + rename, so a reader sees either no file, a complete old file
// or a complete new file; readers take no locks. Every entry carries its own checksum and is
// re-verified on every load, so damage from outside (truncation, bit rot, a copied file) is a miss.
#include "samplejit/disk_cache.hpp"

#include <fcntl.h>
#include <dirent.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <system_error>

#include <fmt/format.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "samplejit/error.hpp"

namespace fs = std::filesystem;

namespace samplejit {

namespace {

constexpr char kMagic[8] = {'S', 'J', 'I', 'T', 'C', 'U', 'B', 'N'};
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::size_t kHeaderSize = 8 + 4 + 4 + 8 + 8 + 16;  // 48
constexpr std::time_t kStaleTempSeconds = 3600;
constexpr const char* kEntrySuffix = ".sjit";

// One warning of each kind per process; later occurrences are only counted.
std::atomic<bool> g_warned_bad_entry{false};
std::atomic<bool> g_warned_unwritable{false};
std::atomic<std::uint64_t> g_bad_entries{0};
std::atomic<std::uint64_t> g_failed_stores{0};

void warn_once(std::atomic<bool>& flag, const std::string& message) {
  if (!flag.exchange(true)) {
    std::string line = message + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
}

std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

// ---- little-endian helpers -------------------------------------------------------------------

template <typename T>
void put_le(char* dst, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i) dst[i] = static_cast<char>((value >> (8 * i)) & 0xffu);
}

template <typename T>
T get_le(const std::vector<char>& in, std::size_t offset) {
  T value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i)
    value = static_cast<T>(value | (static_cast<T>(static_cast<unsigned char>(in[offset + i])) << (8 * i)));
  return value;
}

// ---- file helpers ----------------------------------------------------------------------------

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

// Unlinks `path` only while it still names the file described by `seen`, so that a fresh entry
// renamed into place by another thread or process after we looked is left alone.
bool unlink_if_same(const fs::path& path, const struct stat& seen) {
  struct stat now {};
  if (::stat(path.c_str(), &now) != 0 || !same_file(now, seen)) return false;
  return ::unlink(path.c_str()) == 0;
}

// Reads until EOF. Returns 0 or an errno value.
int read_all(int fd, std::size_t size_hint, std::vector<char>& out) {
  out.clear();
  out.resize(size_hint + 1);  // one spare byte so that growth since fstat is noticed
  std::size_t used = 0;
  while (true) {
    if (used == out.size()) out.resize(out.size() * 2);
    ssize_t n = ::read(fd, out.data() + used, out.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  out.resize(used);
  return 0;
}

// Returns 0 or an errno value.
int write_all(int fd, const std::vector<char>& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

struct FileBytes {
  std::vector<char> bytes;
  struct stat st {};
};

// Opens, fstats and reads a file. Returns 0 or an errno value; `opened` tells whether st is valid.
int read_file(const fs::path& path, FileBytes& out, bool& opened) {
  opened = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int rc = 0;
  if (::fstat(fd, &out.st) != 0) {
    rc = errno;
  } else {
    opened = true;
    if (!S_ISREG(out.st.st_mode)) rc = EISDIR;
    else rc = read_all(fd, static_cast<std::size_t>(out.st.st_size), out.bytes);
  }
  ::close(fd);
  return rc;
}

// mkdir -p with mode 0700 for every level created here; existing directories are not touched.
bool ensure_dir(const fs::path& dir, std::string& reason) {
  if (::mkdir(dir.c_str(), 0700) == 0) return true;
  int e = errno;
  struct stat st {};
  if (e == EEXIST) {
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return true;
    reason = fmt::format("{} exists and is not a directory", dir.string());
    return false;
  }
  if (e == ENOENT) {
    fs::path parent = dir.parent_path();
    if (parent.empty() || parent == dir) {
      reason = fmt::format("cannot create {}: {}", dir.string(), errno_text(e));
      return false;
    }
    if (!ensure_dir(parent, reason)) return false;
    if (::mkdir(dir.c_str(), 0700) == 0) return true;
    e = errno;
    if (e == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return true;
  }
  reason = fmt::format("cannot create {}: {}", dir.string(), errno_text(e));
  return false;
}

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

// Removes the regular files (and links) of a flat directory such as <root>/tmp; only those last
// modified before `cutoff` unless `all`.
std::size_t sweep_temp_dir(const fs::path& tmp_dir, bool all, std::time_t cutoff) {
  DIR* d = ::opendir(tmp_dir.c_str());
  if (d == nullptr) return 0;
  int dfd = ::dirfd(d);
  std::size_t removed = 0;
  while (struct dirent* ent = ::readdir(d)) {
    if (std::strcmp(ent->d_name, ".") == 0 || std::strcmp(ent->d_name, "..") == 0) continue;
    struct stat st {};
    if (::fstatat(dfd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) continue;
    if (!all && st.st_mtim.tv_sec >= cutoff) continue;
    if (::unlinkat(dfd, ent->d_name, 0) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

// Temp file under <root>/tmp, fsync, rename over `path`: readers see the old file, the new one or
// none, never a torn one. A failure is counted and warned about once; returns false.
bool publish_file(const fs::path& root, const fs::path& path, const std::vector<char>& bytes) {
  const fs::path tmp_dir = root / "tmp";
  std::string reason;
  const fs::path dir = path.parent_path();
  std::string tmp_name;
  bool ok = false;
  do {
    if (!ensure_dir(tmp_dir, reason)) break;
    (void)sweep_temp_dir(tmp_dir, false, std::time(nullptr) - kStaleTempSeconds);
    if (!ensure_dir(dir, reason)) break;
    tmp_name = (tmp_dir / (path.filename().string() + ".XXXXXX")).string();
    int fd = ::mkostemp(tmp_name.data(), O_CLOEXEC);
    if (fd < 0) {
      reason = fmt::format("cannot create a temp file in {}: {}", tmp_dir.string(), errno_text(errno));
      tmp_name.clear();
      break;
    }
    int e = write_all(fd, bytes);
    if (e != 0) reason = fmt::format("write failed: {}", errno_text(e));
    else if (::fsync(fd) != 0) reason = fmt::format("fsync failed: {}", errno_text(errno));
    if (::close(fd) != 0 && reason.empty()) reason = fmt::format("close failed: {}", errno_text(errno));
    if (!reason.empty()) break;
    int rc = ::rename(tmp_name.c_str(), path.c_str());
    if (rc != 0 && errno == ENOENT) {
      // A concurrent `clear` may have removed the (empty) target directory; recreate and retry once.
      if (!ensure_dir(dir, reason)) break;
      rc = ::rename(tmp_name.c_str(), path.c_str());
    }
    if (rc != 0) {
      reason = fmt::format("cannot rename into {}: {}", path.string(), errno_text(errno));
      break;
    }
    tmp_name.clear();
    fsync_dir(dir);
    ok = true;
  } while (false);

  if (ok) return true;
  if (!tmp_name.empty()) (void)::unlink(tmp_name.c_str());
  g_failed_stores.fetch_add(1, std::memory_order_relaxed);
  warn_once(g_warned_unwritable,
            fmt::format("samplejit: warning: cache root {} is not writable ({}); keeping kernels in memory only",
                        root.string(), reason));
  return false;
}

struct FoundFile {
  fs::path path;
  struct stat st {};
};

bool is_schema_dir_name(const std::string& name) {
  return name.size() >= 2 && name[0] == 'v' &&
         std::all_of(name.begin() + 1, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Every *.sjit below <root>/v<N>/; optionally also collects the directories seen (deepest last).
std::vector<FoundFile> scan_entries(const fs::path& root, std::vector<fs::path>* dirs = nullptr) {
  std::vector<FoundFile> found;
  std::error_code ec;
  fs::directory_iterator top(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) return found;
  for (auto it = fs::begin(top); it != fs::end(top); it.increment(ec)) {
    if (ec) break;
    const fs::path& schema_dir = it->path();
    std::error_code ec2;
    if (!is_schema_dir_name(schema_dir.filename().string()) || !it->is_directory(ec2) || it->is_symlink(ec2))
      continue;
    if (dirs != nullptr) dirs->push_back(schema_dir);
    fs::recursive_directory_iterator walk(schema_dir, fs::directory_options::skip_permission_denied, ec2);
    if (ec2) continue;
    for (auto w = fs::begin(walk); w != fs::end(walk); w.increment(ec2)) {
      if (ec2) break;
      std::error_code ec3;
      if (w->is_symlink(ec3)) continue;
      if (w->is_directory(ec3)) {
        if (dirs != nullptr) dirs->push_back(w->path());
        continue;
      }
      if (w->path().extension() != kEntrySuffix) continue;
      FoundFile f{w->path(), {}};
      if (::stat(f.path.c_str(), &f.st) != 0 || !S_ISREG(f.st.st_mode)) continue;
      found.push_back(std::move(f));
    }
  }
  return found;
}

std::vector<FoundFile> scan_temp(const fs::path& tmp_dir) {
  std::vector<FoundFile> found;
  DIR* d = ::opendir(tmp_dir.c_str());
  if (d == nullptr) return found;
  while (struct dirent* ent = ::readdir(d)) {
    if (std::strcmp(ent->d_name, ".") == 0 || std::strcmp(ent->d_name, "..") == 0) continue;
    FoundFile f{tmp_dir / ent->d_name, {}};
    if (::lstat(f.path.c_str(), &f.st) != 0 || !S_ISREG(f.st.st_mode)) continue;
    found.push_back(std::move(f));
  }
  ::closedir(d);
  return found;
}

void validate_digest(const std::string& digest) {
  bool hex = std::all_of(digest.begin(), digest.end(),
                         [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  if (digest.size() < 16 || digest.size() > 64 || !hex)
    throw_invalid("digest", digest, "must be 16 to 64 lowercase hexadecimal characters");
}

// Empty when meta[key] is the string `want`, else why not.
std::string meta_mismatch(const nlohmann::json& meta, const char* key, const std::string& want) {
  if (!meta.is_object()) return "metadata is not a JSON object";
  auto it = meta.find(key);
  if (it == meta.end()) return fmt::format("metadata has no \"{}\"", key);
  if (!it->is_string()) return fmt::format("metadata \"{}\" is not a string", key);
  const auto& have = it->get_ref<const std::string&>();
  if (have != want) return fmt::format("entry is for {} '{}', not '{}'", key, have, want);
  return {};
}

bool is_under(const fs::path& file, const fs::path& dir) {
  std::error_code ec;
  fs::path d = fs::weakly_canonical(dir, ec);
  if (ec) d = dir.lexically_normal();
  fs::path f = file.lexically_normal();
  auto fi = f.begin();
  for (auto di = d.begin(); di != d.end(); ++di) {
    if (di->empty()) continue;  // trailing separator
    if (fi == f.end() || *fi != *di) return false;
    ++fi;
  }
  return true;
}

fs::path home_dir() {
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return fs::path(home);
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* result = nullptr;
  if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &result) == 0 && result != nullptr &&
      result->pw_dir != nullptr && result->pw_dir[0] != '\0')
    return fs::path(result->pw_dir);
  return {};
}

}  // namespace

// ---- encoding --------------------------------------------------------------------------------

std::vector<char> encode_entry(const CacheEntry& entry) {
  if (!entry.meta.is_object()) throw_invalid("entry.meta", entry.meta.type_name(), "must be a JSON object");
  // Invalid UTF-8 (say, in a compiler log) is replaced rather than thrown on.
  const std::string meta = entry.meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const XXH128_hash_t sum = XXH3_128bits(entry.binary.data(), entry.binary.size());
  // Sized up front and filled by offset (cheaper than appending, and keeps GCC's
  // -Wstringop-overflow from misfiring on chained vector inserts).
  std::vector<char> out(kHeaderSize + meta.size() + entry.binary.size());
  char* p = out.data();
  std::memcpy(p, kMagic, sizeof kMagic);
  put_le<std::uint32_t>(p + 8, kFormatVersion);
  put_le<std::uint32_t>(p + 12, 0);  // flags
  put_le<std::uint64_t>(p + 16, meta.size());
  put_le<std::uint64_t>(p + 24, entry.binary.size());
  put_le<std::uint64_t>(p + 32, sum.low64);
  put_le<std::uint64_t>(p + 40, sum.high64);
  if (!meta.empty()) std::memcpy(p + kHeaderSize, meta.data(), meta.size());
  if (!entry.binary.empty()) std::memcpy(p + kHeaderSize + meta.size(), entry.binary.data(), entry.binary.size());
  return out;
}

CacheEntry decode_entry(const std::vector<char>& bytes) {
  auto fail = [](const std::string& why) { throw Error(ErrorCode::Cache, why); };
  if (bytes.size() < kHeaderSize)
    fail(fmt::format("short file: {} bytes, the header alone is {}", bytes.size(), kHeaderSize));
  if (!std::equal(std::begin(kMagic), std::end(kMagic), bytes.begin())) fail("bad magic (not a samplejit cache entry)");
  const auto version = get_le<std::uint32_t>(bytes, 8);
  if (version != kFormatVersion) fail(fmt::format("unknown format version {} (expected {})", version, kFormatVersion));
  const auto flags = get_le<std::uint32_t>(bytes, 12);
  if (flags != 0) fail(fmt::format("unknown flags {:#x}", flags));
  const auto meta_len = get_le<std::uint64_t>(bytes, 16);
  const auto payload_len = get_le<std::uint64_t>(bytes, 24);
  const std::uint64_t body = bytes.size() - kHeaderSize;
  if (meta_len > body || payload_len != body - meta_len)
    fail(fmt::format("sizes do not match the file: header says {} + {} bytes, file has {} after the header",
                     meta_len, payload_len, body));
  XXH128_hash_t want{};
  want.low64 = get_le<std::uint64_t>(bytes, 32);
  want.high64 = get_le<std::uint64_t>(bytes, 40);

  const char* meta_begin = bytes.data() + kHeaderSize;
  const char* meta_end = meta_begin + meta_len;
  CacheEntry entry;
  entry.meta = nlohmann::json::parse(meta_begin, meta_end, nullptr, /*allow_exceptions=*/false);
  if (entry.meta.is_discarded()) fail("metadata is not valid JSON");
  if (!entry.meta.is_object()) fail("metadata is not a JSON object");

  const XXH128_hash_t have = XXH3_128bits(meta_end, static_cast<std::size_t>(payload_len));
  if (!XXH128_isEqual(have, want)) fail("payload checksum mismatch");
  entry.binary.assign(meta_end, meta_end + payload_len);
  return entry;
}

// ---- DiskCache -------------------------------------------------------------------------------

fs::path DiskCache::default_root() {
  if (const char* dir = std::getenv("SAMPLEJIT_CACHE_DIR"); dir != nullptr && *dir != '\0') return fs::path(dir);
#if defined(SAMPLEJIT_BUILD_DIR) && defined(SAMPLEJIT_SOURCE_DIR)
  {
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec && is_under(exe, fs::path(SAMPLEJIT_BUILD_DIR))) return fs::path(SAMPLEJIT_SOURCE_DIR) / "cache";
  }
#endif
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] == '/')
    return fs::path(xdg) / "samplejit";
  fs::path home = home_dir();
  if (!home.empty()) return home / ".cache" / "samplejit";
  // No usable home: a per-user directory under the temp dir (created 0700 on first store).
  std::error_code ec;
  fs::path tmp = fs::temp_directory_path(ec);
  if (ec) tmp = "/tmp";
  return tmp / fmt::format("samplejit-cache-{}", ::getuid());
}

DiskCache::DiskCache(fs::path root) : root_(std::move(root)) {}

fs::path DiskCache::entry_path(const KernelSpec& spec, const std::string& digest) const {
  validate_digest(digest);
  spec.validate();  // also keeps the arch free of path separators
  return root_ / fmt::format("v{}", kCacheSchemaVersion) / spec.arch / std::string(to_string(spec.dtype)) /
         fmt::format("v{}", spec.vocab) / fmt::format("{}.{}{}", spec.canonical(), digest, kEntrySuffix);
}

std::optional<CacheEntry> DiskCache::load(const KernelSpec& spec, const std::string& digest) {
  const fs::path path = entry_path(spec, digest);
  FileBytes file;
  bool opened = false;
  std::string reason;
  std::optional<CacheEntry> entry;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) return std::nullopt;  // plain miss
    reason = fmt::format("cannot open: {}", errno_text(e));
  } else {
    if (::fstat(fd, &file.st) != 0) {
      reason = fmt::format("cannot stat: {}", errno_text(errno));
    } else if (!S_ISREG(file.st.st_mode)) {
      reason = "not a regular file";
    } else {
      opened = true;
      try {
        if (int e = read_all(fd, static_cast<std::size_t>(file.st.st_size), file.bytes); e != 0) {
          reason = fmt::format("read failed: {}", errno_text(e));
        } else {
          CacheEntry decoded = decode_entry(file.bytes);
          reason = meta_mismatch(decoded.meta, "spec", spec.canonical());
          if (reason.empty()) reason = meta_mismatch(decoded.meta, "digest", digest);
          if (reason.empty()) entry = std::move(decoded);
        }
      } catch (const std::exception& e) {
        reason = e.what();
      }
      if (entry) (void)::futimens(fd, nullptr);  // LRU: a hit counts as a use
    }
    ::close(fd);
  }
  if (entry) return entry;

  g_bad_entries.fetch_add(1, std::memory_order_relaxed);
  if (opened) (void)unlink_if_same(path, file.st);
  warn_once(g_warned_bad_entry,
            fmt::format("samplejit: warning: discarding bad cache entry {}: {}; recompiling", path.string(), reason));
  return std::nullopt;
}

bool DiskCache::store(const KernelSpec& spec, const std::string& digest, const CacheEntry& entry) {
  const fs::path path = entry_path(spec, digest);
  if (!entry.meta.is_object())
    throw_invalid("entry.meta", entry.meta.type_name(), "must be a JSON object with \"spec\" and \"digest\"");
  if (auto why = meta_mismatch(entry.meta, "spec", spec.canonical()); !why.empty())
    throw_invalid("entry.meta[\"spec\"]", entry.meta.contains("spec") ? entry.meta["spec"].dump() : "<missing>", why);
  if (auto why = meta_mismatch(entry.meta, "digest", digest); !why.empty())
    throw_invalid("entry.meta[\"digest\"]", entry.meta.contains("digest") ? entry.meta["digest"].dump() : "<missing>",
                  why);
  const std::vector<char> bytes = encode_entry(entry);

  return publish_file(root_, path, bytes);
}

namespace {
constexpr const char* kSideDir = "toolchain";

void validate_side_name(const std::string& name) {
  const bool ok = !name.empty() && name.size() <= 128 && name.front() != '.' &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
                  });
  if (!ok) throw_invalid("name", name, "a side file name is 1-128 of [a-z0-9._-], not starting with '.'");
}
}  // namespace

std::optional<std::string> DiskCache::read_side_file(const std::string& name) const {
  validate_side_name(name);
  FileBytes file;
  bool opened = false;
  if (read_file(root_ / kSideDir / name, file, opened) != 0) return std::nullopt;
  return std::string(file.bytes.begin(), file.bytes.end());
}

bool DiskCache::write_side_file(const std::string& name, const std::string& text) {
  validate_side_name(name);
  return publish_file(root_, root_ / kSideDir / name, std::vector<char>(text.begin(), text.end()));
}

void DiskCache::remove(const KernelSpec& spec, const std::string& digest) {
  const fs::path path = entry_path(spec, digest);
  (void)::unlink(path.c_str());
}

std::vector<CacheFileInfo> DiskCache::list() const {
  std::vector<CacheFileInfo> out;
  for (const FoundFile& f : scan_entries(root_)) {
    CacheFileInfo info;
    info.path = f.path;
    info.bytes = static_cast<std::uintmax_t>(f.st.st_size);
    info.last_used = static_cast<std::int64_t>(f.st.st_mtim.tv_sec);
    FileBytes file;
    bool opened = false;
    if (int e = read_file(f.path, file, opened); e != 0) {
      info.problem = fmt::format("cannot read: {}", errno_text(e));
      out.push_back(std::move(info));
      continue;
    }
    if (opened) {
      info.bytes = static_cast<std::uintmax_t>(file.st.st_size);
      info.last_used = static_cast<std::int64_t>(file.st.st_mtim.tv_sec);
    }
    try {
      CacheEntry entry = decode_entry(file.bytes);
      const auto spec_it = entry.meta.find("spec");
      const auto digest_it = entry.meta.find("digest");
      if (spec_it != entry.meta.end() && spec_it->is_string()) info.spec = spec_it->get<std::string>();
      if (digest_it != entry.meta.end() && digest_it->is_string()) info.digest = digest_it->get<std::string>();
      if (info.spec == "?" || info.digest == "?") {
        info.problem = "metadata lacks a \"spec\" or \"digest\" string";
      } else {
        fs::path expected = entry_path(KernelSpec::parse(info.spec), info.digest);
        if (expected.lexically_normal() != f.path.lexically_normal())
          info.problem = fmt::format("stored under the wrong name (its metadata belongs at {})", expected.string());
        else
          info.valid = true;
      }
    } catch (const std::exception& e) {
      info.problem = e.what();
    }
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const CacheFileInfo& a, const CacheFileInfo& b) { return a.path < b.path; });
  return out;
}

std::uintmax_t DiskCache::total_bytes() const {
  std::uintmax_t total = 0;
  for (const FoundFile& f : scan_entries(root_)) total += static_cast<std::uintmax_t>(f.st.st_size);
  for (const FoundFile& f : scan_temp(root_ / "tmp")) total += static_cast<std::uintmax_t>(f.st.st_size);
  return total;
}

std::size_t DiskCache::prune(std::uintmax_t max_bytes) {
  std::size_t removed = sweep_temp_dir(root_ / "tmp", false, std::time(nullptr) - kStaleTempSeconds);
  std::vector<FoundFile> entries = scan_entries(root_);
  std::uintmax_t total = 0;
  for (const FoundFile& f : entries) total += static_cast<std::uintmax_t>(f.st.st_size);
  for (const FoundFile& f : scan_temp(root_ / "tmp")) total += static_cast<std::uintmax_t>(f.st.st_size);
  std::sort(entries.begin(), entries.end(), [](const FoundFile& a, const FoundFile& b) {
    if (a.st.st_mtim.tv_sec != b.st.st_mtim.tv_sec) return a.st.st_mtim.tv_sec < b.st.st_mtim.tv_sec;
    if (a.st.st_mtim.tv_nsec != b.st.st_mtim.tv_nsec) return a.st.st_mtim.tv_nsec < b.st.st_mtim.tv_nsec;
    return a.path < b.path;
  });
  for (const FoundFile& f : entries) {
    if (total <= max_bytes) break;
    // Skipped when the entry was used (mtime bumped) or replaced since the scan.
    if (unlink_if_same(f.path, f.st)) {
      total -= static_cast<std::uintmax_t>(f.st.st_size);
      ++removed;
    }
  }
  return removed;
}

std::size_t DiskCache::clear() {
  std::vector<fs::path> dirs;
  std::size_t removed = 0;
  for (const FoundFile& f : scan_entries(root_, &dirs))
    if (::unlink(f.path.c_str()) == 0) ++removed;
  removed += sweep_temp_dir(root_ / "tmp", true, 0);
  (void)sweep_temp_dir(root_ / kSideDir, true, 0);  // side files are not entries: not counted
  (void)::rmdir((root_ / kSideDir).c_str());
  // Drop the now empty directory tree, deepest first; anything not ours keeps its directory.
  std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) {
    return a.native().size() > b.native().size();
  });
  for (const fs::path& d : dirs) (void)::rmdir(d.c_str());
  return removed;
}

bool DiskCache::writable() {
  std::string reason;
  const fs::path tmp_dir = root_ / "tmp";
  if (!ensure_dir(tmp_dir, reason)) return false;
  std::string probe = (tmp_dir / "probe.XXXXXX").string();
  int fd = ::mkostemp(probe.data(), O_CLOEXEC);
  if (fd < 0) return false;
  const char byte = 0;
  bool ok = ::write(fd, &byte, 1) == 1;
  ok = (::close(fd) == 0) && ok;
  ok = (::unlink(probe.c_str()) == 0) && ok;
  return ok;
}

}  // namespace samplejit
