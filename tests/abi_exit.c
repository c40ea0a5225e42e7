/* A host that creates a runtime through the C ABI, asks for a kernel (which fails without a GPU),
 * waits argv[2] microseconds and exits without destroying anything, as a Python process holding
 * the library through ctypes does. Work the runtime left running at exit (a thread inside
 * libnvrtc, once) made exit() hang or crash, depending on the moment; ctest runs this with a
 * range of waits under a timeout (CMakeLists.txt). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "samplejit/samplejit.h"

int main(int argc, char** argv) {
  sj_runtime rt = NULL;
  if (sj_runtime_create(argc > 1 ? argv[1] : NULL, &rt) != SJ_OK || rt == NULL) {
    fprintf(stderr, "sj_runtime_create failed: %s\n", sj_last_error());
    return 1;
  }
  sj_kernel k = NULL;
  if (sj_prepare_spec(rt, "truncate-bf16-v32000-b512-cauto-nomask-sm_90", 0, &k) != SJ_OK)
    printf("prepare: %s\n", sj_last_error()); /* expected without a GPU */
  const long wait_us = argc > 2 ? atol(argv[2]) : 0;
  const struct timespec wait = {wait_us / 1000000, (wait_us % 1000000) * 1000};
  nanosleep(&wait, NULL);
  exit(0); /* neither k nor rt released */
}
