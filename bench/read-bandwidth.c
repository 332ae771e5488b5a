// Memory read bandwidth of this machine, for the decode rows' "% of the bandwidth limit": decoding one
// token reads every weight once, so bandwidth / bytes-per-token is the fastest decode the machine allows.
// One buffer far larger than the caches, one slice per thread, summed with wide loads (the compiler
// vectorises the loop at -O3 -march=native); the best of several passes, as STREAM reports.
//
//   cc -O3 -march=native -pthread bench/read-bandwidth.c -o read-bandwidth && ./read-bandwidth THREADS [MiB]
//
// Prints one line of JSON: {"threads", "mib", "gbPerSecond"} (10^9 bytes per second).
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { PASSES = 7, MAX_THREADS = 256 };

typedef struct {
  const uint64_t *words;
  size_t count;
  uint64_t sum; // kept so the loads are not optimised away
} Slice;

static pthread_barrier_t start;

static void *readSlice(void *arg) {
  Slice *slice = arg;
  pthread_barrier_wait(&start);
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 4 <= slice->count; i += 4) {
    a += slice->words[i];
    b += slice->words[i + 1];
    c += slice->words[i + 2];
    d += slice->words[i + 3];
  }
  slice->sum = a + b + c + d;
  return NULL;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 1024;
  if (threads < 1 || threads > MAX_THREADS || mib < 64) {
    fprintf(stderr, "usage: read-bandwidth THREADS [MiB >= 64]\n");
    return 2;
  }
  size_t bytes = mib << 20;
  uint64_t *words = aligned_alloc(64, bytes);
  if (!words) {
    fprintf(stderr, "cannot allocate %zu MiB\n", mib);
    return 1;
  }
  memset(words, 1, bytes); // touch every page before timing
  size_t count = bytes / sizeof(uint64_t);
  size_t per = count / threads / 8 * 8;
  double best = 0;
  uint64_t total = 0;
  for (int pass = 0; pass < PASSES; pass++) {
    pthread_t ids[MAX_THREADS];
    Slice slices[MAX_THREADS];
    pthread_barrier_init(&start, NULL, threads + 1);
    for (int t = 0; t < threads; t++) {
      slices[t] = (Slice){ words + t * per, per, 0 };
      pthread_create(&ids[t], NULL, readSlice, &slices[t]);
    }
    double t0 = now();
    pthread_barrier_wait(&start);
    for (int t = 0; t < threads; t++) {
      pthread_join(ids[t], NULL);
      total += slices[t].sum;
    }
    double seconds = now() - t0;
    pthread_barrier_destroy(&start);
    double rate = (double)(per * threads * sizeof(uint64_t)) / seconds / 1e9;
    if (rate > best) best = rate;
  }
  printf("{\"threads\": %d, \"mib\": %zu, \"gbPerSecond\": %.2f, \"check\": %llu}\n", threads, mib, best, (unsigned long long)(total & 1));
  free(words);
  return 0;
}
