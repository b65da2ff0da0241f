/*
 * Classifies MNIST test images with a model compiled by `graphc compile --name mnist`.
 *
 *     classify IMAGES.idx LABELS.idx [--dump] [--time N]
 *
 * Reads uncompressed IDX files (28x28 uint8 images, uint8 labels), scales pixels to [0, 1]
 * as the model was trained, predicts all images in one batch, and prints the first results
 * and the accuracy. --dump prints every probability (%.9g, exact for float32); --time N
 * measures the batch-1 latency of mnist_predict over N calls.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mnist.h"

static unsigned char *read_idx(const char *path, int rank, uint32_t *dims) {
    FILE *file = fopen(path, "rb");
    unsigned char head[4], *data = NULL;
    if (file == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    size_t count = 1;
    int ok = fread(head, 1, 4, file) == 4 && head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] == rank;
    for (int d = 0; ok && d < rank; d++) {
        unsigned char b[4];
        ok = fread(b, 1, 4, file) == 4;
        dims[d] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        count *= dims[d];
    }
    if (ok && (data = malloc(count)) != NULL && fread(data, 1, count, file) != count) {
        free(data);
        data = NULL;
    }
    if (data == NULL) fprintf(stderr, "%s is not a uint8 IDX file of rank %d\n", path, rank);
    fclose(file);
    return data;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s IMAGES.idx LABELS.idx [--dump] [--time N]\n", argv[0]);
        return 2;
    }
    int dump = 0;
    long repeats = 0;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--dump") == 0) dump = 1;
        else if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) repeats = atol(argv[++i]);
    }
    uint32_t image_dims[3], label_dims[1];
    unsigned char *pixels = read_idx(argv[1], 3, image_dims);
    unsigned char *labels = read_idx(argv[2], 1, label_dims);
    if (pixels == NULL || labels == NULL) return 1;
    int64_t n = image_dims[0];
    if (label_dims[0] != n || (int64_t)image_dims[1] * image_dims[2] != MNIST_INPUT_SIZE) {
        fprintf(stderr, "expected N images of %d pixels and N labels\n", MNIST_INPUT_SIZE);
        return 1;
    }
    float *x = malloc(sizeof(float) * n * MNIST_INPUT_SIZE);
    float *y = malloc(sizeof(float) * n * MNIST_OUTPUT_SIZE);
    if (x == NULL || y == NULL) return 1;
    for (int64_t i = 0; i < n * MNIST_INPUT_SIZE; i++) x[i] = pixels[i] / 255.0f;

    mnist_context *model;
    int32_t status = mnist_create(NULL, &model);
    if (status == GRAPHC_MODEL_OK) status = mnist_predict(model, n, x, n * MNIST_INPUT_SIZE, y, n * MNIST_OUTPUT_SIZE);
    if (status != GRAPHC_MODEL_OK) {
        fprintf(stderr, "mnist: %s\n", mnist_status_string(status));
        return 1;
    }
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *p = y + i * MNIST_OUTPUT_SIZE;
        int best = 0;
        for (int k = 1; k < MNIST_OUTPUT_SIZE; k++) if (p[k] > p[best]) best = k;
        correct += best == labels[i];
        if (i < 10) printf("image %lld: predicted %d (p=%.3f), label %d\n", (long long)i, best, p[best], labels[i]);
        if (dump) {
            printf("probabilities %lld:", (long long)i);
            for (int k = 0; k < MNIST_OUTPUT_SIZE; k++) printf(" %.9g", p[k]);
            printf("\n");
        }
    }
    printf("accuracy: %lld/%lld\n", (long long)correct, (long long)n);
    if (repeats > 0) {
        float one[MNIST_OUTPUT_SIZE];
        for (int i = 0; i < 100; i++) mnist_predict(model, 1, x, MNIST_INPUT_SIZE, one, MNIST_OUTPUT_SIZE);
        double start = now();
        for (long i = 0; i < repeats; i++) {
            mnist_predict(model, 1, x + (i % n) * MNIST_INPUT_SIZE, MNIST_INPUT_SIZE, one, MNIST_OUTPUT_SIZE);
        }
        printf("batch-1 latency: %.2f us over %ld calls\n", (now() - start) / repeats * 1e6, repeats);
    }
    mnist_destroy(model);
    free(x);
    free(y);
    free(pixels);
    free(labels);
    return 0;
}
