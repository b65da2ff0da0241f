"""The fixed parts of an AOT build's C API: header and source templates.

`@P@` is the model's C prefix and `@PU@` its upper-case form; `@...@` blocks are generated
by aot_c.py. Kept as Python strings so they ship inside the graphc package.
"""

STATUS_CODES = {
    0: ("GRAPHC_MODEL_OK", "success"),
    1: ("GRAPHC_MODEL_BAD_BATCH", "batch must be >= 1"),
    2: ("GRAPHC_MODEL_NULL_POINTER", "a required pointer is NULL"),
    3: ("GRAPHC_MODEL_BAD_SIZE", "a buffer length is too small for the batch, or a size overflows"),
    4: ("GRAPHC_MODEL_OUT_OF_MEMORY", "out of memory"),
    5: ("GRAPHC_MODEL_IO_ERROR", "the weights file cannot be opened or read"),
    6: ("GRAPHC_MODEL_BAD_WEIGHTS", "the weights file is truncated or belongs to another model"),
    7: ("GRAPHC_MODEL_NO_WEIGHTS", "weights are not embedded: pass the path of the weights file"),
    8: ("GRAPHC_MODEL_BAD_INDEX", "parameter index out of range"),
    9: ("GRAPHC_MODEL_BAD_NAME", "unknown hyperparameter name"),
    10: ("GRAPHC_MODEL_BAD_ALIGNMENT", "the workspace is not aligned to GRAPHC_MODEL_WORKSPACE_ALIGN bytes"),
    11: ("GRAPHC_MODEL_NOT_TRAINABLE", "the library was compiled without --with-training"),
    12: ("GRAPHC_MODEL_BAD_LABEL", "a label is not finite, or a class index is not whole or out of range"),
    13: ("GRAPHC_MODEL_BAD_VALUE", "a hyperparameter value is not finite"),
    14: ("GRAPHC_MODEL_BAD_INPUT", "an input token id is not a whole number in [0, INPUT_ID_LIMIT)"),
    15: ("GRAPHC_MODEL_STATEFUL_BATCH",
         "the model is stateful: every call takes exactly its declared batch size (STATEFUL_BATCH in its "
         "header)"),
    16: ("GRAPHC_MODEL_STATEFUL",
         "the model is stateful: its predict writes the carried states, so call predict (alone), not "
         "predict_with_workspace"),
}

# The header's paragraph for a stateful model (its predict writes the context).
STATEFUL_NOTE = """\
 * This model is stateful (@PU@_STATEFUL_BATCH > 0: recurrent layers with stateful=True and a
 * declared batch size). The context carries the layers' states from call to call: each
 * @P@_predict and @P@_train_step starts from the states the previous call left and leaves
 * its final ones, exactly as the Keras model does between batches, and @P@_reset_states
 * zeroes them (Keras's model.reset_states()); a new context starts at zero. Every call takes
 * exactly @PU@_STATEFUL_BATCH samples, sample i continuing sequence i of the previous call:
 * another batch size gives GRAPHC_MODEL_STATEFUL_BATCH, and @P@_predict_with_workspace,
 * which takes a read-only context, gives GRAPHC_MODEL_STATEFUL.
 *
"""

