// compiled binary -> loaded library -> launch, with the in-memory caches:
//   compiled binaries per key digest (a key is compiled once, however many threads ask),
//   loaded kernels per (device uuid, digest), primary contexts per device.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <tuple>

#include <fmt/format.h>

#include "dynload.hpp"
#include "sample_params.hpp"
#include "toolchain.hpp"
#include "samplejit/disk_cache.hpp"
#include "samplejit/samplejit.hpp"

namespace samplejit {

std::string_view to_string(Source s) {
  switch (s) {
    case Source::Memory: return "memory";
    case Source::Disk: return "hit";
    case Source::Compiled: return "compiled";
  }
  return "?";
}

struct Kernel::Impl {
  KernelSpec spec;
  DeviceInfo device;
  std::string digest;
  Source source = Source::Compiled;
  CUcontext context = nullptr;  // the device's primary context (retained by the runtime)
  std::vector<CUlibrary> libraries;  // one per NVRTC program of the module (program_count())
  // The module's row kernels, largest cluster first (KernelSpec::row_clusters(), less any whose
  // shared memory this device cannot give).
  struct RowKernel {
    int cluster = 1;            // CTAs per row
    CUkernel kernel = nullptr;
    unsigned shared_bytes = 0;  // dynamic shared memory per CTA
  };
  std::vector<RowKernel> kernels;
  std::vector<int> clusters;    // parallel to kernels, for auto_row_cluster
  bool short_rows = false;      // spec.short_rows(), for auto_row_cluster
  CUkernel csr_pack = nullptr;  // sample specs only

  const RowKernel& row_kernel(std::int64_t rows, bool k_on, bool p_on) const {
    if (kernels.size() == 1) return kernels.front();
    const int c = auto_row_cluster(clusters, rows, device.sm_count, k_on, p_on, short_rows);
    for (const RowKernel& r : kernels)
      if (r.cluster == c) return r;
    return kernels.back();  // auto_row_cluster picks from `clusters`; 1 is always last
  }

  // A thread with no current context gets the kernel's; another device's context is an error.
  void make_current() const {
    const auto& cu = detail::driver();
    CUcontext current = nullptr;
    SAMPLEJIT_CU_CALL(cu.ctxGetCurrent(&current));
    if (!current) {
      SAMPLEJIT_CU_CALL(cu.ctxSetCurrent(context));
    } else if (current != context) {
      CUdevice dev = -1;
      SAMPLEJIT_CU_CALL(cu.ctxGetDevice(&dev));
      if (dev != device.ordinal)
        throw_invalid("current device", std::to_string(dev),
                      fmt::format("kernel was prepared for device {}; make that device current", device.ordinal));
    }
  }

  // A device array of T must start on a T boundary: a misaligned load is a launch failure that
  // poisons the context, so it is refused here with the argument's name.
  static void check_aligned(const char* name, CUdeviceptr p, std::size_t align, const char* type) {
    if (p % align != 0)
      throw_invalid(name, fmt::format("{:#x}", p), fmt::format("a {} array must be {}-byte aligned", type, align));
  }

  // Checks what launch() and sample() share. Returns false when there is nothing to launch (B = 0).
  bool check_launch(Kind kind, std::int64_t batch, std::int64_t row_stride, CUdeviceptr logits, CUdeviceptr mask,
                    const char* mask_name) const {
    if (spec.kind != kind)
      throw_invalid("kernel", spec.canonical(),
                    kind == Kind::Truncate ? "launch() runs truncate kernels; use sample() for sample kernels"
                                           : "sample() needs a sample-... spec (KernelSpec::kind = Kind::Sample)");
    if (batch < 0 || batch > INT_MAX) throw_invalid("batch", std::to_string(batch), "must be in [0, 2147483647]");
    if (row_stride < spec.vocab)
      throw_invalid("row_stride", std::to_string(row_stride), fmt::format("must be >= vocab ({})", spec.vocab));
    if (batch == 0) return false;
    if (logits == 0) throw_invalid("logits", "0", "null device pointer with batch > 0");
    // The kernels read whole elements (and 16-byte chunks from the first aligned one on), so a
    // pointer inside an element would fault or read torn values.
    if (const std::size_t es = dtype_size(spec.dtype); logits % es != 0)
      throw_invalid("logits", fmt::format("{:#x}", logits),
                    fmt::format("must be aligned to the {}-byte {} element", es, to_string(spec.dtype)));
    if (spec.mask == MaskKind::Bits && mask % 4 != 0)
      throw_invalid(mask_name, fmt::format("{:#x}", mask), "the bit mask is written as uint32 words; align it to 4 bytes");
    if (spec.mask != MaskKind::None && mask == 0)
      throw_invalid(mask_name, "0", fmt::format("spec {} writes a mask; pass its buffer", spec.canonical()));
    if (spec.mask == MaskKind::None && mask != 0)
      throw_invalid(mask_name, fmt::format("{:#x}", mask),
                    fmt::format("spec {} has no mask output; prepare a boolmask or bitmask spec", spec.canonical()));
    return true;
  }

