// End-to-end tests of the `samplejit` CLI (tools/cli), run as a subprocess with its own cache root.
// None of these needs a GPU; the few assertions that only hold without one are skipped when
// /dev/nvidia0 exists.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "samplejit/jit.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace {

struct CliTempDir {
  fs::path path;
  CliTempDir() {
    std::string tmpl = (fs::temp_directory_path() / "samplejit-cli-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~CliTempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  CliTempDir(const CliTempDir&) = delete;
  CliTempDir& operator=(const CliTempDir&) = delete;
};

struct CliResult {
  int status = -1;  // exit code, or 128 + signal
  std::string out, err;
};

// Runs the CLI with `args`; SAMPLEJIT_CACHE_DIR is set to cache_root in the child's environment only,
// as is each "NAME=value" of extra_env (replacing the parent's NAME). `via`: another path to the
// CLI (a link) to execute it by, which is also its argv[0].
CliResult run_cli(const std::vector<std::string>& args, const fs::path& cache_root,
                  const std::vector<std::string>& extra_env = {}, const std::string& via = "") {
  const std::string exe = via.empty() ? std::string(SAMPLEJIT_CLI_PATH) : via;
  std::vector<std::string> argv_s{exe};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  const std::string var = "SAMPLEJIT_CACHE_DIR=";
  std::vector<std::string> replaced{var};
  for (const auto& e : extra_env) replaced.push_back(e.substr(0, e.find('=') + 1));
  std::vector<std::string> env_s;
  for (char** e = environ; e && *e; ++e)
    if (std::none_of(replaced.begin(), replaced.end(),
                     [&](const std::string& r) { return std::strncmp(*e, r.c_str(), r.size()) == 0; }))
      env_s.emplace_back(*e);
  env_s.push_back(var + cache_root.string());
  env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::execve(exe.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  CliResult r;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("poll failed");
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) throw std::runtime_error("waitpid failed");
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string describe(const CliResult& r) {
  return "exit " + std::to_string(r.status) + "\n--- stdout ---\n" + r.out + "--- stderr ---\n" + r.err;
}

bool has_gpu() { return fs::exists("/dev/nvidia0"); }

std::vector<fs::path> sjit_files(const fs::path& root) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file() && it->path().extension() == ".sjit") out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The progress line for `spec` in prewarm's output ("" if absent).
std::string progress_line(const std::string& out, const std::string& spec) {
  for (const auto& l : lines_of(out))
    if (l.find(" " + spec + " ") != std::string::npos) return l;
  return "";
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + needle.size())) ++n;
  return n;
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

std::vector<char> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::uint64_t le64(const std::vector<char>& b, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(b.at(at + i))) << (8 * i);
  return v;
}

const std::string kBitSpec = "truncate-bf16-v32000-b512-cauto-bitmask-sm_90";
const std::string kNoSpec = "truncate-bf16-v32000-b512-cauto-nomask-sm_90";

// Compiles bf16/v32000/sm_90 with the given masks into root; returns the result.
CliResult prewarm_bf16(const fs::path& root, const std::string& masks, const std::string& jobs = "1") {
  return run_cli({"prewarm", "--arch", "sm_90", "--dtype", "bf16", "--vocab", "32000", "--mask", masks, "--jobs", jobs}, root);
}

}  // namespace

