// Tests for the on-disk cubin cache (src/disk_cache.cpp, format in cache/README.md).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "samplejit/disk_cache.hpp"
#include "samplejit/error.hpp"
#include "samplejit/spec.hpp"

namespace fs = std::filesystem;
using samplejit::CacheEntry;
using samplejit::DiskCache;
using samplejit::DType;
using samplejit::ErrorCode;
using samplejit::KernelSpec;
using samplejit::MaskKind;

namespace {

const std::string kDigestA = "0123456789abcdef0123456789abcdef";
const std::string kDigestB = "fedcba9876543210fedcba9876543210";

// Environment variables through which the tests below re-run this binary as a helper process.
constexpr const char* kChildModeVar = "SAMPLEJIT_DISK_CACHE_TEST_CHILD";
constexpr const char* kChildOutVar = "SAMPLEJIT_DISK_CACHE_TEST_OUT";
constexpr const char* kChildDirVar = "SAMPLEJIT_DISK_CACHE_TEST_DIR";

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = "/tmp/samplejit-cache-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

KernelSpec test_spec(std::int64_t vocab = 151936) {
  KernelSpec s;
  s.dtype = DType::BF16;
  s.vocab = vocab;
  s.block = 512;
  s.mask = MaskKind::Bits;
  s.arch = "sm_90";
  return s;
}

std::vector<char> make_payload(std::size_t n, std::uint64_t seed) {
  std::vector<char> out(n);
  std::uint64_t x = seed;
  for (std::size_t i = 0; i < n; i += 8) {
    x += 0x9e3779b97f4a7c15ull;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    for (std::size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>((z >> (8 * j)) & 0xffu);
  }
  return out;
}

CacheEntry make_entry(const KernelSpec& spec, const std::string& digest, std::vector<char> payload) {
  CacheEntry e;
  e.meta = {{"spec", spec.canonical()},
            {"digest", digest},
            {"lowered", {"sample_kernel<0>", "sample_kernel<1>"}},
            {"nvrtc_version", "13.0"},
            {"log", "compiled \xc3\xa9 fine\n"}};
  e.binary = std::move(payload);
  return e;
}

std::vector<char> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& p, const std::vector<char>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

template <typename T>
T le_at(const std::vector<char>& b, std::size_t off) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i)
    v = static_cast<T>(v | (static_cast<T>(static_cast<unsigned char>(b[off + i])) << (8 * i)));
  return v;
}

template <typename T>
void put_le(std::vector<char>& out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

// An entry built straight from the README's description, independently of encode_entry.
std::vector<char> raw_entry(const std::string& meta_text, const std::vector<char>& payload,
                            std::uint32_t version = 1, std::uint32_t flags = 0) {
  std::vector<char> out = {'S', 'J', 'I', 'T', 'C', 'U', 'B', 'N'};
  put_le<std::uint32_t>(out, version);
  put_le<std::uint32_t>(out, flags);
  put_le<std::uint64_t>(out, meta_text.size());
  put_le<std::uint64_t>(out, payload.size());
  XXH128_hash_t h = XXH3_128bits(payload.data(), payload.size());
  put_le<std::uint64_t>(out, h.low64);
  put_le<std::uint64_t>(out, h.high64);
  out.insert(out.end(), meta_text.begin(), meta_text.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return static_cast<unsigned>(st.st_mode & 07777);
}

void set_mtime(const fs::path& p, std::time_t t) {
  struct timespec ts[2];
  ts[0].tv_sec = t;
  ts[0].tv_nsec = 0;
  ts[1] = ts[0];
  if (::utimensat(AT_FDCWD, p.c_str(), ts, 0) != 0) throw std::runtime_error("utimensat failed on " + p.string());
}

std::time_t mtime_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_mtim.tv_sec;
}

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

std::size_t count_occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + needle.size())) ++n;
  return n;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `exe` (normally this test binary) as a helper with the given environment changes
// (nullopt = unset); its stdout and stderr go to files. Returns the exit status or -1.
int run_helper(const fs::path& exe, const std::vector<std::pair<std::string, std::optional<std::string>>>& env,
               const fs::path& out_file, const fs::path& err_file) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    for (const auto& [name, value] : env) {
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
    int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
    // The test-name filter matches nothing, so if the hook below did not fire no test runs.
    std::string self = exe.string();
    std::string filter = "[no-such-test-samplejit-helper]";
    char* argv[] = {self.data(), filter.data(), nullptr};
    ::execv(self.c_str(), argv);
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// ---- helper-process side ----------------------------------------------------------------------

int helper_warn(const fs::path& dir) {
  const KernelSpec spec = test_spec();
  // Two failed stores: one warning.
  DiskCache bad(dir / "afile" / "cache");
  if (bad.store(spec, kDigestA, make_entry(spec, kDigestA, make_payload(100, 1)))) return 10;
  if (bad.store(spec, kDigestB, make_entry(spec, kDigestB, make_payload(100, 2)))) return 11;
  // Two bad entries: one warning.
  DiskCache good(dir / "good");
  for (const std::string& digest : {kDigestA, kDigestB}) {
    if (!good.store(spec, digest, make_entry(spec, digest, make_payload(100, 3)))) return 12;
    fs::path p = good.entry_path(spec, digest);
    std::vector<char> bytes = read_bytes(p);
    bytes.resize(bytes.size() - 1);
    write_bytes(p, bytes);
    if (good.load(spec, digest)) return 13;
    if (fs::exists(p)) return 14;
  }
  return 0;
}

int helper_main(const std::string& mode) {
  try {
    const char* out = std::getenv(kChildOutVar);
    const char* dir = std::getenv(kChildDirVar);
    if (mode == "root" && out != nullptr) {
      std::ofstream(out) << DiskCache::default_root().string();
      return 0;
    }
    if (mode == "warn" && dir != nullptr) return helper_warn(dir);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "helper exception: %s\n", e.what());
    return 3;
  }
}