  // One CTA per row, or one cluster of `cluster` CTAs per row with the slice in dynamic shared
  // memory; an auto spec picks by batch (auto_row_cluster; k_on / p_on: per-row k / p passed).
  void launch_rows(CUstream stream, std::int64_t rows, bool k_on, bool p_on, void** args) const {
    const auto& cu = detail::driver();
    const RowKernel& rk = row_kernel(rows, k_on, p_on);
    const int c = rk.cluster;
    if (c <= 1) {
      SAMPLEJIT_CU_CALL(cu.launchKernel(reinterpret_cast<CUfunction>(rk.kernel), static_cast<unsigned>(rows), 1, 1,
                                        static_cast<unsigned>(spec.block), 1, 1, 0, stream, args, nullptr));
      return;
    }
    if (rows > INT_MAX / c)
      throw_invalid("batch", std::to_string(rows),
                    fmt::format("must be at most {} for a cluster of {} CTAs per row", INT_MAX / c, c));
    CUlaunchAttribute attr{};
    attr.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    attr.value.clusterDim.x = static_cast<unsigned>(c);
    attr.value.clusterDim.y = 1;
    attr.value.clusterDim.z = 1;
    CUlaunchConfig config{};
    config.gridDimX = static_cast<unsigned>(rows * c);
    config.gridDimY = config.gridDimZ = 1;
    config.blockDimX = static_cast<unsigned>(spec.block);
    config.blockDimY = config.blockDimZ = 1;
    config.sharedMemBytes = rk.shared_bytes;
    config.hStream = stream;
    config.attrs = &attr;
    config.numAttrs = 1;
    SAMPLEJIT_CU_CALL(cu.launchKernelEx(&config, reinterpret_cast<CUfunction>(rk.kernel), args, nullptr));
  }

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (detail::driver_available())
      for (CUlibrary l : libraries) detail::driver().libraryUnload(l);  // best effort at exit
  }
};

const KernelSpec& Kernel::spec() const { return impl_->spec; }
const DeviceInfo& Kernel::device() const { return impl_->device; }
const std::string& Kernel::digest() const { return impl_->digest; }
Source Kernel::source() const { return impl_->source; }

int Kernel::row_cluster(std::int64_t batch, bool top_k, bool top_p) const {
  if (!impl_) throw_invalid("kernel", "null", "row_cluster() on an empty Kernel handle; call Runtime::prepare first");
  const bool sample = impl_->spec.kind == Kind::Sample;
  return impl_->row_kernel(batch, top_k || sample, top_p || sample).cluster;
}

void Kernel::launch(CUstream stream, CUdeviceptr logits, std::int64_t row_stride, std::int64_t batch,
                    CUdeviceptr top_k, CUdeviceptr top_p, CUdeviceptr mask_out) const {
  if (!impl_) throw_invalid("kernel", "null", "launch() on an empty Kernel handle; call Runtime::prepare first");
  if (!impl_->check_launch(Kind::Truncate, batch, row_stride, logits, mask_out, "mask_out")) return;
  impl_->make_current();
  void* p_logits = reinterpret_cast<void*>(logits);
  long long stride = row_stride;
  int rows = static_cast<int>(batch);
  impl_->check_aligned("top_k", top_k, 4, "int32");
  impl_->check_aligned("top_p", top_p, 4, "float32");
  void* p_k = reinterpret_cast<void*>(top_k);
  void* p_p = reinterpret_cast<void*>(top_p);
  void* p_mask = reinterpret_cast<void*>(mask_out);
  void* args[] = {&p_logits, &stride, &rows, &p_k, &p_p, &p_mask};
  impl_->launch_rows(stream, rows, top_k != 0, top_p != 0, args);
}

