/*
 * graphc: the C calling convention of compiled programs.
 *
 * A library built by graphc.codegen.build_library exports one function per program:
 *
 *     int32_t graphc_<name>(int64_t batch, void **args, void *workspace);
 *
 * `args` holds one pointer per argument in the order of the manifest
 * (<name>.manifest.json): the program's inputs, then its states, then its outputs.
 * Every argument is a C-contiguous array of its manifest dtype (float32, or int32 / int64:
 * a stateful model's `state_rows` input, step counters) whose shape is the manifest shape
 * with `null` (the batch dimension) replaced by `batch`. Inputs are read, outputs are
 * written, states are read and then overwritten with their updated values.
 *
 * `workspace` must point to at least static_bytes + per_batch_bytes * batch bytes
 * (the program's "workspace" entry in the manifest), aligned to GRAPHC_WORKSPACE_ALIGN;
 * it may be NULL when that size is 0. The workspace holds no data between calls, but a
 * workspace must not be used by two calls at the same time.
 *
 * The return value is GRAPHC_OK, or GRAPHC_BAD_BATCH when batch < 1, in which case no
 * memory has been read or written.
 *
 * Threads: large loops run on a worker pool inside the library, created on first use.
 * graphc_set_num_threads(n) sets how many threads (the caller included) loops use; n < 1
 * restores the default: the GRAPHC_NUM_THREADS environment variable, else the CPUs the
 * process may run on. Results are bit-identical for every thread count. Programs may be
 * called from several threads at once, each call with its own argument array and workspace,
 * as long as no call writes a state another call reads or writes at the same time: a state
 * marked "updated": true in a program's manifest entry (a training step, or the predict of a
 * stateful model, which writes its carried recurrent states) is written, so hold a
 * readers-writer lock for writing around such calls and for reading around the others. A
 * loop that finds the pool busy runs on its calling thread. graphc_shutdown_pool() stops and
 * joins the pool's workers (call it before dlclose; later loops start them again).
 * Link with -pthread; libm is not needed.
 */
#ifndef GRAPHC_H
#define GRAPHC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GRAPHC_OK 0
#define GRAPHC_BAD_BATCH 1
#define GRAPHC_WORKSPACE_ALIGN 64

typedef int32_t (*graphc_program_fn)(int64_t batch, void **args, void *workspace);

void graphc_set_num_threads(int n);
int graphc_get_num_threads(void);
void graphc_shutdown_pool(void);

#ifdef __cplusplus
}
#endif

#endif /* GRAPHC_H */