// Runs before Catch's main when this binary was started as a helper by run_helper().
[[maybe_unused]] const int g_helper_hook = [] {
  if (const char* mode = std::getenv(kChildModeVar); mode != nullptr && *mode != '\0') {
    int rc = helper_main(mode);
    std::fflush(nullptr);
    ::_exit(rc);
  }
  return 0;
}();

fs::path self_exe() { return fs::read_symlink("/proc/self/exe"); }

struct EnvGuard {
  std::string name;
  std::optional<std::string> saved;
  explicit EnvGuard(std::string n) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) saved = v;
  }
  ~EnvGuard() {
    if (saved) ::setenv(name.c_str(), saved->c_str(), 1);
    else ::unsetenv(name.c_str());
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;
};

// Writer process body for the multi-process test. Exit codes say what went wrong.
int writer_process(const fs::path& root, const KernelSpec& spec, const CacheEntry& entry, int stores) {
  try {
    DiskCache cache(root);
    for (int i = 0; i < stores; ++i) {
      if (!cache.store(spec, kDigestA, entry)) return 1;
      // Our own store has completed, so from now on the key must always be a hit.
      auto got = cache.load(spec, kDigestA);
      if (!got) return 2;
      if (got->binary != entry.binary || got->meta != entry.meta) return 3;
    }
  } catch (...) {
    return 4;
  }
  return 0;
}

}  // namespace

TEST_CASE("disk cache: store then load round-trips at the documented path", "[cache]") {
  TempDir tmp;
  ::chmod(tmp.path.c_str(), 0755);  // a pre-existing directory keeps its mode
  const fs::path root = tmp.path / "a" / "cache";
  DiskCache cache(root);
  CHECK(cache.root() == root);
  const KernelSpec spec = test_spec();
  const CacheEntry entry = make_entry(spec, kDigestA, make_payload(100000, 7));

  CHECK_FALSE(cache.load(spec, kDigestA).has_value());  // clean miss, nothing created
  CHECK_FALSE(fs::exists(root));

  REQUIRE(cache.store(spec, kDigestA, entry));
  const fs::path expected = root / "v2" / "sm_90" / "bf16" / "v151936" /
                            ("truncate-bf16-v151936-b512-cauto-bitmask-sm_90." + kDigestA + ".sjit");
  CHECK(cache.entry_path(spec, kDigestA) == expected);
  CHECK(fs::is_regular_file(expected));
  CHECK(read_bytes(expected) == samplejit::encode_entry(entry));

  auto got = cache.load(spec, kDigestA);
  REQUIRE(got.has_value());
  CHECK(got->meta == entry.meta);
  CHECK(got->binary == entry.binary);

  for (const fs::path& d : {tmp.path / "a", root, root / "v2", root / "v2" / "sm_90", root / "v2" / "sm_90" / "bf16",
                            root / "v2" / "sm_90" / "bf16" / "v151936", root / "tmp"}) {
    INFO(d.string());
    CHECK(mode_of(d) == 0700u);
  }
  CHECK(mode_of(tmp.path) == 0755u);
  CHECK(count_files(root / "tmp") == 0);

  // Another digest or spec is a different file, hence a miss.
  CHECK_FALSE(cache.load(spec, kDigestB).has_value());
  CHECK_FALSE(cache.load(test_spec(32000), kDigestA).has_value());

  // A hit bumps the mtime (LRU).
  const std::time_t old = std::time(nullptr) - 100000;
  set_mtime(expected, old);
  REQUIRE(cache.load(spec, kDigestA).has_value());
  CHECK(mtime_of(expected) >= std::time(nullptr) - 60);

  // Storing again replaces the entry in place, and remove() deletes it.
  REQUIRE(cache.store(spec, kDigestA, entry));
  CHECK(count_files(root) == 1);
  cache.remove(spec, kDigestA);
  CHECK_FALSE(fs::exists(expected));
  CHECK_FALSE(cache.load(spec, kDigestA).has_value());
  CHECK_NOTHROW(cache.remove(spec, kDigestA));

  // An empty payload is a valid entry.
  const CacheEntry empty = make_entry(spec, kDigestB, {});
  REQUIRE(cache.store(spec, kDigestB, empty));
  auto got_empty = cache.load(spec, kDigestB);
  REQUIRE(got_empty.has_value());
  CHECK(got_empty->binary.empty());
  CHECK(got_empty->meta == empty.meta);
}