void Kernel::sample(CUstream stream, const SampleArgs& a) const {
  if (!impl_) throw_invalid("kernel", "null", "sample() on an empty Kernel handle; call Runtime::prepare first");
  if (!impl_->check_launch(Kind::Sample, a.batch, a.row_stride, a.logits, a.mask, "mask")) return;
  if ((a.kept_ids != 0) != (a.kept_ids_capacity > 0))
    throw_invalid("kept_ids_capacity", std::to_string(a.kept_ids_capacity),
                  "must be > 0 exactly when kept_ids is given");
  if ((a.csr_offsets != 0) != (a.csr_ids != 0))
    throw_invalid(a.csr_offsets ? "csr_ids" : "csr_offsets", "0", "CSR output needs both csr_offsets and csr_ids");
  if (a.csr_offsets && (!a.kept_ids || !a.kept_count))
    throw_invalid("kept_ids", "0", "CSR output is packed from kept_ids and kept_count; pass both");
  for (auto [name, p, align, type] : {std::tuple<const char*, CUdeviceptr, std::size_t, const char*>{
                                          "temperature", a.temperature, 4, "float32"},
                                      {"top_k", a.top_k, 4, "int32"},
                                      {"top_p", a.top_p, 4, "float32"},
                                      {"min_p", a.min_p, 4, "float32"},
                                      {"seed", a.seed, 8, "uint64"},
                                      {"offset", a.offset, 8, "uint64"},
                                      {"token32", a.token32, 4, "int32"},
                                      {"token64", a.token64, 8, "int64"},
                                      {"logprob", a.logprob, 4, "float32"},
                                      {"raw_logprob", a.raw_logprob, 4, "float32"},
                                      {"logz", a.logz, 4, "float32"},
                                      {"kept_count", a.kept_count, 4, "int32"},
                                      {"kept_ids", a.kept_ids, 4, "int32"},
                                      {"csr_offsets", a.csr_offsets, 8, "int64"},
                                      {"csr_ids", a.csr_ids, 4, "int32"}})
    impl_->check_aligned(name, p, align, type);
  if (!a.token32 && !a.token64 && !a.logprob && !a.raw_logprob && !a.logz && !a.kept_count && !a.valid && !a.mask &&
      !a.write_logits && !a.kept_ids)
    throw_invalid("outputs", "none", "ask for at least one output (token, logprob, logz, mask, ...)");
  impl_->make_current();
  detail::SampleParams params = detail::make_sample_params(a);
  void* args[] = {&params};
  impl_->launch_rows(stream, a.batch, true, true, args);
  if (a.csr_offsets) {
    const void* kept_count = reinterpret_cast<const void*>(a.kept_count);
    const void* kept_ids = reinterpret_cast<const void*>(a.kept_ids);
    int capacity = a.kept_ids_capacity, rows = static_cast<int>(a.batch);
    void* offsets = reinterpret_cast<void*>(a.csr_offsets);
    void* ids = reinterpret_cast<void*>(a.csr_ids);
    void* pack_args[] = {&kept_count, &kept_ids, &capacity, &rows, &offsets, &ids};
    SAMPLEJIT_CU_CALL(detail::driver().launchKernel(reinterpret_cast<CUfunction>(impl_->csr_pack), 1, 1, 1, 1024, 1, 1,
                                                   0, stream, pack_args, nullptr));
  }
}

struct Runtime::Impl {
  RuntimeOptions options;
  std::optional<DiskCache> disk;

  struct CompiledSlot {
    std::shared_future<std::shared_ptr<const Compiled>> ready;
    Source source = Source::Compiled;
    std::string digest;  // set with `ready`
  };
  struct DeviceRecord {
    DeviceInfo info;
    CUcontext context = nullptr;
  };

  mutable std::mutex mutex;
  std::map<std::string, std::shared_ptr<CompiledSlot>> compiled;  // by digest
  std::map<std::pair<std::string, std::string>, std::shared_future<std::shared_ptr<const Kernel::Impl>>> loaded;
  std::map<int, DeviceRecord> devices;

  std::atomic<std::uint64_t> nvrtc_compiles{0}, disk_hits{0}, memory_hits{0}, loads{0};

