// The C ABI: exceptions become status codes plus a thread-local message.
#include <cstddef>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "samplejit/samplejit.h"
#include "samplejit/samplejit.hpp"

struct sj_runtime_s {
  samplejit::Runtime runtime;
  explicit sj_runtime_s(samplejit::RuntimeOptions o) : runtime(std::move(o)) {}
};
struct sj_kernel_s {
  samplejit::Kernel kernel;
};

static_assert(sizeof(sj_dtype) == sizeof(int) && sizeof(sj_mask_kind) == sizeof(int) && sizeof(sj_kind) == sizeof(int),
              "C enums are int-sized");

namespace {

thread_local std::string g_last_error;

sj_status fail(sj_status s, std::string msg) {
  g_last_error = std::move(msg);
  return s;
}

template <class F>
sj_status guarded(F&& f) {
  try {
    g_last_error.clear();
    f();
    return SJ_OK;
  } catch (const samplejit::Error& e) {
    switch (e.code()) {
      case samplejit::ErrorCode::InvalidArgument: return fail(SJ_ERROR_INVALID_ARGUMENT, e.what());
      case samplejit::ErrorCode::NotAvailable: return fail(SJ_ERROR_NOT_AVAILABLE, e.what());
      case samplejit::ErrorCode::Compile: return fail(SJ_ERROR_COMPILE, e.what());
      case samplejit::ErrorCode::Driver: return fail(SJ_ERROR_DRIVER, e.what());
      case samplejit::ErrorCode::Cache: return fail(SJ_ERROR_CACHE, e.what());
      case samplejit::ErrorCode::Internal: return fail(SJ_ERROR_INTERNAL, e.what());
    }
    return fail(SJ_ERROR_INTERNAL, e.what());
  } catch (const std::bad_alloc&) {
    return fail(SJ_ERROR_INTERNAL, "out of host memory");
  } catch (const std::exception& e) {
    return fail(SJ_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(SJ_ERROR_INTERNAL, "unknown exception");
  }
}

void require(bool ok, const char* argument, const std::string& value, const char* why) {
  if (!ok) samplejit::throw_invalid(argument, value, why);
}

}  // namespace

extern "C" {

int sj_abi_version(void) { return SJ_ABI_VERSION; }

const char* sj_version(void) {
  static const std::string v = samplejit::library_version();
  return v.c_str();
}

const char* sj_build_commit(void) { return samplejit::build_commit(); }

const char* sj_last_error(void) { return g_last_error.c_str(); }

sj_status sj_runtime_create(const char* cache_root, sj_runtime* out) {
  return guarded([&] {
    require(out != nullptr, "out", "NULL", "sj_runtime_create needs somewhere to store the runtime");
    *out = nullptr;
    samplejit::RuntimeOptions o;
    if (cache_root) {
      require(*cache_root != '\0', "cache_root", "", "must be NULL (default) or a non-empty path");
      o.cache_root = cache_root;
    }
    *out = new sj_runtime_s(std::move(o));
  });
}

void sj_runtime_destroy(sj_runtime runtime) { delete runtime; }

sj_status sj_prepare(sj_runtime runtime, const sj_kernel_desc* desc, int device, sj_kernel* out) {
  return guarded([&] {
    require(out != nullptr, "out", "NULL", "sj_prepare needs somewhere to store the kernel");
    *out = nullptr;
    require(runtime != nullptr, "runtime", "NULL", "create one with sj_runtime_create");
    require(desc != nullptr, "desc", "NULL", "pass a filled sj_kernel_desc");
    require(desc->struct_size >= offsetof(sj_kernel_desc, cluster), "desc->struct_size",
            std::to_string(desc->struct_size), "set it to sizeof(sj_kernel_desc)");
    samplejit::KernelSpec spec;
    // Read the enums as the integers a C caller stored: an out-of-range enum value is UB in C++.
    int dtype = 0, mask = 0;
    std::memcpy(&dtype, &desc->dtype, sizeof dtype);
    std::memcpy(&mask, &desc->mask, sizeof mask);
    switch (dtype) {
      case SJ_DTYPE_F32: spec.dtype = samplejit::DType::F32; break;
      case SJ_DTYPE_F16: spec.dtype = samplejit::DType::F16; break;
      case SJ_DTYPE_BF16: spec.dtype = samplejit::DType::BF16; break;
      default: samplejit::throw_invalid("desc->dtype", std::to_string(dtype), "expected SJ_DTYPE_*");
    }
    switch (mask) {
      case SJ_MASK_NONE: spec.mask = samplejit::MaskKind::None; break;
      case SJ_MASK_BOOL: spec.mask = samplejit::MaskKind::Bool; break;
      case SJ_MASK_BITS: spec.mask = samplejit::MaskKind::Bits; break;
      default: samplejit::throw_invalid("desc->mask", std::to_string(mask), "expected SJ_MASK_*");
    }
    int kind = 0;
    std::memcpy(&kind, &desc->kind, sizeof kind);
    if (kind != SJ_KIND_TRUNCATE && kind != SJ_KIND_SAMPLE)
      samplejit::throw_invalid("desc->kind", std::to_string(kind), "expected SJ_KIND_TRUNCATE or SJ_KIND_SAMPLE");
    spec.kind = kind == SJ_KIND_SAMPLE ? samplejit::Kind::Sample : samplejit::Kind::Truncate;
    spec.vocab = desc->vocab;
    spec.block = desc->block == 0 ? samplejit::kDefaultBlock : desc->block;
    spec.arch.clear();
    if (spec.vocab < 1 || spec.vocab > samplejit::kMaxVocab)
      samplejit::throw_invalid("desc->vocab", std::to_string(spec.vocab), "must be in [1, 2147483647]");
    if (!samplejit::is_valid_block(spec.block))
      samplejit::throw_invalid("desc->block", std::to_string(desc->block), "must be 0, 128, 256, 512 or 1024");
    if (desc->struct_size >= sizeof(sj_kernel_desc)) {  // a 0.1 caller's struct ends before `cluster`
      spec.cluster = desc->cluster;
      if (!samplejit::is_valid_cluster(spec.cluster))
        samplejit::throw_invalid("desc->cluster", std::to_string(desc->cluster), "must be 0 (auto), 1, 2, 4, 8 or 16");
    }
    *out = new sj_kernel_s{runtime->runtime.prepare(spec, device)};
  });
}

sj_status sj_prepare_spec(sj_runtime runtime, const char* spec_text, int device, sj_kernel* out) {
  return guarded([&] {
    require(out != nullptr, "out", "NULL", "sj_prepare_spec needs somewhere to store the kernel");
    *out = nullptr;
    require(runtime != nullptr, "runtime", "NULL", "create one with sj_runtime_create");
    require(spec_text != nullptr, "spec", "NULL", "pass canonical spec text");
    *out = new sj_kernel_s{runtime->runtime.prepare(samplejit::KernelSpec::parse(spec_text), device)};
  });
}

void sj_kernel_release(sj_kernel kernel) { delete kernel; }

sj_status sj_kernel_spec(sj_kernel kernel, char* buffer, size_t capacity) {
  return guarded([&] {
    require(kernel != nullptr, "kernel", "NULL", "prepare one with sj_prepare");
    require(buffer != nullptr, "buffer", "NULL", "pass a writable buffer");
    const std::string s = kernel->kernel.spec().canonical();
    require(capacity > s.size(), "capacity", std::to_string(capacity), "too small for the spec text");
    std::memcpy(buffer, s.c_str(), s.size() + 1);
  });
}

sj_status sj_truncate(sj_kernel kernel, sj_stream stream, sj_deviceptr logits, int64_t row_stride, int64_t batch,
                      sj_deviceptr top_k, sj_deviceptr top_p, sj_deviceptr mask_out) {
  return guarded([&] {
    require(kernel != nullptr, "kernel", "NULL", "prepare one with sj_prepare");
    kernel->kernel.launch(reinterpret_cast<CUstream>(stream), logits, row_stride, batch, top_k, top_p, mask_out);
  });
}

sj_status sj_sample(sj_kernel kernel, sj_stream stream, const sj_sample_args* args) {
  return guarded([&] {
    require(kernel != nullptr, "kernel", "NULL", "prepare one with sj_prepare");
    require(args != nullptr, "args", "NULL", "pass a filled sj_sample_args");
    require(args->struct_size >= sizeof(sj_sample_args), "args->struct_size", std::to_string(args->struct_size),
            "set it to sizeof(sj_sample_args)");
    samplejit::SampleArgs a;
    a.logits = args->logits;
    a.row_stride = args->row_stride;
    a.batch = args->batch;
    a.temperature = args->temperature;
    a.top_k = args->top_k;
    a.top_p = args->top_p;
    a.min_p = args->min_p;
    a.seed = args->seed;
    a.offset = args->offset;
    a.token32 = args->token32;
    a.token64 = args->token64;
    a.logprob = args->logprob;
    a.raw_logprob = args->raw_logprob;
    a.logz = args->logz;
    a.kept_count = args->kept_count;
    a.valid = args->valid;
    a.mask = args->mask;
    a.write_logits = args->write_logits != 0;
    a.kept_ids = args->kept_ids;
    a.kept_ids_capacity = args->kept_ids_capacity;
    a.csr_offsets = args->csr_offsets;
    a.csr_ids = args->csr_ids;
    kernel->kernel.sample(reinterpret_cast<CUstream>(stream), a);
  });
}

}  // extern "C"