TEST_CASE("disk cache: entry encoding matches the documented byte layout", "[cache]") {
  TempDir tmp;  // unused by the encoding itself; keeps the one-root-per-test convention
  CacheEntry e;
  e.meta = {{"a", 1}};
  e.binary = {'x', 'y', 'z'};
  const std::vector<char> bytes = samplejit::encode_entry(e);

  const std::vector<char> golden_header = {
      'S', 'J', 'I', 'T', 'C', 'U', 'B', 'N',  // magic
      1,   0,   0,   0,                        // format version
      0,   0,   0,   0,                        // flags
      7,   0,   0,   0,   0,   0,   0,   0,    // meta_len: {"a":1}
      3,   0,   0,   0,   0,   0,   0,   0,    // payload_len
  };
  REQUIRE(bytes.size() == 48 + 7 + 3);
  CHECK(std::vector<char>(bytes.begin(), bytes.begin() + 32) == golden_header);
  const XXH128_hash_t h = XXH3_128bits("xyz", 3);
  CHECK(le_at<std::uint64_t>(bytes, 32) == h.low64);
  CHECK(le_at<std::uint64_t>(bytes, 40) == h.high64);
  CHECK(std::string(bytes.begin() + 48, bytes.begin() + 55) == "{\"a\":1}");
  CHECK(std::string(bytes.begin() + 55, bytes.end()) == "xyz");
  CHECK(bytes == raw_entry("{\"a\":1}", e.binary));

  const CacheEntry back = samplejit::decode_entry(bytes);
  CHECK(back.meta == e.meta);
  CHECK(back.binary == e.binary);

  // A hand-built file following the README decodes too.
  const std::vector<char> payload = make_payload(1000, 3);
  const CacheEntry hand = samplejit::decode_entry(raw_entry("{\"k\": [1, 2], \"s\": \"t\"}", payload));
  CHECK(hand.meta == nlohmann::json({{"k", {1, 2}}, {"s", "t"}}));
  CHECK(hand.binary == payload);

  // Invalid UTF-8 in the metadata (a truncated compiler log, say) is replaced, not thrown on.
  CacheEntry log_entry;
  log_entry.meta = {{"log", "cut \xe2\x82"}};
  std::vector<char> log_bytes;
  REQUIRE_NOTHROW(log_bytes = samplejit::encode_entry(log_entry));
  CHECK(samplejit::decode_entry(log_bytes).meta["log"] == "cut \xef\xbf\xbd");

  // Non-object metadata cannot be encoded.
  CacheEntry bad;
  bad.meta = nlohmann::json::array({1, 2});
  CHECK_THROWS_AS(samplejit::encode_entry(bad), samplejit::Error);

  auto reason = [](const std::vector<char>& b) -> std::string {
    try {
      (void)samplejit::decode_entry(b);
    } catch (const samplejit::Error& err) {
      if (err.code() != ErrorCode::Cache) return "wrong code: " + std::string(err.what());
      return err.what();
    }
    return "<decoded>";
  };
  using Catch::Matchers::Contains;
  CHECK_THAT(reason({}), Contains("short"));
  CHECK_THAT(reason(std::vector<char>(bytes.begin(), bytes.begin() + 47)), Contains("short"));
  std::vector<char> b = bytes;
  b[3] = 'X';
  CHECK_THAT(reason(b), Contains("magic"));
  CHECK_THAT(reason(raw_entry("{}", payload, 2)), Contains("version"));
  CHECK_THAT(reason(raw_entry("{}", payload, 1, 1)), Contains("flags"));
  b = bytes;
  b.push_back('!');
  CHECK_THAT(reason(b), Contains("sizes"));
  b = bytes;
  b.pop_back();
  CHECK_THAT(reason(b), Contains("sizes"));
  b = bytes;
  b[16] = 100;  // meta_len larger than the file
  CHECK_THAT(reason(b), Contains("sizes"));
  b = bytes;
  b[23] = static_cast<char>(0xff);  // meta_len near 2^64: must not overflow into a match
  CHECK_THAT(reason(b), Contains("sizes"));
  CHECK_THAT(reason(raw_entry("{\"a\":", payload)), Contains("JSON"));
  CHECK_THAT(reason(raw_entry("[1,2]", payload)), Contains("object"));
  CHECK_THAT(reason(raw_entry("{\"a\":\"\xff\"}", payload)), Contains("JSON"));  // invalid UTF-8
  b = bytes;
  b.back() = 'Z';
  CHECK_THAT(reason(b), Contains("checksum"));
  b = bytes;
  b[40] ^= 1;
  CHECK_THAT(reason(b), Contains("checksum"));
}