TEST_CASE("cli prewarm compiles once, then hits the disk cache", "[cli]") {
  CliTempDir tmp;
  const fs::path root = tmp.path / "cache";
  const std::regex compiled_re(R"(^\[1/1\] truncate-bf16-v32000-b512-cauto-bitmask-sm_90\s+compiled\s+[0-9]+\.[0-9]+s\s*$)");
  const std::regex hit_re(R"(^\[1/1\] truncate-bf16-v32000-b512-cauto-bitmask-sm_90\s+hit\s+[0-9]+\.[0-9]+s\s*$)");

  const CliResult first = prewarm_bf16(root, "bitmask");
  INFO(describe(first));
  REQUIRE(first.status == 0);
  const std::string l1 = progress_line(first.out, kBitSpec);
  CHECK(std::regex_match(l1, compiled_re));
  CHECK(first.out.find("cache root: " + root.string()) != std::string::npos);

  const CliResult second = prewarm_bf16(root, "bitmask");
  INFO(describe(second));
  REQUIRE(second.status == 0);
  const std::string l2 = progress_line(second.out, kBitSpec);
  CHECK(std::regex_match(l2, hit_re));
  CHECK(second.out.find("compiled") == std::string::npos);

  const auto files = sjit_files(root);
  REQUIRE(files.size() == 1);
  CHECK(files[0].parent_path() == root / "v2" / "sm_90" / "bf16" / "v32000");
  CHECK(files[0].filename().string().rfind(kBitSpec + ".", 0) == 0);

  // --json reports the same hit as a machine-readable row.
  const CliResult js = run_cli({"prewarm", "--arch", "sm_90", "--dtype", "bf16", "--vocab", "32000", "--mask", "bitmask", "--json"}, root);
  INFO(describe(js));
  REQUIRE(js.status == 0);
  const auto rows = nlohmann::json::parse(js.out);
  REQUIRE(rows.is_array());
  REQUIRE(rows.size() == 1);
  CHECK(rows[0]["spec"] == kBitSpec);
  CHECK(rows[0]["result"] == "hit");
  CHECK(files[0].filename().string() == kBitSpec + "." + rows[0]["digest"].get<std::string>() + ".sjit");
}

namespace {
// The NVRTC stamp files under a cache root (src/toolchain.cpp).
std::vector<fs::path> stamp_files(const fs::path& root) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root / "toolchain", ec)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

nlohmann::json prewarm_row(const fs::path& root, const std::vector<std::string>& env = {},
                           const std::string& via = "") {
  const CliResult r = run_cli({"prewarm", "--arch", "sm_90", "--dtype", "bf16", "--vocab", "32000", "--mask", "nomask",
                               "--kind", "truncate", "--json"},
                              root, env, via);
  INFO(describe(r));
  REQUIRE(r.status == 0);
  const auto rows = nlohmann::json::parse(r.out);
  REQUIRE(rows.size() == 1);
  return rows[0];
}
}  // namespace

