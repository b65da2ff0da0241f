/*
 * graphc's native worker pool, linked into every compiled library.
 *
 * Generated code splits a loop into a fixed number of tasks (chosen from the shapes alone,
 * never from the thread count) and calls graphc_parallel_for; the calling thread and the
 * pool's workers claim tasks from a shared counter. Each task writes its own part of the
 * output in a fixed order, so results are bit-identical for every thread count.
 *
 * Made to share the machine: a worker spins only briefly (~SPIN_ROUNDS pauses) after a loop,
 * then sleeps on a condition variable, so a busy neighbour (another process, numpy's OpenBLAS
 * threads) gets the core back; and a loop waits only for the tasks that were claimed, never for
 * a worker to wake up: a descheduled worker's share is taken by whoever is running. The counter
 * holds the loop's generation next to the task index, so a late worker can never claim a task
 * of a loop that has finished or not yet been posted.
 *
 * Workers are created lazily on the first parallel loop. graphc_shutdown_pool stops and joins
 * them (before the library is unloaded); the next loop starts them again. A loop started while
 * the pool is busy (another thread's program, or a task that itself loops) runs inline.
 * Needs only libc and pthreads.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define HIDDEN __attribute__((visibility("hidden")))
#define EXPORT __attribute__((visibility("default")))
#define MAX_THREADS 256
#define SPIN_ROUNDS 2000      /* a worker's pauses before it sleeps: tens of microseconds */
#define WAIT_SPIN_ROUNDS 4000 /* the caller's pauses, waiting for claimed tasks, before it yields */
#define CLOSED 0xFFFFFFFFu    /* task index of a loop being posted: nothing can be claimed */

typedef void (*graphc_task_fn)(void *ctx, int64_t task);

static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t busy_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static int requested_threads;          /* 0: not chosen yet */
static int workers_started;
static pthread_t workers[MAX_THREADS];
static uint32_t generation;            /* bumped once per loop; what sleeping workers wait on */
static uint64_t claim;                 /* (generation << 32) | next task index */
static int64_t tasks_done;             /* tasks of the current loop finished */
static int sleepers;                   /* workers waiting on wake_cond */
static int stopping;
static graphc_task_fn job_fn;          /* the loop's fields: written only while `claim` is CLOSED */
static void *job_ctx;
static int64_t job_tasks;
static int job_helpers;                /* workers with index < job_helpers take tasks */
static __thread int in_worker;

static int default_threads(void) {
    const char *env = getenv("GRAPHC_NUM_THREADS");
    if (env != NULL) {
        int n = atoi(env);
        if (n > 0) return n > MAX_THREADS ? MAX_THREADS : n;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n > MAX_THREADS ? MAX_THREADS : n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > MAX_THREADS ? MAX_THREADS : (int)n);
}