TEST_CASE("disk cache: damaged or foreign entries are misses and get removed", "[cache]") {
  TempDir tmp;
  DiskCache cache(tmp.path / "cache");
  const KernelSpec spec = test_spec();
  const CacheEntry entry = make_entry(spec, kDigestA, make_payload(5000, 11));
  const fs::path path = cache.entry_path(spec, kDigestA);
  const std::vector<char> good = samplejit::encode_entry(entry);
  const std::size_t meta_len = le_at<std::uint64_t>(good, 16);

  // A valid file for another digest, and one for another spec, to copy over this key's path.
  REQUIRE(cache.store(spec, kDigestB, make_entry(spec, kDigestB, make_payload(5000, 11))));
  const std::vector<char> other_digest = read_bytes(cache.entry_path(spec, kDigestB));
  const KernelSpec other_spec = test_spec(32000);
  REQUIRE(cache.store(other_spec, kDigestA, make_entry(other_spec, kDigestA, make_payload(5000, 11))));
  const std::vector<char> other_spec_file = read_bytes(cache.entry_path(other_spec, kDigestA));

  using Mutation = std::function<std::vector<char>(std::vector<char>)>;
  std::vector<std::pair<std::string, Mutation>> cases;
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{8}, std::size_t{20}, std::size_t{47},
                          std::size_t{48}, 48 + meta_len / 2, 48 + meta_len, 48 + meta_len + 100, good.size() - 1}) {
    cases.emplace_back("truncated at " + std::to_string(cut), [cut](std::vector<char> b) {
      b.resize(cut);
      return b;
    });
  }
  for (std::size_t off : {std::size_t{0}, std::size_t{7}, std::size_t{8}, std::size_t{12}, std::size_t{16},
                          std::size_t{24}, std::size_t{31}, std::size_t{32}, std::size_t{47}}) {
    cases.emplace_back("header byte " + std::to_string(off) + " flipped", [off](std::vector<char> b) {
      b[off] = static_cast<char>(b[off] ^ 0x40);
      return b;
    });
  }
  cases.emplace_back("payload byte flipped", [meta_len](std::vector<char> b) {
    b[48 + meta_len + 2500] = static_cast<char>(b[48 + meta_len + 2500] ^ 1);
    return b;
  });
  cases.emplace_back("last payload byte flipped", [](std::vector<char> b) {
    b.back() = static_cast<char>(b.back() ^ 0x80);
    return b;
  });
  cases.emplace_back("JSON broken", [](std::vector<char> b) {
    b[48] = '#';
    return b;
  });
  cases.emplace_back("JSON not an object", [](std::vector<char>) {
    return raw_entry("[\"" + std::string(60, 'x') + "\"]", make_payload(5000, 11));
  });
  cases.emplace_back("metadata without digest", [&spec](std::vector<char>) {
    return raw_entry(nlohmann::json({{"spec", spec.canonical()}}).dump(), make_payload(5000, 11));
  });
  cases.emplace_back("trailing garbage", [](std::vector<char> b) {
    b.push_back('\0');
    return b;
  });
  cases.emplace_back("foreign entry (other digest)", [&other_digest](std::vector<char>) { return other_digest; });
  cases.emplace_back("foreign entry (other spec)", [&other_spec_file](std::vector<char>) { return other_spec_file; });
  cases.emplace_back("not an entry at all", [](std::vector<char>) {
    std::string text = "#!/bin/sh\necho hello\n";
    return std::vector<char>(text.begin(), text.end());
  });

  for (const auto& [name, mutate] : cases) {
    INFO(name);
    REQUIRE(cache.store(spec, kDigestA, entry));
    REQUIRE(read_bytes(path) == good);
    write_bytes(path, mutate(read_bytes(path)));
    REQUIRE(fs::exists(path));
    CHECK_FALSE(cache.load(spec, kDigestA).has_value());
    CHECK_FALSE(fs::exists(path));                        // the bad file is gone ...
    CHECK_FALSE(cache.load(spec, kDigestA).has_value());  // ... so this is a clean miss
    REQUIRE(cache.store(spec, kDigestA, entry));          // and the key can be stored again
    auto again = cache.load(spec, kDigestA);
    REQUIRE(again.has_value());
    CHECK(again->binary == entry.binary);
  }
  // The entries that were only copied from were never touched.
  CHECK(cache.load(spec, kDigestB).has_value());
  CHECK(cache.load(other_spec, kDigestA).has_value());

  // A directory squatting on the entry path is a miss, not an error.
  cache.remove(spec, kDigestA);
  fs::create_directory(path);
  CHECK_FALSE(cache.load(spec, kDigestA).has_value());
  CHECK_FALSE(cache.store(spec, kDigestA, entry));
  fs::remove(path);
  CHECK(cache.store(spec, kDigestA, entry));
}