TEST_CASE("cli prewarm: a warm start keys from the NVRTC stamp and does not load NVRTC", "[cli][cache]") {
  CliTempDir tmp;
  const fs::path root = tmp.path / "cache";
  const samplejit::NvrtcInfo& nvrtc = samplejit::nvrtc_info();  // this process may load it; the CLI's may not

  const auto first = prewarm_row(root);
  CHECK(first["result"] == "compiled");
  CHECK(first["nvrtc_loaded"] == true);
  const std::string digest = first["digest"];
  auto stamps = stamp_files(root);
  REQUIRE(stamps.size() == 1);
  CHECK(std::regex_match(stamps[0].filename().string(), std::regex("nvrtc-[0-9a-f]{32}\\.json")));
  nlohmann::json stamp = nlohmann::json::parse(read_bytes(stamps[0]));
  CHECK(stamp["major"] == nvrtc.major);
  CHECK(stamp["minor"] == nvrtc.minor);
  CHECK(stamp["archs"].get<std::vector<int>>() == nvrtc.archs);

  // Warm: the same key, and libnvrtc never mapped.
  const auto warm = prewarm_row(root);
  CHECK(warm["result"] == "hit");
  CHECK(warm["digest"] == digest);
  CHECK(warm["nvrtc_loaded"] == false);

  // The same program started by another path (here a link: argv[0] differs) is the same loader state.
  const fs::path link = tmp.path / "sj";
  fs::create_symlink(SAMPLEJIT_CLI_PATH, link);
  CHECK(prewarm_row(root, {}, link.string())["nvrtc_loaded"] == false);
  CHECK(stamp_files(root).size() == 1);

  // Each step below leaves a valid stamp behind for the next (one compile for the whole case).
  // A stale stamp: NVRTC is asked on the miss, the true key hits and the stamp is corrected.
  stamp["minor"] = nvrtc.minor + 7;
  write_text(stamps[0], stamp.dump());
  auto row = prewarm_row(root);
  CHECK(row["result"] == "hit");
  CHECK(row["digest"] == digest);
  CHECK(row["nvrtc_loaded"] == true);
  stamp = nlohmann::json::parse(read_bytes(stamps[0]));
  CHECK(stamp["minor"] == nvrtc.minor);
  CHECK(prewarm_row(root)["nvrtc_loaded"] == false);
  CHECK(sjit_files(root).size() == 1);  // nothing compiled or stored under the stale key

  // A library file that changed since the stamp was written is not trusted.
  stamp["file_identity"] = stamp["file_identity"].get<std::string>() + "0";
  write_text(stamps[0], stamp.dump());
  row = prewarm_row(root);
  CHECK(row["result"] == "hit");
  CHECK(row["nvrtc_loaded"] == true);
  CHECK(prewarm_row(root)["nvrtc_loaded"] == false);  // rewritten

  // An unreadable stamp is ignored and rewritten.
  write_text(stamps[0], "{\"schema\": 1, \"major\":");
  CHECK(prewarm_row(root)["nvrtc_loaded"] == true);
  CHECK(prewarm_row(root)["nvrtc_loaded"] == false);

  // Another loader state has a stamp of its own.
  const fs::path lib_dir = tmp.path / "libdir";
  fs::create_directories(lib_dir);
  const std::vector<std::string> env{"LD_LIBRARY_PATH=" + lib_dir.string()};
  CHECK(prewarm_row(root, env)["nvrtc_loaded"] == true);
  CHECK(stamp_files(root).size() == 2);
  CHECK(prewarm_row(root, env)["nvrtc_loaded"] == false);
  // A file appearing in a searched directory could be another libnvrtc: the stamp no longer applies.
  write_text(lib_dir / "libunrelated.so", "");
  CHECK(prewarm_row(root, env)["nvrtc_loaded"] == true);
  CHECK(stamp_files(root).size() == 3);
  CHECK(prewarm_row(root)["nvrtc_loaded"] == false);  // the first state's stamp still answers

  // cache clear removes the stamps with the entries.
  const CliResult cleared = run_cli({"cache", "clear"}, root);
  INFO(describe(cleared));
  REQUIRE(cleared.status == 0);
  CHECK(stamp_files(root).empty());
  CHECK_FALSE(fs::exists(root / "toolchain"));
}

TEST_CASE("cli prewarm --model-config expands dtype x vocab x archs", "[cli]") {
  CliTempDir tmp;
  const fs::path root = tmp.path / "cache";
  const fs::path config = tmp.path / "config.json";
  write_text(config, R"({"architectures": ["GPT2LMHeadModel"], "vocab_size": 50257, "torch_dtype": "float32"})");

  const CliResult r = run_cli({"prewarm", "--model-config", config.string(), "--arch", "sm_80,sm_90", "--mask", "nomask", "--jobs", "2"}, root);
  INFO(describe(r));
  REQUIRE(r.status == 0);
  std::set<std::string> indices;
  for (const std::string spec : {"truncate-fp32-v50257-b512-cauto-nomask-sm_80", "truncate-fp32-v50257-b512-cauto-nomask-sm_90"}) {
    const std::string line = progress_line(r.out, spec);
    INFO(spec);
    REQUIRE(!line.empty());
    std::smatch m;
    REQUIRE(std::regex_match(line, m, std::regex(R"(^\[([0-9]+/[0-9]+)\] \S+\s+compiled\s+[0-9.]+s\s*$)")));
    indices.insert(m[1].str());
  }
  CHECK(indices == std::set<std::string>{"1/2", "2/2"});
  CHECK(count_of(r.out, "compiled") == 2);

  const auto files = sjit_files(root);
  REQUIRE(files.size() == 2);
  CHECK(files[0].parent_path() == root / "v2" / "sm_80" / "fp32" / "v50257");
  CHECK(files[1].parent_path() == root / "v2" / "sm_90" / "fp32" / "v50257");
}