  ~Impl() {
    loaded.clear();
    if (detail::driver_available())
      for (auto& [ordinal, rec] : devices) detail::driver().primaryCtxRelease(ordinal);
  }

  DiskCache* disk_or_null() { return disk ? &*disk : nullptr; }

  struct Obtained {
    std::shared_ptr<const Compiled> compiled;
    Source source = Source::Compiled;
    std::string digest;  // the key it is stored under (another than asked for after a stale stamp)
  };

  // The compile inputs for a spec, keyed with the NVRTC stamp's answer when that spares loading
  // NVRTC (src/toolchain.hpp); `stamped` tells obtain() to confirm it before compiling.
  CompileInputs inputs(const KernelSpec& spec, bool& stamped) {
    const detail::KeyToolchain t = detail::key_toolchain(disk_or_null());
    stamped = t.from_stamp;
    return make_compile_inputs(spec, t.info);
  }

  // Returns the binary for inputs and where it came from. The first caller for a digest does the
  // work; concurrent callers wait on the same future.
  Obtained obtain(const CompileInputs& in, const std::string& digest, bool stamped) {
    std::promise<std::shared_ptr<const Compiled>> promise;
    std::shared_ptr<CompiledSlot> slot;
    bool owner = false;
    {
      std::lock_guard lock(mutex);
      if (auto it = compiled.find(digest); it != compiled.end()) {
        slot = it->second;
      } else {
        slot = std::make_shared<CompiledSlot>();
        slot->ready = promise.get_future().share();
        compiled.emplace(digest, slot);
        owner = true;
      }
    }
    if (!owner) {
      memory_hits++;
      auto result = slot->ready.get();
      return {result, Source::Memory, slot->digest};
    }
    try {
      Obtained got{nullptr, Source::Compiled, digest};
      if (disk) {
        if (auto entry = disk->load(in.spec, digest)) {
          try {
            got.compiled = std::make_shared<const Compiled>(from_cache_entry(in, entry->meta, entry->binary));
            got.source = Source::Disk;
            disk_hits++;
          } catch (const Error& e) {
            // Checksummed but unusable (e.g. written by a build that stored less metadata): a miss.
            std::fprintf(stderr, "samplejit: warning: %s; recompiling\n", e.what());
            disk->remove(in.spec, digest);
          }
        }
      }
      if (!got.compiled && stamped) {
        // A miss keyed by the stamp: NVRTC loads now anyway, so ask it. If it disagrees the stamp
        // was stale; the true key may well be on disk already.
        const CompileInputs real = make_compile_inputs(in.spec, detail::confirm_toolchain(disk_or_null()));
        if (const std::string real_digest = real.digest(); real_digest != digest)
          got = obtain(real, real_digest, false);
      }
      if (!got.compiled) {
        auto fresh = std::make_shared<Compiled>(compile(in));
        nvrtc_compiles++;
        if (disk) disk->store(in.spec, digest, CacheEntry{fresh->metadata(), fresh->payload()});
        got.compiled = std::move(fresh);
      }
      slot->source = got.source;
      slot->digest = got.digest;
      promise.set_value(got.compiled);
      return got;
    } catch (...) {
      {
        std::lock_guard lock(mutex);
        compiled.erase(digest);  // let a later call retry
      }
      promise.set_exception(std::current_exception());
      throw;
    }
  }

  void forget(const std::string& digest) {
    std::lock_guard lock(mutex);
    compiled.erase(digest);
  }