TEST_CASE("disk cache: many processes storing and loading one key never see a torn entry", "[cache]") {
  TempDir tmp;
  const fs::path root = tmp.path / "cache";
  const KernelSpec spec = test_spec();
  const CacheEntry entry = make_entry(spec, kDigestA, make_payload(std::size_t{4} << 20, 99));
  constexpr int kWriters = 8;
  constexpr int kStores = 20;

  std::vector<pid_t> pids;
  for (int i = 0; i < kWriters; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(writer_process(root, spec, entry, kStores));
    if (pid < 0) break;
    pids.push_back(pid);
  }

  DiskCache cache(root);
  int hits = 0, misses_after_hit = 0, mismatches = 0, load_errors = 0;
  bool seen_hit = false;
  std::vector<int> statuses;
  std::vector<pid_t> running = pids;
  while (!running.empty()) {
    try {
      auto got = cache.load(spec, kDigestA);
      if (got) {
        seen_hit = true;
        ++hits;
        if (got->binary != entry.binary || got->meta != entry.meta) ++mismatches;
      } else if (seen_hit) {
        ++misses_after_hit;
      }
    } catch (...) {
      ++load_errors;
    }
    for (auto it = running.begin(); it != running.end();) {
      int status = 0;
      if (::waitpid(*it, &status, WNOHANG) == *it) {
        statuses.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        it = running.erase(it);
      } else {
        ++it;
      }
    }
  }

  REQUIRE(pids.size() == static_cast<std::size_t>(kWriters));
  for (int s : statuses) CHECK(s == 0);  // 1: store failed, 2: miss after own store, 3: wrong bytes
  CHECK(mismatches == 0);
  CHECK(misses_after_hit == 0);
  CHECK(load_errors == 0);
  CHECK(hits > 0);

  auto entries = cache.list();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].valid);
  CHECK(entries[0].path == cache.entry_path(spec, kDigestA));
  CHECK(count_files(root / "tmp") == 0);
  CHECK(count_files(root) == 1);
  auto final_entry = cache.load(spec, kDigestA);
  REQUIRE(final_entry.has_value());
  CHECK(final_entry->binary == entry.binary);
}

TEST_CASE("disk cache: an unwritable root degrades to a miss without throwing", "[cache]") {
  TempDir tmp;
  write_bytes(tmp.path / "afile", {'x'});
  DiskCache cache(tmp.path / "afile" / "cache");  // mkdir fails with ENOTDIR, even for root
  const KernelSpec spec = test_spec();
  const CacheEntry entry = make_entry(spec, kDigestA, make_payload(1000, 5));
  bool stored = true;
  CHECK_NOTHROW(stored = cache.store(spec, kDigestA, entry));
  CHECK_FALSE(stored);
  std::optional<CacheEntry> loaded;
  CHECK_NOTHROW(loaded = cache.load(spec, kDigestA));
  CHECK_FALSE(loaded.has_value());
  CHECK_FALSE(cache.writable());
  CHECK(cache.list().empty());
  CHECK(cache.total_bytes() == 0);
  CHECK(cache.prune(0) == 0);
  CHECK(cache.clear() == 0);
  CHECK_NOTHROW(cache.remove(spec, kDigestA));
  CHECK(read_bytes(tmp.path / "afile") == std::vector<char>{'x'});

  // A root that is itself a regular file.
  DiskCache file_root(tmp.path / "afile");
  CHECK_FALSE(file_root.store(spec, kDigestA, entry));
  CHECK_FALSE(file_root.writable());

  // A good root is writable, gets created 0700, and keeps no probe file.
  DiskCache good(tmp.path / "good" / "root");
  CHECK(good.writable());
  CHECK(mode_of(tmp.path / "good" / "root") == 0700u);
  CHECK(count_files(tmp.path / "good") == 0);
}

TEST_CASE("disk cache: warnings are printed once per process", "[cache]") {
  TempDir tmp;
  write_bytes(tmp.path / "afile", {'x'});
  const fs::path out = tmp.path / "stdout.txt";
  const fs::path err = tmp.path / "stderr.txt";
  const int rc = run_helper(self_exe(), {{kChildModeVar, "warn"}, {kChildDirVar, tmp.path.string()}}, out, err);
  const std::string text = read_text(err);
  INFO("helper stderr:\n" << text);
  REQUIRE(rc == 0);
  const KernelSpec spec = test_spec();
  const std::string bad_root = (tmp.path / "afile" / "cache").string();
  CHECK(count_occurrences(text, "samplejit: warning:") == 2);
  CHECK(count_occurrences(text, "samplejit: warning: cache root " + bad_root + " is not writable (") == 1);
  CHECK(count_occurrences(text, "; keeping kernels in memory only\n") == 1);
  const std::string first_bad = DiskCache(tmp.path / "good").entry_path(spec, kDigestA).string();
  CHECK(count_occurrences(text, "samplejit: warning: discarding bad cache entry " + first_bad + ": ") == 1);
  CHECK(count_occurrences(text, "; recompiling\n") == 1);
}

