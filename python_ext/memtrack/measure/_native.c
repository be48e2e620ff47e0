/*
 * memtrack's native allocation engine: what tracemalloc counts (bytes Python allocated and has
 * not freed since the engine started, and their peak), at a fraction of its cost.
 *
 * Hooks wrap CPython's three allocator domains (raw, mem, object) and, when numpy is already
 * imported, numpy's data allocator (NEP 49 handler), for the length of a cell. Like tracemalloc:
 * a block counts from its allocation to its free, a free of a block allocated before the start
 * is not counted (the caller estimates those), the requested size is counted, and a call nested
 * inside another hooked call (pymalloc forwarding a big block to the raw domain) is the outer
 * call's. Unlike tracemalloc: no traceback, no clock, no line-table scan, no lock on the object
 * domains (they run with the GIL held).
 *
 * Where the sizes live, for the free:
 *  - small blocks (<= 512 bytes, served by pymalloc) in a table of 4 KiB pages: one entry per
 *    page touched, one 16-bit slot per 16-byte block in it (pymalloc's blocks are 16-byte
 *    aligned and never straddle a pool). Consecutive allocations mostly land in the same page,
 *    so most calls hit the entry of the call before: no hashing, no cache miss.
 *  - other blocks (raw domain, big blocks, numpy data) in an address -> size table under a
 *    spin lock (the raw domain and numpy are called without the GIL too).
 * Tables are allocated with the C library's allocator, never through Python's (which is us).
 *
 * Safety: the hooks never run Python code and never raise. Stopping removes them where they
 * are still the outermost allocator; where something wrapped them since (the user started
 * tracemalloc in the cell) they stay in place as a pass-through, which is always correct.
 * Blocks allocated under the hooks and freed after are freed by the allocator that made them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <pthread.h>
#endif

#if defined(Py_GIL_DISABLED)
#define MT_NO_ENGINE "a free-threaded CPython"
#endif

/* Lines by sampling need the interpreter's own frames (walked as tracemalloc walks them, never
 * materialised: making a frame object allocates and may run a collection): 3.11's layout. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000 && !defined(MT_NO_ENGINE)
#define MT_LINES 1
#define Py_BUILD_CORE 1
#include "internal/pycore_frame.h"
#undef Py_BUILD_CORE
#include <math.h>
#endif

/* ---------------------------------------------------------------------------------------- */
/* state */

static volatile int active;         /* counting now */
static int installed;               /* our hooks are in the allocator chain */
static int small_pages;             /* small blocks are pymalloc's: use the page table */
static int overflow;                /* a table could not grow: later blocks are not counted */
static int64_t small_bytes;         /* object and mem domains (GIL held) */
static int64_t large_bytes;         /* under large_lock */
static int64_t peak_bytes;
static uint64_t allocations;        /* calls counted (for status) */

static PyMemAllocatorEx orig_raw, orig_mem, orig_obj;
static PyMemAllocatorEx hook_raw, hook_mem, hook_obj;

/* Depth of hooked calls on this thread: a nested call (pymalloc asking the raw domain for a
 * big block or a new arena list, our own hooks wrapped twice) is its outer call's business. */
static __thread int depth;

#define SMALL_MAX 512
#define SLOT_SAMPLED 0x8000u           /* in a small block's slot: the block was sampled */
#define LARGE_SAMPLED ((size_t)1 << 63) /* in a large block's size: the block was sampled */
#define PAGE_SHIFT 12
#define SLOTS (1 << (PAGE_SHIFT - 4))

