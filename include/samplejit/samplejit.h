/* samplejit C ABI, version 1.
 *
 * A stable C surface over the C++ runtime, for ctypes, Rust, and framework custom ops.
 * Every function returns an sj_status; on failure sj_last_error() returns a message for the
 * calling thread that names the bad argument and value, or carries the NVRTC log.
 * Device pointers and streams are the CUDA driver's CUdeviceptr and CUstream, passed as
 * integers / opaque pointers so that this header needs no CUDA header.
 *
 * ABI rules: functions are only ever added; sj_kernel_desc grows only at its end and callers set
 * struct_size = sizeof(sj_kernel_desc), so older callers keep working. SJ_ABI_VERSION changes
 * when anything incompatible happens.
 */
#ifndef SAMPLEJIT_SAMPLEJIT_H
#define SAMPLEJIT_SAMPLEJIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SJ_ABI_VERSION 1

typedef enum sj_status {
  SJ_OK = 0,
  SJ_ERROR_INVALID_ARGUMENT = 1,
  SJ_ERROR_NOT_AVAILABLE = 2, /* no driver, no NVRTC or no device */
  SJ_ERROR_COMPILE = 3,       /* message carries the NVRTC log, options and version */
  SJ_ERROR_DRIVER = 4,
  SJ_ERROR_CACHE = 5,
  SJ_ERROR_INTERNAL = 6
} sj_status;

typedef enum sj_dtype { SJ_DTYPE_F32 = 0, SJ_DTYPE_F16 = 1, SJ_DTYPE_BF16 = 2 } sj_dtype;
typedef enum sj_mask_kind { SJ_MASK_NONE = 0, SJ_MASK_BOOL = 1, SJ_MASK_BITS = 2 } sj_mask_kind;

typedef enum sj_kind { SJ_KIND_TRUNCATE = 0, SJ_KIND_SAMPLE = 1 } sj_kind;

typedef struct sj_runtime_s* sj_runtime;
typedef struct sj_kernel_s* sj_kernel;
typedef struct CUstream_st* sj_stream;  /* == CUstream */
typedef unsigned long long sj_deviceptr; /* == CUdeviceptr */

typedef struct sj_kernel_desc {
  size_t struct_size; /* sizeof(sj_kernel_desc) */
  sj_dtype dtype;
  int64_t vocab;      /* 1 .. 2^31-1 */
  int32_t block;      /* 0: default; else 128, 256, 512 or 1024 */
  sj_mask_kind mask;
  sj_kind kind;       /* SJ_KIND_TRUNCATE (sj_truncate) or SJ_KIND_SAMPLE (sj_sample) */
  /* Added in 0.2. The two fields make the struct larger than in 0.1 (whose struct_size was 40,
   * with the place of `cluster` being padding), so a 0.1 caller always gets auto. */
  int32_t cluster;    /* CTAs per row: 0 = auto; 1, 2, 4, 8 or 16 (> 1 needs sm_90+) */
  int32_t reserved;   /* set to 0 */
} sj_kernel_desc;

/* One decode step of the fused sampler. Inputs: device arrays of `batch` elements, or 0 for the
 * default (temperature 1; top_k, top_p, min_p off; seed 0; offset 0). Outputs: device arrays of
 * `batch` elements, or 0 when not wanted. See docs/semantics.md, "Sampling". */
typedef struct sj_sample_args {
  size_t struct_size; /* sizeof(sj_sample_args) */
  sj_deviceptr logits;
  int64_t row_stride;
  int64_t batch;
  sj_deviceptr temperature; /* float */
  sj_deviceptr top_k;       /* int32 */
  sj_deviceptr top_p;       /* float */
  sj_deviceptr min_p;       /* float */
  sj_deviceptr seed;        /* uint64 */
  sj_deviceptr offset;      /* uint64: decode step or position */
  sj_deviceptr token32;     /* int32 out; -1 for a row with no candidate */
  sj_deviceptr token64;     /* int64 out */
  sj_deviceptr logprob;     /* float out: renormalized over the kept set */
  sj_deviceptr raw_logprob; /* float out: full post-temperature distribution */
  sj_deviceptr logz;        /* float out: log kept mass */
  sj_deviceptr kept_count;  /* int32 out */
  sj_deviceptr valid;       /* uint8 out */
  sj_deviceptr mask;        /* per the kernel's mask kind, else 0 */
  int32_t write_logits;     /* nonzero: dropped tokens become -inf in place */
  /* Kept sets for RL replay: kept_ids int32 [batch, kept_ids_capacity] (ascending ids); with
   * csr_offsets int64 [batch + 1] and csr_ids int32 [batch * kept_ids_capacity], also packed into
   * CSR by a second launch. Rows whose kept set exceeds the capacity get an empty range. */
  sj_deviceptr kept_ids;
  int32_t kept_ids_capacity;
  sj_deviceptr csr_offsets;
  sj_deviceptr csr_ids;
} sj_sample_args;

int sj_abi_version(void);
const char* sj_version(void);
/* The git commit the library was built from ("-dirty" with uncommitted changes to tracked files,
   "unknown" outside git), for benchmark records; not part of the version that keys the cache. */
const char* sj_build_commit(void);
/* The message of the last failed call on this thread ("" if none). Valid until the next call. */
const char* sj_last_error(void);

/* cache_root: NULL for the default (SAMPLEJIT_CACHE_DIR, XDG, ~/.cache/samplejit). */
sj_status sj_runtime_create(const char* cache_root, sj_runtime* out);
void sj_runtime_destroy(sj_runtime runtime);

/* Compile or fetch and load the kernel for the device (ordinal); arch comes from the device. */
sj_status sj_prepare(sj_runtime runtime, const sj_kernel_desc* desc, int device, sj_kernel* out);
/* Same, from canonical spec text ("truncate-bf16-v151936-b512-bitmask-sm_90"). */
sj_status sj_prepare_spec(sj_runtime runtime, const char* spec, int device, sj_kernel* out);
void sj_kernel_release(sj_kernel kernel);
/* Writes the canonical spec, NUL-terminated; fails if capacity is too small. */
sj_status sj_kernel_spec(sj_kernel kernel, char* buffer, size_t capacity);

/* Masks logits in place: logits [batch, vocab] with row_stride >= vocab elements, aligned to the
 * element size; top_k int32[batch] or 0; top_p float32[batch] or 0; mask_out per the kernel's mask
 * kind (a bit mask 4-byte aligned), else 0. Asynchronous on stream; no allocation, no host
 * synchronization (graph-capturable). */
sj_status sj_truncate(sj_kernel kernel, sj_stream stream, sj_deviceptr logits, int64_t row_stride, int64_t batch,
                      sj_deviceptr top_k, sj_deviceptr top_p, sj_deviceptr mask_out);

/* Samples one token per row with a kernel prepared with kind SJ_KIND_SAMPLE. Asynchronous;
 * no allocation, no host synchronization (graph-capturable). */
sj_status sj_sample(sj_kernel kernel, sj_stream stream, const sj_sample_args* args);

#ifdef __cplusplus
}
#endif

#endif /* SAMPLEJIT_SAMPLEJIT_H */