TEST_CASE("disk cache: list, total_bytes, prune and clear", "[cache]") {
  TempDir tmp;
  const fs::path root = tmp.path / "cache";
  DiskCache cache(root);
  const KernelSpec spec = test_spec();
  const std::vector<std::string> digests = {"00000000000000000000000000000000", "11111111111111111111111111111111",
                                            "22222222222222222222222222222222", "33333333333333333333333333333333",
                                            "44444444444444444444444444444444"};
  const std::time_t base = std::time(nullptr) - 50000;
  std::uintmax_t entry_bytes = 0;
  for (std::size_t i = 0; i < digests.size(); ++i) {
    const KernelSpec s = test_spec(1000 + static_cast<std::int64_t>(i % 2));  // two vocab directories
    REQUIRE(cache.store(s, digests[i], make_entry(s, digests[i], make_payload(2000, i))));
    set_mtime(cache.entry_path(s, digests[i]), base + static_cast<std::time_t>(i) * 100);  // entry 0 is oldest
    entry_bytes += fs::file_size(cache.entry_path(s, digests[i]));
  }
  // A damaged entry, a file that is not an entry, and a temp file from an interrupted store.
  const fs::path junk = root / "v2" / "sm_90" / "bf16" / "v1000" / ("junk." + kDigestA + ".sjit");
  write_bytes(junk, {'n', 'o', 'p', 'e'});
  set_mtime(junk, base + 10000);  // newest
  write_bytes(root / "v2" / "README.txt", {'h', 'i'});
  write_bytes(root / "tmp" / "partial.XXXXXX", std::vector<char>(300, 'p'));

  auto listed = cache.list();
  REQUIRE(listed.size() == 6);
  std::size_t valid = 0;
  for (const auto& info : listed) {
    INFO(info.path.string() << ": " << info.problem);
    CHECK(info.bytes == fs::file_size(info.path));
    if (info.path == junk) {
      CHECK_FALSE(info.valid);
      CHECK_FALSE(info.problem.empty());
      CHECK(info.spec == "?");
      CHECK(info.digest == "?");
      CHECK(info.last_used == base + 10000);
      continue;
    }
    CHECK(info.valid);
    CHECK(info.problem.empty());
    auto it = std::find(digests.begin(), digests.end(), info.digest);
    REQUIRE(it != digests.end());
    const auto i = static_cast<std::size_t>(it - digests.begin());
    CHECK(info.spec == test_spec(1000 + static_cast<std::int64_t>(i % 2)).canonical());
    CHECK(info.last_used == base + static_cast<std::time_t>(i) * 100);
    ++valid;
  }
  CHECK(valid == 5);
  CHECK(cache.total_bytes() == entry_bytes + 4 + 300);

  // A valid entry copied under another key's name is reported, not trusted.
  const KernelSpec s0 = test_spec(1000);
  const fs::path misfiled = cache.entry_path(s0, kDigestB);
  fs::copy_file(cache.entry_path(s0, digests[0]), misfiled);
  listed = cache.list();
  auto mis = std::find_if(listed.begin(), listed.end(), [&](const auto& info) { return info.path == misfiled; });
  REQUIRE(mis != listed.end());
  CHECK_FALSE(mis->valid);
  CHECK(mis->digest == digests[0]);
  fs::remove(misfiled);
  fs::remove(junk);

  auto exists = [&](std::size_t i) {
    return fs::exists(cache.entry_path(test_spec(1000 + static_cast<std::int64_t>(i % 2)), digests[i]));
  };
  const std::uintmax_t one = entry_bytes / digests.size();  // all entries have the same size
  REQUIRE(one * digests.size() == entry_bytes);

  // Nothing to do when under budget.
  CHECK(cache.prune(entry_bytes + 300) == 0);
  // One byte over: only the least recently used entry goes.
  CHECK(cache.prune(entry_bytes + 300 - 1) == 1);
  CHECK_FALSE(exists(0));
  CHECK(exists(1));
  // Using entry 1 makes it the most recently used, so 2 and 3 go next.
  REQUIRE(cache.load(test_spec(1001), digests[1]).has_value());
  const std::uintmax_t budget = 2 * one + 300;
  CHECK(cache.prune(budget) == 2);
  CHECK(cache.total_bytes() <= budget);
  CHECK(exists(1));
  CHECK_FALSE(exists(2));
  CHECK_FALSE(exists(3));
  CHECK(exists(4));

  // Stale temp files (over an hour old) are swept by prune; fresh ones are left alone.
  set_mtime(root / "tmp" / "partial.XXXXXX", std::time(nullptr) - 7200);
  CHECK(cache.prune(budget) == 1);
  CHECK_FALSE(fs::exists(root / "tmp" / "partial.XXXXXX"));
  CHECK(cache.total_bytes() == 2 * one);

  // Everything goes when the budget is zero.
  CHECK(cache.prune(0) == 2);
  CHECK(cache.total_bytes() == 0);

  // clear removes entries and temp files but leaves the root (and foreign files).
  REQUIRE(cache.store(spec, kDigestA, make_entry(spec, kDigestA, make_payload(10, 1))));
  REQUIRE(cache.store(spec, kDigestB, make_entry(spec, kDigestB, make_payload(10, 2))));
  write_bytes(root / "tmp" / "partial.2", {'p'});
  CHECK(cache.clear() == 3);
  CHECK(cache.list().empty());
  CHECK(cache.total_bytes() == 0);
  CHECK(fs::is_directory(root));
  CHECK(fs::exists(root / "v2" / "README.txt"));
  CHECK_FALSE(fs::exists(root / "v2" / "sm_90"));  // empty directories are dropped
  CHECK_FALSE(cache.load(spec, kDigestA).has_value());
  CHECK(cache.clear() == 0);
  // The cache works again after a clear.
  REQUIRE(cache.store(spec, kDigestA, make_entry(spec, kDigestA, make_payload(10, 1))));
  CHECK(cache.load(spec, kDigestA).has_value());
}