static inline void note_peak(void) {
    int64_t now = small_bytes + large_bytes; /* large_bytes read without its lock: benign */
    if (now > peak_bytes) {
        peak_bytes = now;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* the large-block table: open addressing, linear probing, address -> size */

typedef struct {
    uintptr_t key; /* 0 empty, 1 deleted */
    size_t size;
} LargeEntry;

static LargeEntry *large;
static size_t large_cap;  /* a power of two, or 0 */
static size_t large_used; /* live + deleted */
static size_t large_live;
static char large_lock;

#define LARGE_MAX_CAP ((size_t)1 << 26) /* 64M entries: 1 GiB of table */

static inline void lock_large(void) {
    while (__atomic_test_and_set(&large_lock, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&large_lock, __ATOMIC_RELAXED)) {
        }
    }
}

static inline void unlock_large(void) { __atomic_clear(&large_lock, __ATOMIC_RELEASE); }

static inline size_t hash_address(uintptr_t key, size_t cap) {
    return (size_t)(((uint64_t)(key >> 4) * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static int large_grow(void) {
    size_t cap = large_cap ? large_cap * 2 : 4096;
    if (large_live * 4 < large_cap) {
        cap = large_cap; /* mostly deleted entries: rebuild at the same size */
    }
    if (cap > LARGE_MAX_CAP) {
        return -1;
    }
    LargeEntry *table = calloc(cap, sizeof(LargeEntry));
    if (table == NULL) {
        return -1;
    }
    for (size_t i = 0; i < large_cap; i++) {
        uintptr_t key = large[i].key;
        if (key > 1) {
            size_t j = hash_address(key, cap);
            while (table[j].key) {
                j = (j + 1) & (cap - 1);
            }
            table[j] = large[i];
        }
    }
    free(large);
    large = table;
    large_cap = cap;
    large_used = large_live;
    return 0;
}

/* Under large_lock. */
static void large_add(uintptr_t key, size_t size) {
    if ((large_used + 1) * 2 > large_cap && large_grow() < 0) {
        overflow = 1;
        return;
    }
    size_t i = hash_address(key, large_cap);
    size_t deleted = (size_t)-1;
    while (large[i].key) {
        if (large[i].key == key) { /* reused without our seeing the free: replace */
            large_bytes += (int64_t)size - (int64_t)(large[i].size & ~LARGE_SAMPLED);
            large[i].size = size;
            return;
        }
        if (large[i].key == 1 && deleted == (size_t)-1) {
            deleted = i;
        }
        i = (i + 1) & (large_cap - 1);
    }
    if (deleted != (size_t)-1) {
        i = deleted;
    } else {
        large_used++;
    }
    large[i].key = key;
    large[i].size = size;
    large_live++;
    large_bytes += (int64_t)size;
}

/* Under large_lock: the size of the block at key (removed; marked sampled when mark), or -1
 * if not counted. */
static int64_t large_take(uintptr_t key, int remove, int *sampled, int mark) {
    if (large_cap == 0) {
        return -1;
    }
    size_t i = hash_address(key, large_cap);
    while (large[i].key) {
        if (large[i].key == key) {
            int64_t size = (int64_t)(large[i].size & ~LARGE_SAMPLED);
            *sampled = (large[i].size & LARGE_SAMPLED) != 0;
            if (mark) {
                large[i].size |= LARGE_SAMPLED;
            }
            if (remove) {
                large[i].key = 1;
                large_live--;
                large_bytes -= size;
            }
            return size;
        }
        i = (i + 1) & (large_cap - 1);
    }
    return -1;
}

static void large_add_locked(void *p, size_t size) {
    lock_large();
    if (active) {
        large_add((uintptr_t)p, size);
    }
    unlock_large();
    note_peak();
}

static void sample_forget(void *p);

/* The size of the large block at p (removed), or -1; *sampled: it carries a line's sample. */
static int64_t large_forget_locked(void *p, int *sampled) {
    *sampled = 0;
    lock_large();
    int64_t size = active ? large_take((uintptr_t)p, 1, sampled, 0) : -1;
    unlock_large();
    return size;
}

static int64_t large_take_locked(void *p) {
    int sampled;
    int64_t size = large_forget_locked(p, &sampled);
    if (sampled) {
        sample_forget(p);
    }
    return size;
}

/* ---------------------------------------------------------------------------------------- */
/* the small-block page table (GIL held: no lock) */

typedef struct {
    uintptr_t page; /* 0: empty */
    uint32_t live;  /* counted blocks in it now */
    uint16_t slot[SLOTS]; /* requested size + 1 of the block starting there, 0: not counted */
} PageEntry;

static PageEntry *pages;
static size_t pages_cap;
static size_t pages_used;
static PageEntry *last_entry; /* the entry of the last call */

#define PAGES_MAX_CAP ((size_t)1 << 20) /* 1M pages (4 GiB of small blocks): 520 MB of table */

static inline size_t hash_page(uintptr_t page, size_t cap) {
    return (size_t)(((uint64_t)page * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

static int pages_grow(void) {
    size_t cap = pages_cap ? pages_cap * 2 : 1024;
    if (cap > PAGES_MAX_CAP) {
        return -1;
    }
    PageEntry *table = calloc(cap, sizeof(PageEntry));
    if (table == NULL) {
        return -1;
    }
    for (size_t i = 0; i < pages_cap; i++) {
        if (pages[i].page) {
            size_t j = hash_page(pages[i].page, cap);
            while (table[j].page) {
                j = (j + 1) & (cap - 1);
            }
            table[j] = pages[i];
        }
    }
    free(pages);
    pages = table;
    pages_cap = cap;
    last_entry = NULL;
    return 0;
}

/* The entry of page (created when create), or NULL. */
static inline PageEntry *page_entry(uintptr_t page, int create) {
    PageEntry *e = last_entry;
    if (e != NULL && e->page == page) {
        return e;
    }
    if (pages_cap == 0) {
        if (!create || pages_grow() < 0) {
            if (create) {
                overflow = 1;
            }
            return NULL;
        }
    }
    size_t i = hash_page(page, pages_cap);
    while (pages[i].page) {
        if (pages[i].page == page) {
            return last_entry = &pages[i];
        }
        i = (i + 1) & (pages_cap - 1);
    }
    if (!create) {
        return NULL;
    }
    if ((pages_used + 1) * 2 > pages_cap) {
        if (pages_grow() < 0) {
            overflow = 1;
            return NULL;
        }
        return page_entry(page, create);
    }
    pages_used++;
    pages[i].page = page;
    return last_entry = &pages[i];
}

static inline void small_add(void *p, size_t size) {
    uintptr_t a = (uintptr_t)p;
    PageEntry *e = page_entry(a >> PAGE_SHIFT, 1);
    if (e == NULL) {
        return;
    }
    uint16_t *slot = &e->slot[(a >> 4) & (SLOTS - 1)];
    if (*slot) {
        small_bytes -= (int64_t)((*slot & ~SLOT_SAMPLED) - 1);
    } else {
        e->live++;
    }
    small_bytes += (int64_t)size;
    *slot = (uint16_t)(size + 1);
    note_peak();
}

static inline void small_mark_sampled(void *p) {
    uintptr_t a = (uintptr_t)p;
    PageEntry *e = page_entry(a >> PAGE_SHIFT, 0);
    if (e != NULL && e->slot[(a >> 4) & (SLOTS - 1)]) {
        e->slot[(a >> 4) & (SLOTS - 1)] |= SLOT_SAMPLED;
    }
}

#define NOT_COUNTED -1  /* in a page holding counted small blocks: pymalloc's, from before */
#define NOT_IN_PAGES -2 /* no counted small block in its page now: small or large, unknown
                         * (an arena unmapped in the cell may be a big block's memory since) */

/* The size of the small block at p (forgotten when remove), or NOT_COUNTED / NOT_IN_PAGES. */
static inline int64_t small_take(void *p, int remove, int *sampled) {
    uintptr_t a = (uintptr_t)p;
    if ((a & 15) != 0) {
        return NOT_IN_PAGES;
    }
    PageEntry *e = page_entry(a >> PAGE_SHIFT, 0);
    if (e == NULL) {
        return NOT_IN_PAGES;
    }
    uint16_t *slot = &e->slot[(a >> 4) & (SLOTS - 1)];
    if (*slot == 0) {
        return e->live ? NOT_COUNTED : NOT_IN_PAGES;
    }
    int64_t size = (int64_t)((*slot & ~SLOT_SAMPLED) - 1);
    *sampled = (*slot & SLOT_SAMPLED) != 0;
    if (remove) {
        *slot = 0;
        e->live--;
        small_bytes -= size;
    }
    return size;
}

/* ---------------------------------------------------------------------------------------- */
/* lines by sampling: every sample_mean bytes on average (exponential intervals: a regular
 * pattern of allocations cannot alias with them), the block that crosses the interval is
 * laid to the line of the innermost frame of the cell's own code; its weight comes off that
 * line again when it is freed, so a line's figure is what it allocated and kept (GIL held) */

typedef struct {
    uintptr_t key; /* 0 empty, 1 deleted */
    int32_t line;
    int64_t weight;
} SampleEntry;

#define LINES_CAP 4096
static int32_t line_keys[LINES_CAP]; /* 0: empty (lines start at 1) */
static int64_t line_bytes[LINES_CAP];
static SampleEntry *samples;
static size_t samples_cap, samples_used;
static char samples_lock;
static PyObject *cell_file; /* the cell's code's co_filename (a str), or NULL: no sampling */
static int64_t sample_mean = 64 * 1024;
static int64_t sample_left;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t samples_taken, samples_lost;

static inline void lock_samples(void) {
    while (__atomic_test_and_set(&samples_lock, __ATOMIC_ACQUIRE)) {
    }
}

static inline void unlock_samples(void) { __atomic_clear(&samples_lock, __ATOMIC_RELEASE); }

#ifdef MT_LINES
static int64_t next_interval(void) {
    rng_state ^= rng_state << 13; /* xorshift64 */
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    double u = ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0); /* (0, 1) */
    int64_t n = (int64_t)(-log(u) * (double)sample_mean);
    return n > 0 ? n : 1;
}

/* The cell's line running now (innermost frame of the cell's code), or 0. */
static int32_t cell_line(void) {
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    if (ts == NULL || ts->cframe == NULL || cell_file == NULL) {
        return 0;
    }
    int depth_left = 64;
    for (_PyInterpreterFrame *f = ts->cframe->current_frame; f != NULL && depth_left-- > 0;
         f = f->previous) {
        if (_PyFrame_IsIncomplete(f)) {
            continue;
        }
        PyObject *name = f->f_code->co_filename;
        if (name == cell_file ||
            (PyUnicode_CheckExact(name) && PyUnicode_Compare(name, cell_file) == 0)) {
            int line = PyCode_Addr2Line(f->f_code, _PyInterpreterFrame_LASTI(f) * (int)sizeof(_Py_CODEUNIT));
            return line > 0 ? line : 0;
        }
    }
    return 0;
}
#endif

static void line_add(int32_t line, int64_t bytes) {
    size_t i = ((uint32_t)line * 2654435761u) & (LINES_CAP - 1);
    for (size_t n = 0; n < LINES_CAP; n++, i = (i + 1) & (LINES_CAP - 1)) {
        if (line_keys[i] == line || line_keys[i] == 0) {
            line_keys[i] = line;
            line_bytes[i] += bytes;
            return;
        }
    }
    samples_lost++;
}

/* Under samples_lock: 0 stored (the caller lays the weight to line), 1 added to the block's
 * sample (laid to its line here), -1 no memory. */
static int samples_put(uintptr_t key, int32_t line, int64_t weight) {
    if ((samples_used + 1) * 2 > samples_cap) {
        size_t cap = samples_cap ? samples_cap * 2 : 1024;
        SampleEntry *table = calloc(cap, sizeof(SampleEntry));
        if (table == NULL) {
            return -1;
        }
        size_t used = 0;
        for (size_t i = 0; i < samples_cap; i++) {
            if (samples[i].key > 1) {
                size_t j = hash_address(samples[i].key, cap);
                while (table[j].key) {
                    j = (j + 1) & (cap - 1);
                }
                table[j] = samples[i];
                used++;
            }
        }
        free(samples);
        samples = table;
        samples_cap = cap;
        samples_used = used;
    }
    size_t i = hash_address(key, samples_cap);
    size_t free_slot = (size_t)-1;
    while (samples[i].key) {
        if (samples[i].key == key) { /* sampled again as it grew: the growth is laid to the
                                          * line that made the block (it frees it whole) */
            line_add(samples[i].line, weight);
            samples[i].weight += weight;
            return 1;
        }
        if (samples[i].key == 1 && free_slot == (size_t)-1) {
            free_slot = i;
        }
        i = (i + 1) & (samples_cap - 1);
    }
    if (free_slot != (size_t)-1) {
        i = free_slot;
    } else {
        samples_used++;
    }
    samples[i] = (SampleEntry){key, line, weight};
    return 0;
}

/* A sampled block moved by realloc: its sample follows it (its line's figure unchanged). */
static void sample_move(void *from, void *to) {
    lock_samples();
    if (samples_cap) {
        size_t i = hash_address((uintptr_t)from, samples_cap);
        while (samples[i].key) {
            if (samples[i].key == (uintptr_t)from) {
                SampleEntry moved = samples[i];
                samples[i].key = 1;
                if (samples_put((uintptr_t)to, moved.line, 0) >= 0) {
                    /* put with weight 0 created or found the entry: give it the weight back */
                    size_t j = hash_address((uintptr_t)to, samples_cap);
                    while (samples[j].key != (uintptr_t)to) {
                        j = (j + 1) & (samples_cap - 1);
                    }
                    samples[j].weight += moved.weight;
                } else {
                    line_add(moved.line, -moved.weight);
                }
                break;
            }
            i = (i + 1) & (samples_cap - 1);
        }
    }
    unlock_samples();
}

/* A sampled block freed: its weight comes off its line. */
static void sample_forget(void *p) {
    lock_samples();
    if (samples_cap) {
        size_t i = hash_address((uintptr_t)p, samples_cap);
        while (samples[i].key) {
            if (samples[i].key == (uintptr_t)p) {
                line_add(samples[i].line, -samples[i].weight);
                samples[i].key = 1;
                break;
            }
            i = (i + 1) & (samples_cap - 1);
        }
    }
    unlock_samples();
}

/* A small block: pymalloc's (in its pages table) rather than the large table's. */
static inline int is_small(void *p, size_t size) {
    return small_pages && size <= SMALL_MAX && ((uintptr_t)p & 15) == 0;
}

static inline void mark_sampled(void *p, int small) {
    if (small) {
        small_mark_sampled(p);
    } else {
        int sampled;
        lock_large();
        large_take((uintptr_t)p, 0, &sampled, 1);
        unlock_large();
    }
}

/* A block of size just counted: sampled when it crosses the next interval. GIL held. */
static inline void maybe_sample(void *p, size_t size, int small) {
#ifdef MT_LINES
    if (cell_file == NULL) {
        return;
    }
    sample_left -= (int64_t)size;
    if (sample_left > 0) {
        return;
    }
    int64_t weight = 0;
    while (sample_left <= 0) {
        weight += sample_mean;
        sample_left += next_interval();
    }
    int32_t line = cell_line();
    samples_taken++;
    if (line == 0) {
        return; /* not under the cell's code (a thread, a callback): not a line's */
    }
    lock_samples();
    int put = samples_put((uintptr_t)p, line, weight);
    int stored = put >= 0;
    if (put == 0) {
        line_add(line, weight);
    }
    unlock_samples();
    if (!stored) {
        samples_lost++;
        return;
    }
    mark_sampled(p, small);
#else
    (void)p;
    (void)size;
    (void)small;
#endif
}

static void clear_samples(void) {
    lock_samples();
    free(samples);
    samples = NULL;
    samples_cap = samples_used = 0;
    memset(line_keys, 0, sizeof(line_keys));
    memset(line_bytes, 0, sizeof(line_bytes));
    samples_taken = samples_lost = 0;
    unlock_samples();
    Py_CLEAR(cell_file);
}

/* ---------------------------------------------------------------------------------------- */
/* the object and mem domains (GIL held) */

/* A block of size counted; grown bytes of it go to the line sampler (all of a new block; a
 * reallocated one only its growth: a line that appends to a big buffer allocated the growth). */
static inline void count_block_grown(void *p, size_t size, size_t grown) {
    int small = is_small(p, size);
    if (small) {
        small_add(p, size);
    } else {
        large_add_locked(p, size);
    }
    allocations++;
    if (grown) {
        maybe_sample(p, grown, small);
    }
}

static inline void count_block(void *p, size_t size) { count_block_grown(p, size, size); }

/* The size of a block freed or reallocated (forgotten), or -1 if not counted. Frees of older
 * blocks are most frees: a page of pymalloc's that holds counted blocks is pymalloc's (only its
 * small blocks go in pages), and an empty large table holds nothing: no lock, no probe. */
static inline int64_t forget_block(void *p, int *was_small, int *sampled) {
    *sampled = 0;
    int64_t size = small_take(p, 1, sampled);
    *was_small = size >= 0;
    if (size != NOT_IN_PAGES) {
        return size;
    }
    if (__atomic_load_n(&large_live, __ATOMIC_RELAXED) == 0) {
        return -1; /* p is being freed here: no other thread can be counting it now */
    }
    return large_forget_locked(p, sampled);
}


static void *gil_malloc(void *ctx, size_t size) {
    PyMemAllocatorEx *a = (PyMemAllocatorEx *)ctx;
    if (!active || depth) {
        return a->malloc(a->ctx, size);
    }
    depth++;
    void *p = a->malloc(a->ctx, size);
    depth--;
    if (p != NULL) {
        count_block(p, size);
    }
    return p;
}

static void *gil_calloc(void *ctx, size_t nelem, size_t elsize) {
    PyMemAllocatorEx *a = (PyMemAllocatorEx *)ctx;
    if (!active || depth) {
        return a->calloc(a->ctx, nelem, elsize);
    }
    depth++;
    void *p = a->calloc(a->ctx, nelem, elsize);
    depth--;
    if (p != NULL) {
        count_block(p, nelem * elsize); /* no overflow: the allocator returned it */
    }
    return p;
}

static void *gil_realloc(void *ctx, void *ptr, size_t size) {
    PyMemAllocatorEx *a = (PyMemAllocatorEx *)ctx;
    if (!active || depth) {
        return a->realloc(a->ctx, ptr, size);
    }
    int64_t old = -1;
    int old_small = 0, old_sampled = 0;
    if (ptr != NULL) {
        old = forget_block(ptr, &old_small, &old_sampled);
    }
    depth++;
    void *p = a->realloc(a->ctx, ptr, size);
    depth--;
    if (p == NULL) {
        if (old >= 0 && size != 0) { /* failed: the old block is still there, still counted */
            if (old_small) {
                small_add(ptr, (size_t)old);
            } else {
                large_add_locked(ptr, (size_t)old);
            }
            if (old_sampled) {
                mark_sampled(ptr, old_small);
            }
        } else if (old_sampled) {
            sample_forget(ptr);
        }
        return NULL;
    }
    if (old_sampled) {
        sample_move(ptr, p); /* its line keeps what it allocated, at the new address */
    }
    /* The whole new block, as tracemalloc counts it. */
    count_block_grown(p, size, old < 0 ? size : (size > (size_t)old ? size - (size_t)old : 0));
    if (old_sampled) {
        mark_sampled(p, is_small(p, size));
    }
    return p;
}

static void gil_free(void *ctx, void *ptr) {
    PyMemAllocatorEx *a = (PyMemAllocatorEx *)ctx;
    if (active && !depth && ptr != NULL) {
        int small, sampled;
        forget_block(ptr, &small, &sampled); /* before the free: the address may be reused */
        if (sampled) {
            sample_forget(ptr);
        }
    }
    a->free(a->ctx, ptr);
}

/* ---------------------------------------------------------------------------------------- */
/* the raw domain (any thread, GIL or not) */

static void *raw_malloc(void *ctx, size_t size) {
    (void)ctx;
    if (!active || depth) {
        return orig_raw.malloc(orig_raw.ctx, size);
    }
    depth++;
    void *p = orig_raw.malloc(orig_raw.ctx, size);
    depth--;
    if (p != NULL) {
        large_add_locked(p, size);
    }
    return p;
}

static void *raw_calloc(void *ctx, size_t nelem, size_t elsize) {
    (void)ctx;
    if (!active || depth) {
        return orig_raw.calloc(orig_raw.ctx, nelem, elsize);
    }
    depth++;
    void *p = orig_raw.calloc(orig_raw.ctx, nelem, elsize);
    depth--;
    if (p != NULL) {
        large_add_locked(p, nelem * elsize);
    }
    return p;
}

static void *raw_realloc(void *ctx, void *ptr, size_t size) {
    (void)ctx;
    if (!active || depth) {
        return orig_raw.realloc(orig_raw.ctx, ptr, size);
    }
    int64_t old = ptr != NULL ? large_take_locked(ptr) : -1;
    depth++;
    void *p = orig_raw.realloc(orig_raw.ctx, ptr, size);
    depth--;
    if (p == NULL) {
        if (old >= 0 && size != 0) {
            large_add_locked(ptr, (size_t)old);
        }
        return NULL;
    }
    large_add_locked(p, size);
    return p;
}

static void raw_free(void *ctx, void *ptr) {
    (void)ctx;
    if (active && !depth && ptr != NULL) {
        large_take_locked(ptr);
    }
    orig_raw.free(orig_raw.ctx, ptr);
}

/* ---------------------------------------------------------------------------------------- */
/* numpy's data (NEP 49): a handler wrapping the one that was current */

typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr, size_t size);
} NumpyAllocator;

typedef struct {
    char name[127];
    uint8_t version;
    NumpyAllocator allocator;
} NumpyHandler;

typedef struct {
    NumpyHandler *inner;
    PyObject *inner_capsule; /* keeps inner alive as long as an array may free through us */
} NumpyWrap;

typedef struct {
    NumpyHandler handler; /* first: the capsule's pointer is the handler */
    NumpyWrap wrap;
} NumpyOwn;

static void **numpy_api;        /* numpy's C API table (from its _ARRAY_API capsule) */
static PyObject *numpy_ours;    /* our handler's capsule, while it wraps numpy_inner */
static PyObject *numpy_previous; /* what was current when we installed ours */
#define NUMPY_SET_HANDLER 304
#define NUMPY_GET_HANDLER 305

static void *np_malloc(void *ctx, size_t size) {
    NumpyWrap *w = (NumpyWrap *)ctx;
    void *p = w->inner->allocator.malloc(w->inner->allocator.ctx, size);
    if (p != NULL && active) {
        large_add_locked(p, size);
        allocations++;
        if (PyGILState_Check()) {
            maybe_sample(p, size, 0);
        }
    }
    return p;
}

static void *np_calloc(void *ctx, size_t nelem, size_t elsize) {
    NumpyWrap *w = (NumpyWrap *)ctx;
    void *p = w->inner->allocator.calloc(w->inner->allocator.ctx, nelem, elsize);
    if (p != NULL && active) {
        large_add_locked(p, nelem * elsize);
        allocations++;
        if (PyGILState_Check()) {
            maybe_sample(p, nelem * elsize, 0);
        }
    }
    return p;
}

static void *np_realloc(void *ctx, void *ptr, size_t size) {
    NumpyWrap *w = (NumpyWrap *)ctx;
    int64_t old = (ptr != NULL && active) ? large_take_locked(ptr) : -1;
    void *p = w->inner->allocator.realloc(w->inner->allocator.ctx, ptr, size);
    if (p == NULL) {
        if (old >= 0 && size != 0) {
            large_add_locked(ptr, (size_t)old);
        }
        return NULL;
    }
    if (active) {
        large_add_locked(p, size);
    }
    return p;
}

static void np_free(void *ctx, void *ptr, size_t size) {
    NumpyWrap *w = (NumpyWrap *)ctx;
    if (ptr != NULL && active) {
        large_take_locked(ptr);
    }
    w->inner->allocator.free(w->inner->allocator.ctx, ptr, size);
}

static void numpy_capsule_gone(PyObject *capsule) {
    NumpyOwn *own = (NumpyOwn *)PyCapsule_GetPointer(capsule, "mem_handler");
    if (own != NULL) {
        Py_XDECREF(own->wrap.inner_capsule);
        free(own);
    }
}

/* Make numpy's current handler ours (wrapping it); 0 when done, -1 with an exception set. */
static int numpy_install(void) {
    if (numpy_api == NULL || numpy_previous != NULL) {
        return 0;
    }
    PyObject *(*get_handler)(void) = (PyObject * (*)(void)) numpy_api[NUMPY_GET_HANDLER];
    PyObject *(*set_handler)(PyObject *) = (PyObject * (*)(PyObject *)) numpy_api[NUMPY_SET_HANDLER];
    PyObject *current = get_handler();
    if (current == NULL) {
        return -1;
    }
    if (current == numpy_ours) { /* still ours from an earlier cell (another context) */
        Py_DECREF(current);
        return 0;
    }
    NumpyHandler *inner = (NumpyHandler *)PyCapsule_GetPointer(current, "mem_handler");
    if (inner == NULL || inner->version != 1) {
        Py_DECREF(current);
        PyErr_Clear();
        return 0; /* a handler we do not know how to wrap: numpy data is not counted */
    }
    if (numpy_ours == NULL || ((NumpyOwn *)PyCapsule_GetPointer(numpy_ours, "mem_handler"))->wrap.inner != inner) {
        NumpyOwn *own = calloc(1, sizeof(NumpyOwn));
        if (own == NULL) {
            Py_DECREF(current);
            PyErr_NoMemory();
            return -1;
        }
        snprintf(own->handler.name, sizeof(own->handler.name), "memtrack(%.100s)", inner->name);
        own->handler.version = 1;
        own->wrap.inner = inner;
        own->wrap.inner_capsule = current;
        Py_INCREF(current);
        own->handler.allocator.ctx = &own->wrap;
        own->handler.allocator.malloc = np_malloc;
        own->handler.allocator.calloc = np_calloc;
        own->handler.allocator.realloc = np_realloc;
        own->handler.allocator.free = np_free;
        PyObject *capsule = PyCapsule_New(own, "mem_handler", numpy_capsule_gone);
        if (capsule == NULL) {
            Py_DECREF(own->wrap.inner_capsule);
            free(own);
            Py_DECREF(current);
            return -1;
        }
        Py_XSETREF(numpy_ours, capsule);
    }
    PyObject *old = set_handler(numpy_ours);
    if (old == NULL) {
        Py_DECREF(current);
        return -1;
    }
    Py_DECREF(old); /* == current */
    numpy_previous = current;
    return 0;
}

static void numpy_uninstall(void) {
    if (numpy_previous == NULL || numpy_api == NULL) {
        return;
    }
    PyObject *(*set_handler)(PyObject *) = (PyObject * (*)(PyObject *)) numpy_api[NUMPY_SET_HANDLER];
    PyObject *old = set_handler(numpy_previous);
    if (old == NULL) {
        PyErr_Clear();
    } else {
        Py_DECREF(old);
    }
    Py_CLEAR(numpy_previous);
}

/* ---------------------------------------------------------------------------------------- */
/* hooks in and out */

static int hooks_on_top(void) {
    PyMemAllocatorEx now;
    PyMem_GetAllocator(PYMEM_DOMAIN_RAW, &now);
    if (now.malloc != raw_malloc) {
        return 0;
    }
    PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &now);
    if (now.malloc != gil_malloc || now.ctx != &orig_mem) {
        return 0;
    }
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &now);
    return now.malloc == gil_malloc && now.ctx == &orig_obj;
}

static void install(void) {
    if (installed && hooks_on_top()) {
        return; /* left in place by an earlier stop (something was wrapped around them) */
    }
    if (installed) {
        return; /* still in the chain below another hook: active again, counted once */
    }
    PyMem_GetAllocator(PYMEM_DOMAIN_RAW, &orig_raw);
    PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &orig_mem);
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &orig_obj);
    hook_raw = (PyMemAllocatorEx){NULL, raw_malloc, raw_calloc, raw_realloc, raw_free};
    hook_mem = (PyMemAllocatorEx){&orig_mem, gil_malloc, gil_calloc, gil_realloc, gil_free};
    hook_obj = (PyMemAllocatorEx){&orig_obj, gil_malloc, gil_calloc, gil_realloc, gil_free};
    PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &hook_raw);
    PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &hook_mem);
    PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &hook_obj);
    installed = 1;
}

