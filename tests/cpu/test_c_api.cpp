// Tests of the C ABI (include/samplejit/samplejit.h, src/c_api.cpp) that need no GPU. Assertions
// that only hold without a CUDA driver are skipped when /dev/nvidia0 exists.
#include <cstddef>
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "samplejit/samplejit.h"

namespace fs = std::filesystem;

namespace {

struct CApiTempDir {
  fs::path path;
  CApiTempDir() {
    std::string tmpl = (fs::temp_directory_path() / "samplejit-capi-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~CApiTempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  CApiTempDir(const CApiTempDir&) = delete;
  CApiTempDir& operator=(const CApiTempDir&) = delete;
};

// RAII for runtimes made in the tests.
struct RuntimeHolder {
  sj_runtime rt = nullptr;
  ~RuntimeHolder() { sj_runtime_destroy(rt); }
};

bool has_gpu() { return fs::exists("/dev/nvidia0"); }

std::string last_error() { return sj_last_error(); }

bool mentions(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

sj_kernel_desc valid_desc() {
  sj_kernel_desc d{};
  d.struct_size = sizeof(sj_kernel_desc);
  d.dtype = SJ_DTYPE_BF16;
  d.vocab = 32000;
  d.block = 0;
  d.mask = SJ_MASK_BITS;
  return d;
}

// A non-null handle value that must be overwritten with NULL by a failing call.
sj_kernel poison_kernel() { return reinterpret_cast<sj_kernel>(static_cast<std::uintptr_t>(0x1000)); }

}  // namespace

TEST_CASE("c_api version", "[c_api]") {
  CHECK(sj_abi_version() == SJ_ABI_VERSION);
  CHECK(SJ_ABI_VERSION == 1);
  REQUIRE(sj_version() != nullptr);
  CHECK(std::strlen(sj_version()) > 0);
  CHECK(sj_version() == sj_version());  // a stable pointer
  REQUIRE(sj_build_commit() != nullptr);
  CHECK(std::strlen(sj_build_commit()) > 0);
  CHECK(std::string(sj_version()).find(sj_build_commit()) == std::string::npos);  // not in the cache key
}

TEST_CASE("c_api runtime create and destroy", "[c_api]") {
  CApiTempDir tmp;

  CHECK(sj_runtime_create(nullptr, nullptr) == SJ_ERROR_INVALID_ARGUMENT);
  CHECK(mentions(last_error(), "out"));

  RuntimeHolder h;
  h.rt = reinterpret_cast<sj_runtime>(static_cast<std::uintptr_t>(0x1000));
  CHECK(sj_runtime_create("", &h.rt) == SJ_ERROR_INVALID_ARGUMENT);
  CHECK(mentions(last_error(), "cache_root"));
  CHECK(h.rt == nullptr);

  CHECK(sj_runtime_create((tmp.path / "cache").c_str(), &h.rt) == SJ_OK);
  CHECK(h.rt != nullptr);
  CHECK(last_error().empty());
  CHECK_FALSE(fs::exists(tmp.path / "cache"));  // nothing is created before the first store

  sj_runtime_destroy(h.rt);
  h.rt = nullptr;
  sj_runtime_destroy(nullptr);  // safe

  // NULL selects the default root; creating it needs no driver either.
  RuntimeHolder d;
  CHECK(sj_runtime_create(nullptr, &d.rt) == SJ_OK);
  CHECK(d.rt != nullptr);
}

TEST_CASE("c_api sj_prepare validates its arguments", "[c_api]") {
  CApiTempDir tmp;
  RuntimeHolder h;
  REQUIRE(sj_runtime_create(tmp.path.c_str(), &h.rt) == SJ_OK);

  sj_kernel k = poison_kernel();
  sj_kernel_desc d = valid_desc();

  SECTION("NULL out") {
    CHECK(sj_prepare(h.rt, &d, 0, nullptr) == SJ_ERROR_INVALID_ARGUMENT);
    CHECK(mentions(last_error(), "out"));
  }
  SECTION("NULL runtime") {
    CHECK(sj_prepare(nullptr, &d, 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
    CHECK(mentions(last_error(), "runtime"));
    CHECK(k == nullptr);
  }
  SECTION("NULL desc") {
    CHECK(sj_prepare(h.rt, nullptr, 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
    CHECK(mentions(last_error(), "desc"));
    CHECK(k == nullptr);
  }
  SECTION("struct_size too small") {
    d.struct_size = offsetof(sj_kernel_desc, cluster) - 1;  // a 0.2 desc without the cluster is still accepted
    CHECK(sj_prepare(h.rt, &d, 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
    CHECK(mentions(last_error(), "desc->struct_size"));
    CHECK(mentions(last_error(), std::to_string(offsetof(sj_kernel_desc, cluster) - 1)));
    CHECK(k == nullptr);
  }
  SECTION("a 0.1 caller's desc ends before the cluster, which may be garbage: auto") {
    d.struct_size = 40;  // sizeof(sj_kernel_desc) in 0.1; `cluster` was padding there
    d.cluster = 12345;
    CHECK(sizeof(sj_kernel_desc) > 40);
    const sj_status st = sj_prepare(h.rt, &d, 0, &k);
    CHECK(st != SJ_ERROR_INVALID_ARGUMENT);  // no GPU here: NOT_AVAILABLE; with one: SJ_OK
    if (st == SJ_OK) sj_kernel_release(k);
  }
  SECTION("bad cluster") {
    d.cluster = 3;
    CHECK(sj_prepare(h.rt, &d, 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
    CHECK(mentions(last_error(), "desc->cluster"));
    CHECK(mentions(last_error(), "'3'"));
    CHECK(k == nullptr);
  }
  SECTION("bad dtype") {
    d.dtype = static_cast<sj_dtype>(3);
    CHECK(sj_prepare(h.rt, &d, 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
    CHECK(mentions(last_error(), "desc->dtype"));
    CHECK(mentions(last_error(), "'3'"));
    CHECK(k == nullptr);
  }
  SECTION("dtype 7, as a C caller may pass it") {
    static_assert(sizeof(sj_dtype) == sizeof(int));
    const int seven = 7;
    std::memcpy(&d.dtype, &seven, sizeof seven);
    CHECK(sj_prepare(h.rt, &d, 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
    CHECK(mentions(last_error(), "desc->dtype"));
    CHECK(mentions(last_error(), "'7'"));
    CHECK(k == nullptr);
  }
  SECTION("bad mask") {
    d.mask = static_cast<sj_mask_kind>(3);
    CHECK(sj_prepare(h.rt, &d, 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
    CHECK(mentions(last_error(), "desc->mask"));
    CHECK(mentions(last_error(), "'3'"));
    CHECK(k == nullptr);
  }
  SECTION("vocab 0") {
    d.vocab = 0;
    CHECK(sj_prepare(h.rt, &d, 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
    CHECK(mentions(last_error(), "desc->vocab"));
    CHECK(mentions(last_error(), "'0'"));
    CHECK(k == nullptr);
  }
  SECTION("vocab 2^31") {
    d.vocab = INT64_C(2147483648);
    CHECK(sj_prepare(h.rt, &d, 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
    CHECK(mentions(last_error(), "desc->vocab"));
    CHECK(mentions(last_error(), "'2147483648'"));
    CHECK(k == nullptr);
  }
  SECTION("block 300") {
    d.block = 300;
    CHECK(sj_prepare(h.rt, &d, 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
    CHECK(mentions(last_error(), "desc->block"));
    CHECK(mentions(last_error(), "'300'"));
    CHECK(k == nullptr);
  }
  SECTION("valid desc without a driver") {
    if (has_gpu()) {
      WARN("skipped: /dev/nvidia0 exists");
      return;
    }
    CHECK(sj_prepare(h.rt, &d, 0, &k) == SJ_ERROR_NOT_AVAILABLE);
    const std::string e = last_error();
    CHECK((mentions(e, "driver") || mentions(e, "cuInit")));
    CHECK(k == nullptr);
  }
}

TEST_CASE("c_api sj_prepare_spec validates its arguments", "[c_api]") {
  CApiTempDir tmp;
  RuntimeHolder h;
  REQUIRE(sj_runtime_create(tmp.path.c_str(), &h.rt) == SJ_OK);
  sj_kernel k = poison_kernel();

  const char* malformed = "truncate-fp32-v32000-b256-cauto-boolmask";
  CHECK(sj_prepare_spec(h.rt, malformed, 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
  CHECK(mentions(last_error(), "spec"));
  CHECK(mentions(last_error(), std::string("'") + malformed + "'"));
  CHECK(k == nullptr);

  k = poison_kernel();
  CHECK(sj_prepare_spec(h.rt, "truncate-bf16-v0-b512-cauto-bitmask-sm_90", 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
  CHECK(mentions(last_error(), "vocab"));
  CHECK(k == nullptr);

  k = poison_kernel();
  CHECK(sj_prepare_spec(h.rt, nullptr, 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
  CHECK(mentions(last_error(), "spec"));
  CHECK(k == nullptr);

  k = poison_kernel();
  CHECK(sj_prepare_spec(nullptr, "truncate-bf16-v32000-b512-cauto-bitmask-sm_90", 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
  CHECK(mentions(last_error(), "runtime"));
  CHECK(k == nullptr);

  if (!has_gpu()) {
    k = poison_kernel();
    CHECK(sj_prepare_spec(h.rt, "truncate-bf16-v32000-b512-cauto-bitmask-sm_90", 0, &k) == SJ_ERROR_NOT_AVAILABLE);
    CHECK(k == nullptr);
  }
}

TEST_CASE("c_api kernel functions reject NULL kernels", "[c_api]") {
  char buf[128];
  std::memset(buf, 'x', sizeof buf);
  CHECK(sj_kernel_spec(nullptr, buf, sizeof buf) == SJ_ERROR_INVALID_ARGUMENT);
  CHECK(mentions(last_error(), "kernel"));
  CHECK(buf[0] == 'x');  // nothing written

  CHECK(sj_truncate(nullptr, nullptr, 0x1000, 32000, 1, 0, 0, 0) == SJ_ERROR_INVALID_ARGUMENT);
  CHECK(mentions(last_error(), "kernel"));

  sj_sample_args args{};
  args.struct_size = sizeof args;
  CHECK(sj_sample(nullptr, nullptr, &args) == SJ_ERROR_INVALID_ARGUMENT);
  CHECK(mentions(last_error(), "kernel"));

  sj_kernel_release(nullptr);  // safe
}

TEST_CASE("c_api sj_prepare rejects an unknown kind", "[c_api]") {
  sj_runtime rt = nullptr;
  REQUIRE(sj_runtime_create(nullptr, &rt) == SJ_OK);
  sj_kernel_desc d{};
  d.struct_size = sizeof d;
  d.dtype = SJ_DTYPE_BF16;
  d.vocab = 32000;
  d.mask = SJ_MASK_NONE;
  const int bad_kind = 9;
  std::memcpy(&d.kind, &bad_kind, sizeof bad_kind);
  sj_kernel k = reinterpret_cast<sj_kernel>(0x1);
  CHECK(sj_prepare(rt, &d, 0, &k) == SJ_ERROR_INVALID_ARGUMENT);
  CHECK(mentions(last_error(), "desc->kind"));
  CHECK(mentions(last_error(), "9"));
  CHECK(k == nullptr);
  sj_runtime_destroy(rt);
}

TEST_CASE("c_api sj_last_error is per thread and cleared by success", "[c_api]") {
  CApiTempDir tmp;
  RuntimeHolder h;
  REQUIRE(sj_runtime_create(tmp.path.c_str(), &h.rt) == SJ_OK);
  CHECK(last_error().empty());

  // An error on another thread is not visible here.
  std::string seen_in_thread, after_in_thread;
  sj_status st = SJ_OK;
  std::thread t([&] {
    after_in_thread = sj_last_error();  // fresh thread: no error yet
    st = sj_runtime_create("", nullptr);
    seen_in_thread = sj_last_error();
  });
  t.join();
  CHECK(st == SJ_ERROR_INVALID_ARGUMENT);
  CHECK(after_in_thread.empty());
  CHECK(mentions(seen_in_thread, "out"));
  CHECK(last_error().empty());

  // An error here is not visible on a new thread.
  CHECK(sj_kernel_spec(nullptr, nullptr, 0) == SJ_ERROR_INVALID_ARGUMENT);
  const std::string mine = last_error();
  CHECK(mentions(mine, "kernel"));
  std::string other = "unset";
  std::thread t2([&] { other = sj_last_error(); });
  t2.join();
  CHECK(other.empty());
  CHECK(last_error() == mine);  // and the other thread did not disturb it

  // A successful call clears it.
  RuntimeHolder h2;
  CHECK(sj_runtime_create(tmp.path.c_str(), &h2.rt) == SJ_OK);
  CHECK(last_error().empty());

  // A new failure replaces the old message rather than appending to it.
  RuntimeHolder h3;
  CHECK(sj_runtime_create("", &h3.rt) == SJ_ERROR_INVALID_ARGUMENT);
  CHECK(mentions(last_error(), "cache_root"));
  CHECK_FALSE(mentions(last_error(), "kernel"));
}