EXPORT int graphc_get_num_threads(void) {
    int n = __atomic_load_n(&requested_threads, __ATOMIC_ACQUIRE);
    if (n == 0) {
        n = default_threads();
        int expected = 0;
        if (!__atomic_compare_exchange_n(&requested_threads, &expected, n, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            n = expected;
    }
    return n;
}

/* n < 1 restores the default (GRAPHC_NUM_THREADS, else the CPUs this process may use). */
EXPORT void graphc_set_num_threads(int n) {
    if (n < 1) n = default_threads();
    if (n > MAX_THREADS) n = MAX_THREADS;
    __atomic_store_n(&requested_threads, n, __ATOMIC_RELEASE);
}

/* Claims and runs tasks of loop `gen` until none is left or another loop has been posted. */
static void run_tasks(uint32_t gen, int index) {
    for (;;) {
        uint64_t seen = __atomic_load_n(&claim, __ATOMIC_ACQUIRE);
        if ((uint32_t)(seen >> 32) != gen) return;
        graphc_task_fn fn = job_fn;
        void *ctx = job_ctx;
        int64_t tasks = job_tasks;
        if (index >= job_helpers && index >= 0) return;
        int64_t task = (int64_t)(uint32_t)seen;
        if (task >= tasks) return;
        /* Succeeds only if `claim` is unchanged: then the fields read above were this loop's. */
        if (!__atomic_compare_exchange_n(&claim, &seen, seen + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            continue;
        fn(ctx, task);
        __atomic_fetch_add(&tasks_done, 1, __ATOMIC_RELEASE);
    }
}

static void *worker_main(void *arg) {
    int index = (int)((uintptr_t)arg & 0xFFFF);
    /* The generation when this worker was created: it joins the loop that created it, even if it
     * starts running only after that loop was posted. */
    uint32_t seen = (uint32_t)((uintptr_t)arg >> 16);
    in_worker = 1;
    for (;;) {
        uint32_t now = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
        for (int spin = 0; now == seen && spin < SPIN_ROUNDS; ++spin) {
            __builtin_ia32_pause();
            now = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
        }
        if (now == seen) {
            pthread_mutex_lock(&pool_mutex);
            __atomic_fetch_add(&sleepers, 1, __ATOMIC_SEQ_CST);
            while ((now = __atomic_load_n(&generation, __ATOMIC_SEQ_CST)) == seen
                   && !__atomic_load_n(&stopping, __ATOMIC_SEQ_CST))
                pthread_cond_wait(&wake_cond, &pool_mutex);
            __atomic_fetch_sub(&sleepers, 1, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&pool_mutex);
        }
        seen = now;
        if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) return NULL;
        run_tasks(now, index);
    }
}

static void wake_workers(void) {
    __atomic_fetch_add(&generation, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&sleepers, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&pool_mutex);
        pthread_cond_broadcast(&wake_cond);
        pthread_mutex_unlock(&pool_mutex);
    }
}

static void reset_after_fork(void) {
    /* The child has none of the parent's workers: start again lazily. */
    pthread_mutex_init(&pool_mutex, NULL);
    pthread_cond_init(&wake_cond, NULL);
    pthread_mutex_init(&busy_mutex, NULL);
    workers_started = 0;
    sleepers = 0;
    stopping = 0;
}

static void install_atfork(void) { pthread_atfork(NULL, NULL, reset_after_fork); }

static int start_workers(int count) {
    pthread_once(&atfork_once, install_atfork);
    uintptr_t created_at = __atomic_load_n(&generation, __ATOMIC_RELAXED);
    while (workers_started < count) {
        void *arg = (void *)((created_at << 16) | (uintptr_t)workers_started);
        if (pthread_create(&workers[workers_started], NULL, worker_main, arg))
            break;
        ++workers_started;
    }
    return workers_started;
}

static void release_scratch(void);

static void run_inline(graphc_task_fn fn, void *ctx, int64_t tasks) {
    for (int64_t t = 0; t < tasks; ++t) fn(ctx, t);
}

HIDDEN void graphc_parallel_for(graphc_task_fn fn, void *ctx, int64_t tasks) {
    int threads = graphc_get_num_threads();
    if (tasks <= 1 || tasks >= (int64_t)CLOSED || threads <= 1 || in_worker
        || pthread_mutex_trylock(&busy_mutex) != 0) {
        run_inline(fn, ctx, tasks);
        return;
    }
    int helpers = threads - 1;
    if ((int64_t)helpers > tasks - 1) helpers = (int)(tasks - 1);
    helpers = start_workers(helpers) < helpers ? workers_started : helpers;
    if (helpers == 0) {
        pthread_mutex_unlock(&busy_mutex);
        run_inline(fn, ctx, tasks);
        return;
    }
    uint32_t gen = __atomic_load_n(&generation, __ATOMIC_RELAXED) + 1;
    /* Close the counter before the fields change, so that no claim can pair old and new. */
    __atomic_store_n(&claim, ((uint64_t)gen << 32) | CLOSED, __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    job_fn = fn;
    job_ctx = ctx;
    job_tasks = tasks;
    job_helpers = helpers;
    __atomic_store_n(&tasks_done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&claim, (uint64_t)gen << 32, __ATOMIC_RELEASE);
    wake_workers();
    run_tasks(gen, -1);
    /* Wait for the claimed tasks only: a worker that has not woken up has claimed none. */
    for (int spin = 0; __atomic_load_n(&tasks_done, __ATOMIC_ACQUIRE) != tasks; ++spin) {
        if (spin < WAIT_SPIN_ROUNDS) __builtin_ia32_pause();
        else sched_yield();
    }
    pthread_mutex_unlock(&busy_mutex);
}

/* Stops and joins the workers, so that the library can be unloaded; loops after it start them anew. */
EXPORT void graphc_shutdown_pool(void) {
    pthread_mutex_lock(&busy_mutex);
    int count = workers_started;
    if (count > 0) {
        pthread_mutex_lock(&pool_mutex);
        __atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
        __atomic_fetch_add(&generation, 1, __ATOMIC_SEQ_CST);
        pthread_cond_broadcast(&wake_cond);
        pthread_mutex_unlock(&pool_mutex);
        for (int i = 0; i < count; ++i) pthread_join(workers[i], NULL);
        workers_started = 0;
        __atomic_store_n(&stopping, 0, __ATOMIC_SEQ_CST);
    }
    release_scratch();
    pthread_mutex_unlock(&busy_mutex);
}

/* A 64-byte aligned buffer private to the calling thread, grown on demand, freed at thread exit
 * (workers' buffers when they are joined; the caller's by graphc_shutdown_pool, which also frees
 * the thread key, so that loading and unloading many libraries never runs out of keys). */
static pthread_key_t scratch_key;
static int scratch_key_made;
static pthread_mutex_t scratch_mutex = PTHREAD_MUTEX_INITIALIZER;
static __thread void *scratch_ptr;
static __thread int64_t scratch_size;

HIDDEN void *graphc_scratch(int64_t bytes) {
    if (bytes <= scratch_size) return scratch_ptr;
    if (!__atomic_load_n(&scratch_key_made, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&scratch_mutex);
        if (!scratch_key_made && pthread_key_create(&scratch_key, free) == 0)
            __atomic_store_n(&scratch_key_made, 1, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&scratch_mutex);
    }
    free(scratch_ptr);
    int64_t size = (bytes + 4095) & ~(int64_t)4095;
    void *fresh = NULL;
    if (posix_memalign(&fresh, 64, (size_t)size) != 0) abort();
    scratch_ptr = fresh;
    scratch_size = size;
    if (__atomic_load_n(&scratch_key_made, __ATOMIC_ACQUIRE)) pthread_setspecific(scratch_key, fresh);
    return fresh;
}

static void release_scratch(void) {
    pthread_mutex_lock(&scratch_mutex);
    if (scratch_key_made) {
        pthread_setspecific(scratch_key, NULL);
        pthread_key_delete(scratch_key);
        scratch_key_made = 0;
    }
    pthread_mutex_unlock(&scratch_mutex);
    free(scratch_ptr);
    scratch_ptr = NULL;
    scratch_size = 0;
}