  DeviceRecord& device(int ordinal) {
    std::lock_guard lock(mutex);
    if (auto it = devices.find(ordinal); it != devices.end()) return it->second;
    const auto& cu = detail::driver();
    int count = 0;
    SAMPLEJIT_CU_CALL(cu.deviceGetCount(&count));
    if (ordinal < 0 || ordinal >= count)
      throw_invalid("device", std::to_string(ordinal), fmt::format("this machine has {} CUDA device(s)", count));
    CUdevice dev = 0;
    SAMPLEJIT_CU_CALL(cu.deviceGet(&dev, ordinal));
    DeviceRecord rec;
    rec.info.ordinal = ordinal;
    int major = 0, minor = 0;
    SAMPLEJIT_CU_CALL(cu.deviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
    SAMPLEJIT_CU_CALL(cu.deviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev));
    SAMPLEJIT_CU_CALL(cu.deviceGetAttribute(&rec.info.sm_count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
    rec.info.arch = fmt::format("sm_{}{}", major, minor);
    char name[256] = {};
    SAMPLEJIT_CU_CALL(cu.deviceGetName(name, sizeof name, dev));
    rec.info.name = name;
    CUuuid uuid{};
    SAMPLEJIT_CU_CALL(cu.deviceGetUuid(&uuid, dev));
    for (unsigned char b : uuid.bytes) rec.info.uuid += fmt::format("{:02x}", b);
    SAMPLEJIT_CU_CALL(cu.primaryCtxRetain(&rec.context, dev));
    // A thread with no current context gets this device's primary one, as the runtime API would.
    CUcontext current = nullptr;
    SAMPLEJIT_CU_CALL(cu.ctxGetCurrent(&current));
    if (!current) SAMPLEJIT_CU_CALL(cu.ctxSetCurrent(rec.context));
    return devices.emplace(ordinal, rec).first->second;
  }

  std::shared_ptr<const Kernel::Impl> load(const DeviceRecord& rec, const KernelSpec& spec, const Compiled& c,
                                           const std::string& digest, Source source) {
    const auto& cu = detail::driver();
    auto k = std::make_shared<Kernel::Impl>();
    k->spec = spec;
    k->short_rows = spec.short_rows();
    k->device = rec.info;
    k->digest = digest;
    k->source = source;
    k->context = rec.context;
    SAMPLEJIT_CU_CALL(cu.ctxSetCurrent(rec.context));
    for (const std::vector<char>& image : c.images) {
      // The driver reads PTX up to its NUL; only an unterminated one needs a terminated copy.
      std::vector<char> terminated;
      const char* data = image.data();
      if (c.inputs.target.ptx && (image.empty() || image.back() != '\0')) {
        terminated.assign(image.begin(), image.end());
        terminated.push_back('\0');
        data = terminated.data();
      }
      CUlibrary lib = nullptr;
      SAMPLEJIT_CU_CALL(cu.libraryLoadData(&lib, data, nullptr, nullptr, 0, nullptr, nullptr, 0));
      k->libraries.push_back(lib);
    }
    loads++;
    const std::vector<int> clusters = entry_clusters(spec);
    const std::vector<int> programs = entry_programs(spec);
    if (c.lowered_names.size() != clusters.size() || k->libraries.size() != static_cast<std::size_t>(program_count(spec)))
      throw Error(ErrorCode::Internal,
                  fmt::format("module of {} has {} entry points in {} programs, expected {} in {}", spec.canonical(),
                              c.lowered_names.size(), k->libraries.size(), clusters.size(), program_count(spec)));
    CUdevice dev = 0;
    SAMPLEJIT_CU_CALL(cu.deviceGet(&dev, rec.info.ordinal));
    int optin = 0;
    SAMPLEJIT_CU_CALL(cu.deviceGetAttribute(&optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev));
    // Entry points in kernel_name_expressions() order: row kernels largest cluster first (as
    // row_clusters()), the sampler's CSR packer (cluster 0) after the first.
    for (std::size_t e = 0; e < clusters.size(); ++e) {
      const int cluster = clusters[e];
      CUlibrary lib = k->libraries[static_cast<std::size_t>(programs[e])];
      const std::string& name = c.lowered_names[e];
      if (cluster == 0) {
        SAMPLEJIT_CU_CALL(cu.libraryGetKernel(&k->csr_pack, lib, name.c_str()));
        continue;
      }
      const std::int64_t bytes = cluster_shared_bytes(spec, cluster);
      if (bytes > optin) {
        if (spec.cluster != kAutoCluster)
          throw_invalid("cluster", std::to_string(cluster),
                        fmt::format("{} needs {} bytes of shared memory per CTA; {} allows {}", spec.canonical(),
                                    bytes, rec.info.name, optin));
        continue;  // an auto spec on a device with less shared memory: its other kernels serve
      }
      Kernel::Impl::RowKernel rk;
      rk.cluster = cluster;
      SAMPLEJIT_CU_CALL(cu.libraryGetKernel(&rk.kernel, lib, name.c_str()));
      if (cluster > 1) {
        rk.shared_bytes = static_cast<unsigned>(bytes);
        SAMPLEJIT_CU_CALL(cu.kernelSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                                static_cast<int>(bytes), rk.kernel, dev));
        // 16 CTAs per cluster is beyond the portable 8; sm_90 supports it when asked.
        if (cluster > 8)
          SAMPLEJIT_CU_CALL(
              cu.kernelSetAttribute(CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1, rk.kernel, dev));
      }
      k->kernels.push_back(rk);
      k->clusters.push_back(cluster);
    }
    return k;
  }
};

Runtime::Runtime(RuntimeOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  if (impl_->options.disk_cache)
    impl_->disk.emplace(impl_->options.cache_root ? *impl_->options.cache_root : DiskCache::default_root());
}

Runtime::~Runtime() = default;

PrewarmResult Runtime::prewarm(const KernelSpec& requested) {
  const auto t0 = std::chrono::steady_clock::now();
  const KernelSpec& spec = requested;
  bool stamped = false;
  const CompileInputs in = impl_->inputs(spec, stamped);
  const Impl::Obtained got = impl_->obtain(in, in.digest(), stamped);
  const auto& compiled = got.compiled;
  PrewarmResult r;
  r.spec = spec;
  r.digest = got.digest;
  r.source = got.source;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.registers = compiled->registers;
  r.spill_stores = compiled->spill_stores;
  r.spill_loads = compiled->spill_loads;
  return r;
}

DeviceInfo Runtime::device_info(int device) { return impl_->device(device).info; }

Kernel Runtime::prepare(KernelSpec spec, int device) {
  const Impl::DeviceRecord& rec = impl_->device(device);
  if (spec.arch.empty()) spec.arch = rec.info.arch;
  if (arch_number(spec.arch) != arch_number(rec.info.arch))
    throw_invalid("arch", spec.arch, fmt::format("device {} ({}) is {}", device, rec.info.name, rec.info.arch));
  bool stamped = false;
  const CompileInputs in = impl_->inputs(spec, stamped);
  const std::string digest = in.digest();
  const auto key = std::make_pair(rec.info.uuid, digest);

  std::promise<std::shared_ptr<const Kernel::Impl>> promise;
  std::shared_future<std::shared_ptr<const Kernel::Impl>> existing;
  {
    std::lock_guard lock(impl_->mutex);
    if (auto it = impl_->loaded.find(key); it != impl_->loaded.end())
      existing = it->second;
    else
      impl_->loaded.emplace(key, promise.get_future().share());
  }
  if (existing.valid()) {
    impl_->memory_hits++;
    return Kernel(existing.get());  // waits if another thread is still loading this key
  }
  try {
    const Impl::Obtained got = impl_->obtain(in, digest, stamped);
    std::shared_ptr<const Kernel::Impl> k;
    try {
      k = impl_->load(rec, spec, *got.compiled, got.digest, got.source);
    } catch (const Error&) {
      if (got.source != Source::Disk) throw;
      // A cache entry that passed its checks but that the driver rejects: drop it and rebuild.
      std::fprintf(stderr, "samplejit: warning: driver rejected cached %s; recompiling\n", spec.canonical().c_str());
      impl_->disk->remove(spec, got.digest);
      impl_->forget(digest);
      impl_->forget(got.digest);
      // NVRTC compiles now: key with its own answer.
      const CompileInputs real = make_compile_inputs(spec, detail::confirm_toolchain(impl_->disk_or_null()));
      const std::string real_digest = real.digest();
      const Impl::Obtained fresh = impl_->obtain(real, real_digest, false);
      k = impl_->load(rec, spec, *fresh.compiled, fresh.digest, fresh.source);
    }
    promise.set_value(k);
    return Kernel(k);
  } catch (...) {
    {
      std::lock_guard lock(impl_->mutex);
      impl_->loaded.erase(key);
    }
    promise.set_exception(std::current_exception());
    throw;
  }
}

RuntimeStats Runtime::stats() const {
  return {impl_->nvrtc_compiles.load(), impl_->disk_hits.load(), impl_->memory_hits.load(), impl_->loads.load()};
}

std::filesystem::path Runtime::cache_root() const { return impl_->disk ? impl_->disk->root() : std::filesystem::path(); }
bool Runtime::disk_cache_enabled() const { return impl_->disk.has_value(); }

}  // namespace samplejit