static void uninstall(void) {
    if (installed && hooks_on_top()) {
        PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &orig_obj);
        PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &orig_mem);
        PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &orig_raw);
        installed = 0;
    }
}

static void clear_tables(void) {
    lock_large();
    free(large);
    large = NULL;
    large_cap = large_used = large_live = 0;
    large_bytes = 0;
    unlock_large();
    free(pages);
    pages = NULL;
    pages_cap = pages_used = 0;
    last_entry = NULL;
    small_bytes = 0;
    peak_bytes = 0;
    overflow = 0;
    allocations = 0;
    clear_samples();
}

/* ---------------------------------------------------------------------------------------- */
/* pymalloc's arenas, for light mode's allocated metric: counted from the first ask, always
 * (an arena comes and goes rarely: 1 MiB at a time in 3.11; its free is told its size) */

static PyObjectArenaAllocator orig_arena;
static int arenas_hooked;
static int64_t arena_bytes; /* since the hook: arenas freed that were older make it drift, the
                             * differences over a cell stay exact */

static void *arena_alloc(void *ctx, size_t size) {
    void *p = orig_arena.alloc(orig_arena.ctx, size);
    if (p != NULL) {
        __atomic_add_fetch(&arena_bytes, (int64_t)size, __ATOMIC_RELAXED);
    }
    return p;
}