TEST_CASE("cli prewarm --model-config rejects bad configs", "[cli]") {
  CliTempDir tmp;
  const fs::path root = tmp.path / "cache";

  SECTION("no torch_dtype") {
    const fs::path config = tmp.path / "no-dtype.json";
    write_text(config, R"({"vocab_size": 50257})");
    const CliResult r = run_cli({"prewarm", "--model-config", config.string(), "--arch", "sm_90"}, root);
    INFO(describe(r));
    CHECK(r.status != 0);
    CHECK(r.err.find("torch_dtype") != std::string::npos);
    CHECK(r.err.find(config.string()) != std::string::npos);
  }
  SECTION("unsupported torch_dtype") {
    const fs::path config = tmp.path / "int8.json";
    write_text(config, R"({"vocab_size": 50257, "torch_dtype": "int8"})");
    const CliResult r = run_cli({"prewarm", "--model-config", config.string(), "--arch", "sm_90"}, root);
    INFO(describe(r));
    CHECK(r.status != 0);
    CHECK(r.err.find("torch_dtype") != std::string::npos);
    CHECK(r.err.find("'int8'") != std::string::npos);
  }
  SECTION("no vocab_size") {
    const fs::path config = tmp.path / "no-vocab.json";
    write_text(config, R"({"torch_dtype": "bfloat16"})");
    const CliResult r = run_cli({"prewarm", "--model-config", config.string(), "--arch", "sm_90"}, root);
    INFO(describe(r));
    CHECK(r.status != 0);
    CHECK(r.err.find("vocab_size") != std::string::npos);
    CHECK(r.err.find(config.string()) != std::string::npos);
  }
  SECTION("not JSON") {
    const fs::path config = tmp.path / "broken.json";
    write_text(config, "{\"vocab_size\": ");
    const CliResult r = run_cli({"prewarm", "--model-config", config.string(), "--arch", "sm_90"}, root);
    INFO(describe(r));
    CHECK(r.status != 0);
    CHECK(r.err.find("JSON") != std::string::npos);
    CHECK(r.err.find(config.string()) != std::string::npos);
  }
  SECTION("missing file") {
    const fs::path config = tmp.path / "does-not-exist.json";
    const CliResult r = run_cli({"prewarm", "--model-config", config.string(), "--arch", "sm_90"}, root);
    INFO(describe(r));
    CHECK(r.status != 0);
    CHECK(r.err.find("--model-config") != std::string::npos);
    CHECK(r.err.find(config.string()) != std::string::npos);
  }
  CHECK(sjit_files(root).empty());
  CHECK_FALSE(fs::exists(root));
}