HEADER = r"""/*
 * @P@.h: the C API of the model "@MODEL@", compiled ahead of time by graphc @VERSION@
 * for the CPU "@CPU@" (@TRIPLE@). Link with lib@P@.so (or @P@.o plus -pthread).
 *
 * All tensors are C-contiguous float32 arrays; a batch of inputs is `batch` samples of
 * @PU@_INPUT_SIZE floats each (shape (batch, @INPUT_DIMS@)), and predictions are `batch`
 * samples of @PU@_OUTPUT_SIZE floats (shape (batch, @OUTPUT_DIMS@)).
 *
 *     @P@_context *ctx;
 *     if (@P@_create(NULL, &ctx) != GRAPHC_MODEL_OK) ...;   // NULL: the embedded weights
 *     int32_t status = @P@_predict(ctx, batch, x, x_len, y, y_len);
 *     @P@_destroy(ctx);
 *
 * Every function returns a status code (never aborts): buffer lengths are counted in floats
 * and must be at least what the batch needs; nothing is read or written when the status is
 * not GRAPHC_MODEL_OK. Labels are checked before a training step writes anything: a label that
 * is NaN or infinite, or a class index out of [0, classes) or not whole, gives
 * GRAPHC_MODEL_BAD_LABEL; a NaN or infinite hyperparameter gives GRAPHC_MODEL_BAD_VALUE. A model
 * whose input is token ids (@PU@_INPUT_ID_LIMIT > 0) refuses an id that is not a whole number in
 * [0, @PU@_INPUT_ID_LIMIT) with GRAPHC_MODEL_BAD_INPUT, before any kernel runs.
 *
@STATEFUL_NOTE@ * Threads. Different contexts are independent: any calls on them may run at the same time.
 * On one context, @P@_predict_with_workspace (each thread with its own workspace) and the
 * read-only calls (@P@_get_param, @P@_get_hyperparameter) may run together; every other call
 * on that context (@P@_predict, which uses the context's own workspace and, for a stateful
 * model, writes its states, @P@_train_step, @P@_reset_states, @P@_set_param,
 * @P@_set_hyperparameter, @P@_destroy) must run alone, e.g. under a readers-writer lock held
 * for writing. The functions without a context may be called anytime. Only libc and pthreads
 * are needed at run time.
 */
#ifndef @PU@_H
#define @PU@_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef GRAPHC_MODEL_STATUS_CODES
#define GRAPHC_MODEL_STATUS_CODES
@STATUS_DEFINES@
#define GRAPHC_MODEL_WORKSPACE_ALIGN 64
#endif

@DEFINES@

/* Bytes of workspace @P@_predict_with_workspace needs for `batch` samples. */
#define @PU@_WORKSPACE_BYTES(batch) \
    ((int64_t)@PU@_WORKSPACE_STATIC_BYTES + (int64_t)@PU@_WORKSPACE_PER_BATCH_BYTES * (int64_t)(batch))

typedef struct @P@_context @P@_context;

/* Allocates a context holding the parameters (and optimizer state). weights_path: a weights
 * file written by graphc for this model, or NULL for the weights embedded in the library
 * (GRAPHC_MODEL_NO_WEIGHTS if there are none). *out is NULL unless the status is OK. */
int32_t @P@_create(const char *weights_path, @P@_context **out);

/* Frees the context and its buffers; NULL is ignored. */
void @P@_destroy(@P@_context *ctx);

/* y[batch * @PU@_OUTPUT_SIZE] = model(x[batch * @PU@_INPUT_SIZE]), any batch >= 1 (exactly
 * @PU@_STATEFUL_BATCH for a stateful model, whose carried states it updates). The context keeps a
 * workspace that grows to the largest batch seen. */
int32_t @P@_predict(@P@_context *ctx, int64_t batch, const float *x, int64_t x_len, float *y, int64_t y_len);

/* The same with a caller-provided workspace of at least @PU@_WORKSPACE_BYTES(batch) bytes,
 * aligned to GRAPHC_MODEL_WORKSPACE_ALIGN (NULL when that size is 0). The context is only read,
 * so threads can share one context, each with its own workspace. A stateful model's predict
 * writes its context: GRAPHC_MODEL_STATEFUL, use @P@_predict. */
int32_t @P@_predict_with_workspace(const @P@_context *ctx, int64_t batch, const float *x, int64_t x_len,
                                   float *y, int64_t y_len, void *workspace, int64_t workspace_bytes);

/* Zeroes the states a stateful model carries from call to call (Keras's model.reset_states()),
 * e.g. before a new set of sequences; parameters and optimizer state are kept. Nothing to do
 * (GRAPHC_MODEL_OK) for a model without stateful layers. */
int32_t @P@_reset_states(@P@_context *ctx);

/* Parameters (the model weights, in Keras's get_weights() order): index 0 .. @PU@_NUM_PARAMS-1. */
const char *@P@_param_name(int32_t index);        /* NULL when out of range */
int32_t @P@_param_index(const char *name);        /* -1 when unknown */
int64_t @P@_param_size(int32_t index);            /* floats; -1 when out of range */
/* Writes the dimensions into dims[0 .. *rank-1] (at most max_rank of them). */
int32_t @P@_param_shape(int32_t index, int64_t *dims, int32_t max_rank, int32_t *rank);
int32_t @P@_get_param(const @P@_context *ctx, int32_t index, float *out, int64_t out_len);
int32_t @P@_set_param(@P@_context *ctx, int32_t index, const float *values, int64_t values_len);

/* One optimizer step on a batch (labels: batch * @PU@_LABEL_SIZE floats); logs receives
 * @PU@_NUM_LOGS values (loss, then metrics, named by @P@_log_name) and may be NULL.
 * GRAPHC_MODEL_NOT_TRAINABLE unless @PU@_HAS_TRAINING. */
int32_t @P@_train_step(@P@_context *ctx, int64_t batch, const float *x, int64_t x_len, const float *y,
                       int64_t y_len, float *logs, int64_t logs_len);
const char *@P@_log_name(int32_t index);          /* NULL when out of range */
/* Optimizer hyperparameters by Keras name ("learning_rate", "beta_1", ...). */
int32_t @P@_set_hyperparameter(@P@_context *ctx, const char *name, float value);
int32_t @P@_get_hyperparameter(const @P@_context *ctx, const char *name, float *value);

/* Worker threads of the library's parallel loops: n < 1 restores the default
 * ($GRAPHC_NUM_THREADS, else the CPUs the process may use). Results do not depend on it. */
void @P@_set_num_threads(int n);
int @P@_get_num_threads(void);
/* Stops and joins the worker threads (they restart on the next parallel loop); call it before
 * unloading the library with dlclose. */
void @P@_shutdown_pool(void);

/* The compiled programs' own entry points, which the graphc runtime calls (manifest "programs"):
 * args holds one pointer per argument in the manifest's order, workspace at least
 * static_bytes + per_batch_bytes * batch bytes. The functions above check what these trust. */
@PROGRAM_DECLARATIONS@

/* A static English description of a status code. */
const char *@P@_status_string(int32_t status);

/* This build's own description as JSON (inputs, outputs, parameters, workspace, training,
 * weights layout): loaders check a manifest against it instead of trusting the manifest. */
const char *@P@_describe(void);

#ifdef __cplusplus
}
#endif

#endif /* @PU@_H */
"""