TEST_CASE("disk cache: store sweeps temp files older than an hour", "[cache]") {
  TempDir tmp;
  const fs::path root = tmp.path / "cache";
  DiskCache cache(root);
  const KernelSpec spec = test_spec();
  fs::create_directories(root / "tmp");
  write_bytes(root / "tmp" / "stale", {'s'});
  write_bytes(root / "tmp" / "fresh", {'f'});
  set_mtime(root / "tmp" / "stale", std::time(nullptr) - 2 * 3600);
  set_mtime(root / "tmp" / "fresh", std::time(nullptr) - 30 * 60);
  REQUIRE(cache.store(spec, kDigestA, make_entry(spec, kDigestA, make_payload(10, 1))));
  CHECK_FALSE(fs::exists(root / "tmp" / "stale"));
  CHECK(fs::exists(root / "tmp" / "fresh"));
  CHECK(count_files(root / "tmp") == 1);
}

TEST_CASE("disk cache: default_root honours SAMPLEJIT_CACHE_DIR and XDG_CACHE_HOME", "[cache]") {
  TempDir tmp;
  {
    EnvGuard guard("SAMPLEJIT_CACHE_DIR");
    ::setenv("SAMPLEJIT_CACHE_DIR", "/some/explicit/cache dir", 1);
    CHECK(DiskCache::default_root() == fs::path("/some/explicit/cache dir"));
    ::setenv("SAMPLEJIT_CACHE_DIR", (tmp.path / "x").c_str(), 1);
    CHECK(DiskCache::default_root() == tmp.path / "x");
  }

  // The remaining rules depend on where the executable lives, so they run in helper processes: a
  // copy of this binary outside the build tree, and this binary itself.
  const fs::path exe = self_exe();
  const fs::path copy = tmp.path / "samplejit_tests_copy";
  fs::copy_file(exe, copy);
  fs::permissions(copy, fs::perms::owner_all);
  using Env = std::vector<std::pair<std::string, std::optional<std::string>>>;
  auto root_from = [&](const fs::path& program, Env env) {
    env.emplace_back(kChildModeVar, "root");
    env.emplace_back(kChildOutVar, (tmp.path / "root.txt").string());
    fs::remove(tmp.path / "root.txt");
    int rc = run_helper(program, env, tmp.path / "out.txt", tmp.path / "err.txt");
    INFO("helper stderr: " << read_text(tmp.path / "err.txt"));
    CHECK(rc == 0);
    return read_text(tmp.path / "root.txt");
  };
  const std::optional<std::string> unset;
  CHECK(root_from(copy, {{"SAMPLEJIT_CACHE_DIR", "/explicit"}, {"XDG_CACHE_HOME", "/xdg"}}) == "/explicit");
  CHECK(root_from(copy, {{"SAMPLEJIT_CACHE_DIR", unset}, {"XDG_CACHE_HOME", "/xdg"}, {"HOME", "/home/u"}}) ==
        "/xdg/samplejit");
  CHECK(root_from(copy, {{"SAMPLEJIT_CACHE_DIR", ""}, {"XDG_CACHE_HOME", "/xdg"}, {"HOME", "/home/u"}}) ==
        "/xdg/samplejit");
  CHECK(root_from(copy, {{"SAMPLEJIT_CACHE_DIR", unset}, {"XDG_CACHE_HOME", "relative/xdg"}, {"HOME", "/home/u"}}) ==
        "/home/u/.cache/samplejit");
  CHECK(root_from(copy, {{"SAMPLEJIT_CACHE_DIR", unset}, {"XDG_CACHE_HOME", unset}, {"HOME", "/home/u"}}) ==
        "/home/u/.cache/samplejit");
  CHECK(root_from(exe, {{"SAMPLEJIT_CACHE_DIR", "/explicit"}}) == "/explicit");
#ifdef SAMPLEJIT_SOURCE_DIR
  // Run from the build tree (inside the source tree), the source tree's cache/ wins over XDG.
  const std::string source_dir = SAMPLEJIT_SOURCE_DIR;
  if (exe.string().rfind(source_dir + "/", 0) == 0) {
    CHECK(root_from(exe, {{"SAMPLEJIT_CACHE_DIR", unset}, {"XDG_CACHE_HOME", "/xdg"}}) ==
          (fs::path(source_dir) / "cache").string());
  }
#endif
}