static void arena_free(void *ctx, void *ptr, size_t size) {
    if (ptr != NULL) {
        __atomic_sub_fetch(&arena_bytes, (int64_t)size, __ATOMIC_RELAXED);
    }
    orig_arena.free(orig_arena.ctx, ptr, size);
}

static PyObject *native_count_arenas(PyObject *self, PyObject *unused) {
    if (!arenas_hooked) {
        PyObject_GetArenaAllocator(&orig_arena);
        PyObjectArenaAllocator hook = {NULL, arena_alloc, arena_free};
        PyObject_SetArenaAllocator(&hook);
        arenas_hooked = 1;
    }
    Py_RETURN_NONE;
}

static PyObject *native_arena_bytes(PyObject *self, PyObject *unused) {
    if (!arenas_hooked) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLongLong((long long)__atomic_load_n(&arena_bytes, __ATOMIC_RELAXED));
}

/* ---------------------------------------------------------------------------------------- */
/* Python API */

static PyObject *native_start(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"pymalloc", "sample_bytes", NULL};
    int pymalloc = 1;
    long long mean = 64 * 1024;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|pL", names, &pymalloc, &mean)) {
        return NULL;
    }
    if (mean < 1) {
        PyErr_SetString(PyExc_ValueError, "sample_bytes must be at least 1");
        return NULL;
    }