SOURCE = r"""/* Generated by graphc @VERSION@: the C API of @P@.h over the compiled programs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "@P@.h"

#define ALIGN GRAPHC_MODEL_WORKSPACE_ALIGN
#define MAX_RANK 8

typedef struct {
    const char *name;
    int64_t state_offset; /* floats into the state arena */
    int64_t data_offset;  /* floats into the weights data */
    int64_t size;
    int32_t rank;
    int64_t shape[MAX_RANK];
} param_info;

typedef struct {
    int64_t offset;  /* floats into the state arena */
    int64_t size;    /* float32 elements */
} state_span;

typedef struct {
    int64_t offset;    /* floats into the state arena */
    int64_t size;      /* elements */
    float fill;        /* float32 states */
    int64_t int_fill;  /* int64 states (step counters) */
    int32_t is_int;
} state_fill;

@TABLES@

struct @P@_context {
    float *state;
    void *workspace;
    int64_t workspace_bytes;
    float hp[NUM_HP > 0 ? NUM_HP : 1];
};

@RUNNERS@

void graphc_set_num_threads(int n);
int graphc_get_num_threads(void);
void graphc_shutdown_pool(void);

void @P@_set_num_threads(int n) { graphc_set_num_threads(n); }
int @P@_get_num_threads(void) { return graphc_get_num_threads(); }
void @P@_shutdown_pool(void) { graphc_shutdown_pool(); }

static void *alloc_aligned(int64_t nbytes) {
    size_t size = (size_t)((nbytes + ALIGN - 1) / ALIGN * ALIGN);
    return aligned_alloc(ALIGN, size ? size : ALIGN);
}

static int32_t checked_product(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0 || (b != 0 && a > INT64_MAX / b)) return GRAPHC_MODEL_BAD_SIZE;
    *out = a * b;
    return GRAPHC_MODEL_OK;
}

static int32_t workspace_need(int64_t batch, int64_t fixed, int64_t per_batch, int64_t *out) {
    int64_t scaled;
    if (checked_product(batch, per_batch, &scaled) || scaled > INT64_MAX - fixed) {
        return GRAPHC_MODEL_BAD_SIZE;
    }
    *out = fixed + scaled;
    return GRAPHC_MODEL_OK;
}

static int32_t check_buffer(int64_t batch, const void *data, int64_t len, int64_t per_sample) {
    int64_t need;
    if (data == NULL) return GRAPHC_MODEL_NULL_POINTER;
    if (checked_product(batch, per_sample, &need) || len < need) return GRAPHC_MODEL_BAD_SIZE;
    return GRAPHC_MODEL_OK;
}

static int32_t reserve(struct @P@_context *ctx, int64_t nbytes) {
    if (nbytes <= ctx->workspace_bytes) return GRAPHC_MODEL_OK;
    void *grown = alloc_aligned(nbytes);
    if (grown == NULL) return GRAPHC_MODEL_OUT_OF_MEMORY;
    free(ctx->workspace);
    ctx->workspace = grown;
    ctx->workspace_bytes = nbytes;
    return GRAPHC_MODEL_OK;
}

static void copy_params(struct @P@_context *ctx, const unsigned char *data) {
    for (int32_t i = 0; i < @PU@_NUM_PARAMS; i++) {
        memcpy(ctx->state + PARAMS[i].state_offset, data + 4 * PARAMS[i].data_offset,
               (size_t)PARAMS[i].size * 4);
    }
}

static int32_t read_weights_file(struct @P@_context *ctx, const char *path) {
    unsigned char header[WEIGHTS_HEADER_BYTES];
    uint64_t version, count, floats, hash;
    FILE *file = fopen(path, "rb");
    if (file == NULL) return GRAPHC_MODEL_IO_ERROR;
    int32_t status = GRAPHC_MODEL_OK;
    if (fread(header, 1, sizeof header, file) != sizeof header) {
        status = GRAPHC_MODEL_BAD_WEIGHTS;
    } else {
        memcpy(&version, header + 8, 8);
        memcpy(&count, header + 16, 8);
        memcpy(&floats, header + 24, 8);
        memcpy(&hash, header + 32, 8);
        if (memcmp(header, WEIGHTS_MAGIC, 8) != 0 || version != WEIGHTS_VERSION
            || count != (uint64_t)@PU@_NUM_PARAMS || floats != (uint64_t)@PU@_PARAM_FLOATS
            || hash != WEIGHTS_LAYOUT_HASH) {
            status = GRAPHC_MODEL_BAD_WEIGHTS;
        }
    }
    for (int32_t i = 0; status == GRAPHC_MODEL_OK && i < @PU@_NUM_PARAMS; i++) {
        size_t size = (size_t)PARAMS[i].size;
        if (fread(ctx->state + PARAMS[i].state_offset, 4, size, file) != size) {
            status = GRAPHC_MODEL_BAD_WEIGHTS;
        }
    }
    if (status == GRAPHC_MODEL_OK && fgetc(file) != EOF) status = GRAPHC_MODEL_BAD_WEIGHTS;
    if (ferror(file)) status = GRAPHC_MODEL_IO_ERROR;
    fclose(file);
    return status;
}

int32_t @P@_create(const char *weights_path, @P@_context **out) {
    if (out == NULL) return GRAPHC_MODEL_NULL_POINTER;
    *out = NULL;
    struct @P@_context *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) return GRAPHC_MODEL_OUT_OF_MEMORY;
    ctx->state = alloc_aligned(STATE_FLOATS * 4);
    if (ctx->state == NULL) {
        free(ctx);
        return GRAPHC_MODEL_OUT_OF_MEMORY;
    }
    memset(ctx->state, 0, (size_t)STATE_FLOATS * 4);
    for (int32_t i = 0; i < NUM_FILLS; i++) {
        float *start = ctx->state + FILLS[i].offset;
        for (int64_t j = 0; j < FILLS[i].size; j++) {
            if (FILLS[i].is_int) memcpy((char *)start + 8 * j, &FILLS[i].int_fill, 8);
            else start[j] = FILLS[i].fill;
        }
    }
    for (int32_t i = 0; i < NUM_HP; i++) ctx->hp[i] = HP_DEFAULTS[i];
    int32_t status;
    if (weights_path != NULL) {
        status = read_weights_file(ctx, weights_path);
    } else {
#if @PU@_WEIGHTS_EMBEDDED
        copy_params(ctx, @P@_weights_data);
        status = GRAPHC_MODEL_OK;
#else
        status = GRAPHC_MODEL_NO_WEIGHTS;
#endif
    }
    if (status != GRAPHC_MODEL_OK) {
        @P@_destroy(ctx);
        return status;
    }
    *out = ctx;
    return GRAPHC_MODEL_OK;
}

void @P@_destroy(@P@_context *ctx) {
    if (ctx == NULL) return;
    free(ctx->state);
    free(ctx->workspace);
    free(ctx);
}

/* A model whose input is token ids (an Embedding reads it) takes whole numbers in
 * [0, INPUT_ID_LIMIT) only: anything else is refused before a kernel runs. */
static int32_t check_inputs(int64_t batch, const float *x) {
#if @PU@_INPUT_ID_LIMIT > 0
    int64_t count = batch * (int64_t)@PU@_INPUT_SIZE;
    for (int64_t i = 0; i < count; i++) {
        float v = x[i];
        if (!(v >= 0.0f && v < (float)@PU@_INPUT_ID_LIMIT) || (float)(int64_t)v != v) {
            return GRAPHC_MODEL_BAD_INPUT;
        }
    }
#else
    (void)batch; (void)x;
#endif
    return GRAPHC_MODEL_OK;
}

/* A stateful model's carried states have one row per sample of its declared batch size. */
static int32_t check_batch(int64_t batch) {
    if (batch < 1) return GRAPHC_MODEL_BAD_BATCH;
    if (@PU@_STATEFUL_BATCH > 0 && batch != @PU@_STATEFUL_BATCH) return GRAPHC_MODEL_STATEFUL_BATCH;
    return GRAPHC_MODEL_OK;
}

static int32_t check_predict(int64_t batch, const float *x, int64_t x_len, const float *y, int64_t y_len,
                             int64_t *workspace) {
    int32_t status;
    if ((status = check_batch(batch))) return status;
    if ((status = check_buffer(batch, x, x_len, @PU@_INPUT_SIZE))) return status;
    if ((status = check_inputs(batch, x))) return status;
    if ((status = check_buffer(batch, y, y_len, @PU@_OUTPUT_SIZE))) return status;
    return workspace_need(batch, @PU@_WORKSPACE_STATIC_BYTES, @PU@_WORKSPACE_PER_BATCH_BYTES, workspace);
}

int32_t @P@_predict(@P@_context *ctx, int64_t batch, const float *x, int64_t x_len, float *y, int64_t y_len) {
    int64_t need;
    int32_t status;
    if (ctx == NULL) return GRAPHC_MODEL_NULL_POINTER;
    if ((status = check_predict(batch, x, x_len, y, y_len, &need))) return status;
    if ((status = reserve(ctx, need))) return status;
    return run_predict(ctx, batch, x, y, ctx->workspace);
}

int32_t @P@_predict_with_workspace(const @P@_context *ctx, int64_t batch, const float *x, int64_t x_len,
                                   float *y, int64_t y_len, void *workspace, int64_t workspace_bytes) {
#if @PU@_STATEFUL_BATCH > 0
    (void)batch; (void)x; (void)x_len; (void)y; (void)y_len; (void)workspace; (void)workspace_bytes;
    return ctx == NULL ? GRAPHC_MODEL_NULL_POINTER : GRAPHC_MODEL_STATEFUL;
#else
    int64_t need;
    int32_t status;
    if (ctx == NULL) return GRAPHC_MODEL_NULL_POINTER;
    if ((status = check_predict(batch, x, x_len, y, y_len, &need))) return status;
    if (need > 0 && workspace == NULL) return GRAPHC_MODEL_NULL_POINTER;
    if (workspace_bytes < need) return GRAPHC_MODEL_BAD_SIZE;
    if ((uintptr_t)workspace % ALIGN != 0) return GRAPHC_MODEL_BAD_ALIGNMENT;
    return run_predict(ctx, batch, x, y, workspace);
#endif
}

int32_t @P@_reset_states(@P@_context *ctx) {
    if (ctx == NULL) return GRAPHC_MODEL_NULL_POINTER;
    for (int32_t i = 0; i < NUM_CARRIED; i++) {
        memset(ctx->state + CARRIED[i].offset, 0, (size_t)CARRIED[i].size * 4);
    }
    return GRAPHC_MODEL_OK;
}

const char *@P@_param_name(int32_t index) {
    return index >= 0 && index < @PU@_NUM_PARAMS ? PARAMS[index].name : NULL;
}

int32_t @P@_param_index(const char *name) {
    if (name == NULL) return -1;
    for (int32_t i = 0; i < @PU@_NUM_PARAMS; i++) {
        if (strcmp(PARAMS[i].name, name) == 0) return i;
    }
    return -1;
}

int64_t @P@_param_size(int32_t index) {
    return index >= 0 && index < @PU@_NUM_PARAMS ? PARAMS[index].size : -1;
}

int32_t @P@_param_shape(int32_t index, int64_t *dims, int32_t max_rank, int32_t *rank) {
    if (dims == NULL || rank == NULL) return GRAPHC_MODEL_NULL_POINTER;
    if (index < 0 || index >= @PU@_NUM_PARAMS) return GRAPHC_MODEL_BAD_INDEX;
    if (max_rank < PARAMS[index].rank) return GRAPHC_MODEL_BAD_SIZE;
    for (int32_t d = 0; d < PARAMS[index].rank; d++) dims[d] = PARAMS[index].shape[d];
    *rank = PARAMS[index].rank;
    return GRAPHC_MODEL_OK;
}

int32_t @P@_get_param(const @P@_context *ctx, int32_t index, float *out, int64_t out_len) {
    if (ctx == NULL || out == NULL) return GRAPHC_MODEL_NULL_POINTER;
    if (index < 0 || index >= @PU@_NUM_PARAMS) return GRAPHC_MODEL_BAD_INDEX;
    if (out_len < PARAMS[index].size) return GRAPHC_MODEL_BAD_SIZE;
    memcpy(out, ctx->state + PARAMS[index].state_offset, (size_t)PARAMS[index].size * 4);
    return GRAPHC_MODEL_OK;
}

int32_t @P@_set_param(@P@_context *ctx, int32_t index, const float *values, int64_t values_len) {
    if (ctx == NULL || values == NULL) return GRAPHC_MODEL_NULL_POINTER;
    if (index < 0 || index >= @PU@_NUM_PARAMS) return GRAPHC_MODEL_BAD_INDEX;
    if (values_len < PARAMS[index].size) return GRAPHC_MODEL_BAD_SIZE;
    memcpy(ctx->state + PARAMS[index].state_offset, values, (size_t)PARAMS[index].size * 4);
    return GRAPHC_MODEL_OK;
}

#if @PU@_HAS_TRAINING
/* Every label finite, and for class-index labels a whole number in [0, LABEL_CLASSES). */
static int32_t check_labels(int64_t batch, const float *y) {
    int64_t count = batch * (int64_t)@PU@_LABEL_SIZE;
    for (int64_t i = 0; i < count; i++) {
        float v = y[i];
        if (!(v - v == 0.0f)) return GRAPHC_MODEL_BAD_LABEL;
#if LABEL_CLASSES > 0
        if (v < 0.0f || v >= (float)LABEL_CLASSES || (float)(int64_t)v != v) return GRAPHC_MODEL_BAD_LABEL;
#endif
    }
    return GRAPHC_MODEL_OK;
}
#endif

int32_t @P@_train_step(@P@_context *ctx, int64_t batch, const float *x, int64_t x_len, const float *y,
                       int64_t y_len, float *logs, int64_t logs_len) {
#if @PU@_HAS_TRAINING
    int64_t need;
    int32_t status;
    float results[@PU@_NUM_LOGS];
    if (ctx == NULL) return GRAPHC_MODEL_NULL_POINTER;
    if ((status = check_batch(batch))) return status;
    if ((status = check_buffer(batch, x, x_len, @PU@_INPUT_SIZE))) return status;
    if ((status = check_inputs(batch, x))) return status;
    if ((status = check_buffer(batch, y, y_len, @PU@_LABEL_SIZE))) return status;
    if ((status = check_labels(batch, y))) return status;
    if (logs != NULL && logs_len < @PU@_NUM_LOGS) return GRAPHC_MODEL_BAD_SIZE;
    status = workspace_need(batch, TRAIN_WORKSPACE_STATIC, TRAIN_WORKSPACE_PER_BATCH, &need);
    if (status) return status;
    if ((status = reserve(ctx, need))) return status;
    status = run_train_step(ctx, batch, x, y, results, ctx->workspace);
    if (status == GRAPHC_MODEL_OK && logs != NULL) memcpy(logs, results, sizeof results);
    return status;
#else
    (void)ctx; (void)batch; (void)x; (void)x_len; (void)y; (void)y_len; (void)logs; (void)logs_len;
    return GRAPHC_MODEL_NOT_TRAINABLE;
#endif
}

const char *@P@_log_name(int32_t index) {
    return index >= 0 && index < @PU@_NUM_LOGS ? LOG_NAMES[index] : NULL;
}

/* Named hyperparameters only: the derived `1-<name>` entries follow their base (set below). */
static int32_t hp_index(const char *name) {
    if (name == NULL) return -2;
    for (int32_t i = 0; i < NUM_HP; i++) {
        if (HP_COMPLEMENT_OF[i] < 0 && strcmp(HP_NAMES[i], name) == 0) return i;
    }
    return -1;
}

int32_t @P@_set_hyperparameter(@P@_context *ctx, const char *name, float value) {
    int32_t index = hp_index(name);
    if (ctx == NULL || index == -2) return GRAPHC_MODEL_NULL_POINTER;
    if (index < 0) return @PU@_HAS_TRAINING ? GRAPHC_MODEL_BAD_NAME : GRAPHC_MODEL_NOT_TRAINABLE;
    if (!(value - value == 0.0f)) return GRAPHC_MODEL_BAD_VALUE;
    ctx->hp[index] = value;
    for (int32_t i = 0; i < NUM_HP; i++) {  /* 1 - value in double, as Keras's Python computes it */
        if (HP_COMPLEMENT_OF[i] == index) ctx->hp[i] = (float)(1.0 - (double)value);
    }
    return GRAPHC_MODEL_OK;
}

int32_t @P@_get_hyperparameter(const @P@_context *ctx, const char *name, float *value) {
    int32_t index = hp_index(name);
    if (ctx == NULL || value == NULL || index == -2) return GRAPHC_MODEL_NULL_POINTER;
    if (index < 0) return @PU@_HAS_TRAINING ? GRAPHC_MODEL_BAD_NAME : GRAPHC_MODEL_NOT_TRAINABLE;
    *value = ctx->hp[index];
    return GRAPHC_MODEL_OK;
}

const char *@P@_describe(void) {
    return @DESCRIPTION@;
}

const char *@P@_status_string(int32_t status) {
    switch (status) {
@STATUS_CASES@
    default: return "unknown status";
    }
}
"""