TEST_CASE("cli prewarm rejects bad arguments, naming argument and value", "[cli]") {
  CliTempDir tmp;
  const fs::path root = tmp.path / "cache";
  struct Case {
    std::vector<std::string> args;
    std::string argument, value;
  };
  const std::vector<Case> cases = {
      {{"--arch", "sm_90", "--dtype", "fp64", "--vocab", "32000"}, "dtype", "'fp64'"},
      {{"--arch", "sm_90", "--dtype", "bf16", "--vocab", "0"}, "vocab", "'0'"},
      {{"--arch", "sm_90", "--dtype", "bf16", "--vocab", "2147483648"}, "vocab", "'2147483648'"},
      {{"--arch", "sm_90", "--dtype", "bf16", "--vocab", "32000", "--block", "300"}, "block", "'300'"},
      {{"--arch", "sm90", "--dtype", "bf16", "--vocab", "32000"}, "arch", "'sm90'"},
      {{"--arch", "sm_90", "--dtype", "bf16", "--vocab", "32000", "--mask", "bytemask"}, "mask", "'bytemask'"},
      {{"--arch", "sm_90", "--dtype", "bf16", "--vocab", "32000", "--jobs", "0"}, "--jobs", "'0'"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args{"prewarm"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const CliResult r = run_cli(args, root);
    INFO(c.argument << " " << c.value << "\n" << describe(r));
    CHECK(r.status != 0);
    CHECK(r.err.find(c.argument) != std::string::npos);
    CHECK(r.err.find(c.value) != std::string::npos);
    CHECK(r.out.find("compiled") == std::string::npos);
  }
  CHECK(sjit_files(root).empty());
}

TEST_CASE("cli cache ls, verify, prune and clear", "[cli]") {
  CliTempDir tmp;
  const fs::path root = tmp.path / "cache";
  {
    const CliResult r = prewarm_bf16(root, "bitmask,nomask", "2");
    INFO(describe(r));
    REQUIRE(r.status == 0);
  }
  const auto files = sjit_files(root);
  REQUIRE(files.size() == 2);

  SECTION("ls") {
    const CliResult r = run_cli({"cache", "ls"}, root);
    INFO(describe(r));
    REQUIRE(r.status == 0);
    const std::regex entry_re(R"(^truncate-bf16-v32000-b512-cauto-(bit|no)mask-sm_90\s+[0-9a-f]{32}\s+[0-9]+ B\s*$)");
    std::set<std::string> listed;
    for (const auto& l : lines_of(r.out))
      if (std::regex_match(l, entry_re)) listed.insert(l.substr(0, l.find(' ')));
    CHECK(listed == std::set<std::string>{kBitSpec, kNoSpec});
    CHECK(r.out.find("INVALID") == std::string::npos);
    CHECK(r.out.find("2 entries, 0 invalid") != std::string::npos);
    CHECK(r.out.find(root.string()) != std::string::npos);
  }

  SECTION("ls --json") {
    const CliResult r = run_cli({"cache", "ls", "--json"}, root);
    INFO(describe(r));
    REQUIRE(r.status == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j.at("root") == root.string());
    const auto& entries = j.at("entries");
    REQUIRE(entries.is_array());
    REQUIRE(entries.size() == 2);
    std::set<std::string> specs;
    for (const auto& e : entries) {
      specs.insert(e.at("spec").get<std::string>());
      const fs::path p = e.at("path").get<std::string>();
      CHECK(e.at("valid") == true);
      CHECK(std::regex_match(e.at("digest").get<std::string>(), std::regex("[0-9a-f]{32}")));
      CHECK(p.filename().string() == e.at("spec").get<std::string>() + "." + e.at("digest").get<std::string>() + ".sjit");
      CHECK(e.at("bytes").get<std::uintmax_t>() == fs::file_size(p));
      CHECK(e.at("bytes").get<std::uintmax_t>() > 48);
    }
    CHECK(specs == std::set<std::string>{kBitSpec, kNoSpec});
  }

  SECTION("verify: good cache, then one corrupted payload byte") {
    const CliResult good = run_cli({"cache", "verify"}, root);
    INFO(describe(good));
    CHECK(good.status == 0);
    CHECK(count_of(good.out, "ok ") == 2);
    CHECK(good.out.find("INVALID") == std::string::npos);

    // Flip one byte in the middle of the payload of the bitmask entry.
    const fs::path victim = files[0].filename().string().rfind(kBitSpec, 0) == 0 ? files[0] : files[1];
    const fs::path other = victim == files[0] ? files[1] : files[0];
    std::vector<char> bytes = read_bytes(victim);
    REQUIRE(bytes.size() > 48);
    const std::uint64_t meta_len = le64(bytes, 16), payload_len = le64(bytes, 24);
    REQUIRE(payload_len > 0);
    REQUIRE(48 + meta_len + payload_len == bytes.size());
    const std::size_t at = static_cast<std::size_t>(48 + meta_len + payload_len / 2);
    bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
    {
      std::ofstream f(victim, std::ios::binary | std::ios::trunc);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      REQUIRE(f.good());
    }

    const CliResult bad = run_cli({"cache", "verify"}, root);
    INFO(describe(bad));
    CHECK(bad.status != 0);
    bool reported = false;
    for (const auto& l : lines_of(bad.out))
      if (l.rfind("INVALID", 0) == 0 && l.find(victim.string()) != std::string::npos) {
        reported = true;
        CHECK(l.find("checksum") != std::string::npos);
      }
    CHECK(reported);
    CHECK(count_of(bad.out, "INVALID") == 1);
    CHECK(bad.out.find("ok      " + other.string()) != std::string::npos);
    CHECK(bad.out.find("2 entries, 1 invalid") != std::string::npos);
    CHECK(fs::exists(victim));  // verify reports; it does not delete

    const CliResult js = run_cli({"cache", "ls", "--json"}, root);
    INFO(describe(js));
    REQUIRE(js.status == 0);
    const auto j = nlohmann::json::parse(js.out);
    for (const auto& e : j.at("entries")) {
      const bool is_victim = fs::path(e.at("path").get<std::string>()) == victim;
      CHECK(e.at("valid") == !is_victim);
      if (is_victim) CHECK(e.at("problem").get<std::string>().find("checksum") != std::string::npos);
    }
  }

  SECTION("prune") {
    const CliResult missing = run_cli({"cache", "prune"}, root);
    INFO(describe(missing));
    CHECK(missing.status != 0);
    CHECK(missing.err.find("--max-bytes") != std::string::npos);
    CHECK(sjit_files(root).size() == 2);

    const CliResult roomy = run_cli({"cache", "prune", "--max-bytes", "1000000000"}, root);
    INFO(describe(roomy));
    CHECK(roomy.status == 0);
    CHECK(roomy.out.find("removed 0 entries") != std::string::npos);
    CHECK(sjit_files(root).size() == 2);

    const CliResult zero = run_cli({"cache", "prune", "--max-bytes", "0"}, root);
    INFO(describe(zero));
    CHECK(zero.status == 0);
    CHECK(zero.out.find("removed 2 entries; 0 bytes remain") != std::string::npos);
    CHECK(sjit_files(root).empty());
    const auto j = nlohmann::json::parse(run_cli({"cache", "ls", "--json"}, root).out);
    CHECK(j.at("entries").empty());
  }

  SECTION("clear") {
    const CliResult r = run_cli({"cache", "clear"}, root);
    INFO(describe(r));
    CHECK(r.status == 0);
    CHECK(r.out.find("removed 2 files") != std::string::npos);
    CHECK(sjit_files(root).empty());
    const CliResult ls = run_cli({"cache", "ls"}, root);
    CHECK(ls.status == 0);
    CHECK(ls.out.find("0 entries, 0 invalid, 0 bytes") != std::string::npos);
    // A second prewarm compiles again.
    const CliResult again = prewarm_bf16(root, "bitmask");
    INFO(describe(again));
    CHECK(again.status == 0);
    CHECK(progress_line(again.out, kBitSpec).find("compiled") != std::string::npos);
  }

  SECTION("unknown action") {
    const CliResult r = run_cli({"cache", "shred"}, root);
    INFO(describe(r));
    CHECK(r.status != 0);
    CHECK(r.err.find("shred") != std::string::npos);
    CHECK(sjit_files(root).size() == 2);
  }
}

TEST_CASE("cli render prints the instantiated source", "[cli]") {
  CliTempDir tmp;
  const fs::path root = tmp.path / "cache";
  const CliResult r = run_cli({"render", "truncate-fp32-v32000-b256-cauto-boolmask-sm_80"}, root);
  INFO(describe(r));
  CHECK(r.status == 0);
  CHECK(r.out.find("sj::truncate_kernel<sj::kF32, 32000, 256, 1, sj::kMaskBool>") != std::string::npos);
  CHECK(!fs::exists(root));  // rendering compiles nothing

  const CliResult other = run_cli({"render", "truncate-bf16-v151936-b512-cauto-bitmask-sm_90"}, root);
  INFO(describe(other));
  CHECK(other.status == 0);
  CHECK(other.out.find("sj::truncate_kernel<sj::kBF16, 151936, 512, 8, sj::kMaskBits>") != std::string::npos);
  CHECK(other.out.find("sj::truncate_kernel<sj::kF32, 32000") == std::string::npos);

  const std::string bad_spec = "truncate-fp32-v32000-b256-cauto-boolmask";
  const CliResult bad = run_cli({"render", bad_spec}, root);
  INFO(describe(bad));
  CHECK(bad.status != 0);
  CHECK(bad.err.find("spec") != std::string::npos);
  CHECK(bad.err.find("'" + bad_spec + "'") != std::string::npos);
  CHECK(bad.out.find("truncate_kernel") == std::string::npos);
}

TEST_CASE("cli info reports NVRTC, driver, devices and cache root", "[cli]") {
  CliTempDir tmp;
  const fs::path root = tmp.path / "cache";
  const CliResult text = run_cli({"info"}, root);
  INFO(describe(text));
  CHECK(text.status == 0);
  CHECK(text.out.find("samplejit ") != std::string::npos);
  CHECK(text.out.find("nvrtc:") != std::string::npos);
  CHECK(text.out.find(root.string()) != std::string::npos);

  const CliResult r = run_cli({"info", "--json"}, root);
  INFO(describe(r));
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j.at("cache_root") == root.string());
  CHECK(j.at("cache_bytes") == 0);
  // The commit the binary was built from: a checkout's short hash (a clean clone in CI), with
  // "-dirty" for uncommitted changes to tracked files, or "unknown" outside git.
  const std::string commit = j.at("build_commit").get<std::string>();
  CHECK(std::regex_match(commit, std::regex("[0-9a-f]{7,40}(-dirty|-unknown-state)?|unknown")));
  CHECK(text.out.find("(commit " + commit + ")") != std::string::npos);
  REQUIRE(j.at("nvrtc").contains("version"));
  CHECK(std::regex_match(j["nvrtc"]["version"].get<std::string>(), std::regex("[0-9]+\\.[0-9]+")));
  CHECK(j.at("devices").is_array());
  if (!has_gpu()) {
    CHECK(j.at("devices") == nlohmann::json::array());
    REQUIRE(j.at("driver").contains("error"));
    const std::string e = j["driver"]["error"].get<std::string>();
    CHECK((e.find("CUDA driver") != std::string::npos || e.find("cuInit") != std::string::npos));
    CHECK(text.out.find("devices: none") != std::string::npos);
  }
}

TEST_CASE("cli verify and truncate fail clearly without a CUDA driver", "[cli]") {
  if (has_gpu()) {
    WARN("skipped: /dev/nvidia0 exists");
    return;
  }
  CliTempDir tmp;
  const fs::path root = tmp.path / "cache";
  for (const std::string cmd : {"verify", "truncate"}) {
    const CliResult r = run_cli({cmd, "--dtype", "bf16", "--vocab", "32000"}, root);
    INFO(cmd << "\n" << describe(r));
    CHECK(r.status != 0);
    CHECK((r.err.find("CUDA driver") != std::string::npos || r.err.find("cuInit") != std::string::npos));
    CHECK(sjit_files(root).empty());
  }
}

TEST_CASE("cli verify names --kind sample as unsupported before touching the driver", "[cli]") {
  CliTempDir tmp;
  const fs::path root = tmp.path / "cache";
  for (const std::string kinds : {"sample", "truncate,sample"}) {
    const CliResult r = run_cli({"verify", "--kind", kinds, "--dtype", "bf16", "--vocab", "32000"}, root);
    INFO(kinds << "\n" << describe(r));
    CHECK(r.status == 2);
    CHECK(r.err.find("--kind") != std::string::npos);
    CHECK(r.err.find("'sample'") != std::string::npos);
    CHECK(r.err.find("samplejit_gpu_tests") != std::string::npos);
    CHECK(r.err.find("CUDA driver") == std::string::npos);
    CHECK(sjit_files(root).empty());
  }
  const CliResult help = run_cli({"verify", "--help"}, root);
  CHECK(help.status == 0);
  CHECK(help.out.find("truncate only") != std::string::npos);
}

TEST_CASE("cli prewarm with an unwritable cache root warns once and keeps going", "[cli]") {
  CliTempDir tmp;
  write_text(tmp.path / "file", "not a directory\n");
  const fs::path root = tmp.path / "file" / "cache";
  const CliResult r = prewarm_bf16(root, "bitmask,nomask", "2");
  INFO(describe(r));
  CHECK(r.status == 0);
  CHECK(count_of(r.err, "not writable") == 1);
  CHECK(r.err.find(root.string()) != std::string::npos);
  CHECK(progress_line(r.out, kBitSpec).find("compiled") != std::string::npos);
  CHECK(progress_line(r.out, kNoSpec).find("compiled") != std::string::npos);
  CHECK(fs::is_regular_file(tmp.path / "file"));
}