#ifdef MT_NO_ENGINE
    PyErr_SetString(PyExc_RuntimeError, "the native engine does not run on " MT_NO_ENGINE);
    return NULL;
#else
    if (active) {
        PyErr_SetString(PyExc_RuntimeError, "the native engine is already counting");
        return NULL;
    }
    clear_tables();
    small_pages = pymalloc && sizeof(void *) == 8;
    sample_mean = mean;
#ifdef MT_LINES
    sample_left = next_interval();
#endif
    install();
    active = 1;
    if (numpy_install() < 0) {
        active = 0;
        uninstall();
        clear_tables();
        return NULL;
    }
    Py_RETURN_NONE;
#endif
}

static PyObject *native_stop(PyObject *self, PyObject *unused) {
    if (!active) {
        Py_RETURN_NONE;
    }
    numpy_uninstall();
    active = 0;
    uninstall();
    clear_tables(); /* takes the lock: no raw call is inside the table after this */
    return PyBool_FromLong(!installed);
}

static PyObject *native_is_active(PyObject *self, PyObject *unused) {
    return PyBool_FromLong(active);
}

static PyObject *native_traced(PyObject *self, PyObject *unused) {
    int64_t now = small_bytes + large_bytes;
    return Py_BuildValue("(LL)", (long long)now, (long long)(peak_bytes > now ? peak_bytes : now));
}