TEST_CASE("disk cache: bad digests are rejected with the argument and value named", "[cache]") {
  TempDir tmp;
  DiskCache cache(tmp.path / "cache");
  const KernelSpec spec = test_spec();
  const CacheEntry entry = make_entry(spec, kDigestA, make_payload(10, 1));
  const std::vector<std::string> bad = {"",
                                        "abc",
                                        "0123456789abcde",  // 15 chars
                                        std::string(65, 'a'),
                                        "0123456789abcdeg",
                                        "0123456789ABCDEF",
                                        "../../etc/passwd0000",
                                        "0123456789abcdef/0123456789abcdef"};
  auto check_throws = [](const std::string& digest, const std::function<void()>& call) {
    INFO("digest '" << digest << "'");
    try {
      call();
      FAIL("no exception");
    } catch (const samplejit::Error& e) {
      CHECK(e.code() == ErrorCode::InvalidArgument);
      const std::string what = e.what();
      CHECK_THAT(what, Catch::Matchers::Contains("digest"));
      CHECK_THAT(what, Catch::Matchers::Contains("'" + digest + "'"));
    }
  };
  for (const std::string& d : bad) {
    check_throws(d, [&] { (void)cache.entry_path(spec, d); });
    check_throws(d, [&] { (void)cache.load(spec, d); });
    check_throws(d, [&] {
      CacheEntry e = entry;
      e.meta["digest"] = d;
      (void)cache.store(spec, d, e);
    });
    check_throws(d, [&] { cache.remove(spec, d); });
  }
  // Accepted lengths: 16 and 64.
  CHECK_NOTHROW(cache.entry_path(spec, std::string(16, 'f')));
  CHECK_NOTHROW(cache.entry_path(spec, std::string(64, '0')));
  CHECK_FALSE(fs::exists(tmp.path / "cache"));

  // Metadata that does not name this spec and digest is refused by store().
  CacheEntry wrong = entry;
  wrong.meta["digest"] = kDigestB;
  CHECK_THROWS_AS(cache.store(spec, kDigestA, wrong), samplejit::Error);
  wrong = entry;
  wrong.meta.erase("spec");
  CHECK_THROWS_AS(cache.store(spec, kDigestA, wrong), samplejit::Error);
  wrong = entry;
  wrong.meta["spec"] = test_spec(5).canonical();
  CHECK_THROWS_WITH(cache.store(spec, kDigestA, wrong), Catch::Matchers::Contains("spec"));
  CHECK_FALSE(fs::exists(tmp.path / "cache"));
  CHECK(cache.store(spec, kDigestA, entry));
}

TEST_CASE("disk cache: side files round-trip, are published whole and reject bad names", "[cache]") {
  TempDir tmp;
  DiskCache cache(tmp.path / "cache");
  CHECK_FALSE(cache.read_side_file("nvrtc-0123.json").has_value());
  REQUIRE(cache.write_side_file("nvrtc-0123.json", "{\"a\": 1}\n"));
  CHECK(cache.read_side_file("nvrtc-0123.json") == std::optional<std::string>("{\"a\": 1}\n"));
  REQUIRE(cache.write_side_file("nvrtc-0123.json", "second"));
  CHECK(cache.read_side_file("nvrtc-0123.json") == std::optional<std::string>("second"));
  CHECK(fs::is_regular_file(tmp.path / "cache" / "toolchain" / "nvrtc-0123.json"));
  // Published through a temp file and a rename: none is left behind.
  CHECK(fs::is_empty(tmp.path / "cache" / "tmp"));
  // Side files are not entries.
  CHECK(cache.list().empty());
  CHECK(cache.total_bytes() == 0);

  const std::vector<std::string> bad_names{
      "", ".hidden", "../escape", "a/b", "UPPER", std::string(129, 'a'), std::string("nul\0x", 5)};
  for (const std::string& bad : bad_names) {
    INFO("name '" << bad << "'");
    try {
      (void)cache.read_side_file(bad);
      FAIL("no exception");
    } catch (const samplejit::Error& e) {
      CHECK(e.code() == ErrorCode::InvalidArgument);
      CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("name"));
    }
    CHECK_THROWS_AS(cache.write_side_file(bad, "x"), samplejit::Error);
  }
  CHECK_FALSE(fs::exists(tmp.path / "escape"));
}
