/*
 * graphc's native worker pool, linked into every compiled library.
 *
 * Generated code splits a loop into a fixed number of tasks (chosen from the shapes alone,
 * never from the thread count) and calls graphc_parallel_for; the calling thread and the
 * pool's workers take tasks from a shared counter. Each task writes its own part of the
 * output in a fixed order, so results are bit-identical for every thread count.
 *
 * Workers are created lazily on the first parallel loop and live as long as the process;
 * between loops they spin briefly, then sleep on a condition variable. A loop started while
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
#define SPIN_ROUNDS 20000

typedef void (*graphc_task_fn)(void *ctx, int64_t task);

static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t busy_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static int requested_threads;          /* 0: not chosen yet */
static int workers_started;
static unsigned long generation;       /* bumped once per loop, read with atomics */
static graphc_task_fn job_fn;
static void *job_ctx;
static int64_t job_tasks;
static int job_helpers;                /* workers with index < job_helpers take tasks */
static int64_t next_task;
static int pending_workers;        /* every started worker acknowledges every loop */
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

static void run_tasks(void) {
    for (;;) {
        int64_t task = __atomic_fetch_add(&next_task, 1, __ATOMIC_RELAXED);
        if (task >= job_tasks) return;
        job_fn(job_ctx, task);
    }
}

static void *worker_main(void *arg) {
    int index = (int)(intptr_t)arg;
    unsigned long seen = 0;
    in_worker = 1;
    for (;;) {
        unsigned long now = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
        for (int spin = 0; now == seen && spin < SPIN_ROUNDS; ++spin) {
            __builtin_ia32_pause();
            now = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
        }
        if (now == seen) {
            pthread_mutex_lock(&pool_mutex);
            while ((now = __atomic_load_n(&generation, __ATOMIC_ACQUIRE)) == seen)
                pthread_cond_wait(&wake_cond, &pool_mutex);
            pthread_mutex_unlock(&pool_mutex);
        }
        seen = now;
        if (index < job_helpers) run_tasks();
        __atomic_fetch_sub(&pending_workers, 1, __ATOMIC_ACQ_REL);
    }
    return NULL;
}

static void reset_after_fork(void) {
    /* The child has none of the parent's workers: start again lazily. */
    pthread_mutex_init(&pool_mutex, NULL);
    pthread_cond_init(&wake_cond, NULL);
    pthread_mutex_init(&busy_mutex, NULL);
    workers_started = 0;
}

static void install_atfork(void) { pthread_atfork(NULL, NULL, reset_after_fork); }

static int start_workers(int count) {
    pthread_once(&atfork_once, install_atfork);
    while (workers_started < count) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attr, worker_main, (void *)(intptr_t)workers_started);
        pthread_attr_destroy(&attr);
        if (failed) break;
        ++workers_started;
    }
    return workers_started;
}

static void run_inline(graphc_task_fn fn, void *ctx, int64_t tasks) {
    for (int64_t t = 0; t < tasks; ++t) fn(ctx, t);
}

HIDDEN void graphc_parallel_for(graphc_task_fn fn, void *ctx, int64_t tasks) {
    int threads = graphc_get_num_threads();
    if (tasks <= 1 || threads <= 1 || in_worker || pthread_mutex_trylock(&busy_mutex) != 0) {
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
    job_fn = fn;
    job_ctx = ctx;
    job_tasks = tasks;
    job_helpers = helpers;
    __atomic_store_n(&next_task, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&pending_workers, workers_started, __ATOMIC_RELAXED);
    pthread_mutex_lock(&pool_mutex);
    __atomic_fetch_add(&generation, 1, __ATOMIC_ACQ_REL);
    pthread_cond_broadcast(&wake_cond);
    pthread_mutex_unlock(&pool_mutex);
    run_tasks();
    /* Every worker acknowledges each loop before the next is posted, so none can see a stale one. */
    for (int spin = 0; __atomic_load_n(&pending_workers, __ATOMIC_ACQUIRE) != 0; ++spin) {
        if (spin < 1000) __builtin_ia32_pause();
        else sched_yield();
    }
    pthread_mutex_unlock(&busy_mutex);
}

/* A 64-byte aligned buffer private to the calling thread, grown on demand, freed at thread exit. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static __thread void *scratch_ptr;
static __thread int64_t scratch_size;

static void make_scratch_key(void) { pthread_key_create(&scratch_key, free); }

HIDDEN void *graphc_scratch(int64_t bytes) {
    if (bytes <= scratch_size) return scratch_ptr;
    pthread_once(&scratch_once, make_scratch_key);
    free(scratch_ptr);
    int64_t size = (bytes + 4095) & ~(int64_t)4095;
    void *fresh = NULL;
    if (posix_memalign(&fresh, 64, (size_t)size) != 0) abort();
    scratch_ptr = fresh;
    scratch_size = size;
    pthread_setspecific(scratch_key, fresh);
    return fresh;
}