static PyObject *native_reset_peak(PyObject *self, PyObject *unused) {
    peak_bytes = small_bytes + large_bytes;
    Py_RETURN_NONE;
}

static PyObject *native_memory(PyObject *self, PyObject *unused) {
    size_t bytes = large_cap * sizeof(LargeEntry) + pages_cap * sizeof(PageEntry);
    return PyLong_FromSize_t(bytes);
}

/* Was the block holding obj allocated while counting? The object may start after its block's
 * start: the GC header (16 bytes) and, on newer CPythons, a pre-header (16 more). */
static PyObject *native_allocated_here(PyObject *self, PyObject *obj) {
    if (!active) {
        Py_RETURN_FALSE;
    }
    uintptr_t a = (uintptr_t)obj;
    for (uintptr_t k = 0; k <= 32 && k <= a; k += 16) {
        void *p = (void *)(a - k);
        int sampled;
        int64_t size = small_pages ? small_take(p, 0, &sampled) : -1;
        if (size < 0) {
            lock_large();
            size = large_take((uintptr_t)p, 0, &sampled, 0);
            unlock_large();
        }
        if (size > (int64_t)k) {
            Py_RETURN_TRUE;
        }
    }
    Py_RETURN_FALSE;
}

static PyObject *native_set_numpy_api(PyObject *self, PyObject *capsule) {
    if (capsule == Py_None) {
        numpy_api = NULL;
        Py_RETURN_NONE;
    }
    void *table = PyCapsule_GetPointer(capsule, NULL);
    if (table == NULL) {
        return NULL;
    }
    numpy_api = (void **)table;
    if (active && numpy_install() < 0) { /* numpy imported by the cell: its data from now on */
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *native_set_cell_file(PyObject *self, PyObject *name) {
    if (name != Py_None && !PyUnicode_CheckExact(name)) {
        PyErr_SetString(PyExc_TypeError, "the cell's file name must be a str or None");
        return NULL;
    }
#ifdef MT_LINES
    if (name == Py_None) {
        Py_CLEAR(cell_file);
    } else {
        Py_INCREF(name);
        Py_XSETREF(cell_file, name);
    }
    return PyBool_FromLong(name != Py_None);
#else
    Py_RETURN_FALSE; /* no line sampling on this CPython */
#endif
}

static PyObject *native_line_samples(PyObject *self, PyObject *unused) {
    /* Read into C first: building the dict allocates, and our own hooks may count it. */
    int32_t keys[LINES_CAP];
    int64_t bytes[LINES_CAP];
    size_t n = 0;
    lock_samples();
    for (size_t i = 0; i < LINES_CAP; i++) {
        if (line_keys[i] != 0) {
            keys[n] = line_keys[i];
            bytes[n++] = line_bytes[i];
        }
    }
    unlock_samples();
    PyObject *out = PyDict_New();
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        PyObject *k = PyLong_FromLong(keys[i]);
        PyObject *v = PyLong_FromLongLong((long long)bytes[i]);
        if (k == NULL || v == NULL || PyDict_SetItem(out, k, v) < 0) {
            Py_XDECREF(k);
            Py_XDECREF(v);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(k);
        Py_DECREF(v);
    }
    return out;
}

static PyObject *native_status(PyObject *self, PyObject *unused) {
    return Py_BuildValue(
        "{s:O,s:O,s:O,s:O,s:O,s:K,s:n,s:n,s:K,s:K,s:O}", "active", active ? Py_True : Py_False,
        "installed", installed ? Py_True : Py_False, "small_pages",
        small_pages ? Py_True : Py_False, "overflow", overflow ? Py_True : Py_False,
        "numpy", numpy_previous != NULL ? Py_True : Py_False, "allocations",
        (unsigned long long)allocations, "large_blocks", (Py_ssize_t)large_live, "pages",
        (Py_ssize_t)pages_used, "samples", (unsigned long long)samples_taken, "samples_lost",
        (unsigned long long)samples_lost, "lines",
#ifdef MT_LINES
        Py_True
#else
        Py_False
#endif
    );
}

static PyMethodDef native_methods[] = {
    {"start", (PyCFunction)(void (*)(void))native_start, METH_VARARGS | METH_KEYWORDS,
     "start(pymalloc=True, sample_bytes=65536): count from now (hooks in, tables empty)."},
    {"stop", native_stop, METH_NOARGS,
     "Stop counting; True when the hooks came out, False when left as a pass-through."},
    {"is_active", native_is_active, METH_NOARGS, "Counting now?"},
    {"traced", native_traced, METH_NOARGS, "(current, peak) bytes since start."},
    {"reset_peak", native_reset_peak, METH_NOARGS, "The peak is the current bytes from now."},
    {"memory", native_memory, METH_NOARGS, "Bytes of the engine's own tables."},
    {"allocated_here", native_allocated_here, METH_O,
     "Was this object's block allocated since start (and not freed)?"},
    {"set_numpy_api", native_set_numpy_api, METH_O,
     "numpy's _ARRAY_API capsule (or None): its data is counted from now (when counting) or "
     "the next start."},
    {"status", native_status, METH_NOARGS, "A dict of the engine's state."},
    {"set_cell_file", native_set_cell_file, METH_O,
     "The cell's code's file name: allocations are laid to its lines by sampling (False where "
     "this CPython has no line sampling)."},
    {"line_samples", native_line_samples, METH_NOARGS,
     "{line: bytes} the cell's lines allocated and kept, estimated from the samples."},
    {"count_arenas", native_count_arenas, METH_NOARGS,
     "Count pymalloc's arena bytes from now on (a hook left in place: arenas are rare)."},
    {"arena_bytes", native_arena_bytes, METH_NOARGS,
     "pymalloc's arena bytes allocated minus freed since count_arenas(), or None before."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "_native",
    "memtrack's native allocation engine (see memtrack.measure.engine).", -1, native_methods,
    NULL, NULL, NULL, NULL,
};

/* A fork while another thread held the table lock would leave the child's lock taken forever:
 * the child stops counting (its hooks stay as a pass-through) with a free lock. */
static void child_after_fork(void) {
    active = 0;
    __atomic_clear(&large_lock, __ATOMIC_RELAXED);
}

PyMODINIT_FUNC PyInit__native(void) {
#ifndef _WIN32
    pthread_atfork(NULL, NULL, child_after_fork);
#endif
    return PyModule_Create(&native_module);
}
