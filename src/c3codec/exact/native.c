/*
 * The compiled exact decoder: the same numbers as the numpy reference (arithmetic.py, arm.py,
 * synthesis.py, coding/latents.py), computed without temporaries the size of the image.
 *
 * Exactness. Every multiply-accumulate is on values that are multiples of a power of two, with
 * every partial sum below 2^53 of them (the input rule of arithmetic.input_limit, checked here
 * the same way), so float64 sums are exact in any order: SIMD width and FMA do not matter. The
 * other operations (re-quantisation, snapping to the probability tables, pixel rounding) are
 * written operation for operation as in numpy, and this file is compiled with
 * -ffp-contract=off so that the compiler cannot fuse them into differently rounded FMAs.
 *
 * Range decoding reproduces constriction 0.5.0's queue RangeDecoder<u32, u64> with 24-bit
 * precision and its lazy "fast" categorical models: the quantised CDF of a float64 probability
 * row p[0..n) is cdf[s] = trunc(sum(p[0..s)) * (2^24 - n) / sum(p)) + s (sums left to right),
 * cdf[n] = 2^24. Rows are quantised once per table entry instead of once per symbol.
 *
 * Activations of the per-position MLPs are laid out lane-first in blocks of BLOCK positions:
 * feature f of lane b is x[f * BLOCK + b].
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <sched.h>
#if defined(__FMA__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#define BLOCK 16
#define MAX_DEPTH 8
#define MAX_WIDTH 256
#define MAX_GRIDS 12
#define MAX_RESIDUAL 8
#define PRECISION 24
#define ONE 65536.0
#define GELU_EDGE (8.0 * ONE)
#define MU_STEPS 16
#define SCALE_STEPS 8
#define MAX_LATENT 16777216.0

enum { OK = 0, BAD_STREAM = 1, OVERFLOW = 2, LATENT_RANGE = 3, BAD_TABLE = 4, NO_MEMORY = 5,
       BAD_SHAPE = 6 };

typedef struct {
    int depth;
    int widths[MAX_DEPTH + 1];
    const double *weight[MAX_DEPTH]; /* out x in, integers */
    const double *bias[MAX_DEPTH];   /* out: bias in fixed point, as added */
    double scale[MAX_DEPTH];         /* accumulator -> fixed point */
    double limit[MAX_DEPTH];         /* inputs must stay below this in magnitude */
} Network;

typedef struct {
    int count, kernel, channels;
    const double *weight[MAX_RESIDUAL]; /* out x in x k x k */
    const double *bias[MAX_RESIDUAL];
    double scale[MAX_RESIDUAL];
    double limit[MAX_RESIDUAL];
} Residual;

/* GELU(k) = relu(k) - e[|k|] for |k| < k0 and relu(k) beyond: the exact table
 * (arithmetic.gelu_table) as 16-bit corrections, 600 kB of which the hot part (|x| < 2, where
 * most pre-activations lie) fits a core's L2 cache. Two bytes of padding follow e[k0 - 1]. */
typedef struct {
    const uint16_t *e;
    int64_t k0;
} Gelu;

typedef struct {
    double step, shift, v_low, v_high, log_min;
    int scale_count;
} Snap;

typedef struct {
    int num_grids;
    const int32_t *data[MAX_GRIDS]; /* element (i, j) of grid n: data[n][i * stride[n] + j] */
    int64_t stride[MAX_GRIDS];
    int height[MAX_GRIDS], width[MAX_GRIDS], exponent[MAX_GRIDS];
} Latents;

/* ------------------------------------------------------------------------------------------ */
/* Fixed-point layers                                                                          */

static inline double gelu(double v, const Gelu *g) {
    if (v >= GELU_EDGE) return v;
    if (v < -GELU_EDGE) return 0.0;
    const int64_t k = (int64_t)v;
    const int64_t a = k < 0 ? -k : k;
    const double relu = k > 0 ? v : 0.0;
    return a < g->k0 ? relu - (double)g->e[a] : relu;
}

#if defined(__AVX2__) && defined(__FMA__)
typedef __m256d vec;
#define VLEN 4
static inline vec vzero(void) { return _mm256_setzero_pd(); }
static inline vec vset(double a) { return _mm256_set1_pd(a); }
static inline vec vload(const double *p) { return _mm256_loadu_pd(p); }
static inline void vstore(double *p, vec a) { _mm256_storeu_pd(p, a); }
/* exact operands: fusing cannot change the result */
static inline vec vmac(vec acc, vec w, vec x) { return _mm256_fmadd_pd(w, x, acc); }
static inline vec vmaxabs(vec m, vec x) { return _mm256_max_pd(m, _mm256_andnot_pd(_mm256_set1_pd(-0.0), x)); }
/* round(x * s + b), half to even, two roundings as in numpy */
static inline vec vrequant(vec x, vec s, vec b) {
    return _mm256_round_pd(_mm256_add_pd(_mm256_mul_pd(x, s), b), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline double vhmax(vec m) {
    double t[4];
    _mm256_storeu_pd(t, m);
    double a = t[0] > t[1] ? t[0] : t[1], b = t[2] > t[3] ? t[2] : t[3];
    return a > b ? a : b;
}
#else
typedef double vec __attribute__((vector_size(32)));
#define VLEN 4
static inline vec vzero(void) { return (vec){0.0, 0.0, 0.0, 0.0}; }
static inline vec vset(double a) { return (vec){a, a, a, a}; }
static inline vec vload(const double *p) { vec v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore(double *p, vec a) { memcpy(p, &a, sizeof a); }
static inline vec vmac(vec acc, vec w, vec x) { return acc + w * x; }
static inline vec vmaxabs(vec m, vec x) {
    for (int i = 0; i < 4; i++) m[i] = fabs(x[i]) > m[i] ? fabs(x[i]) : m[i];
    return m;
}
static inline vec vrequant(vec x, vec s, vec b) {
    vec t = x * s;
    for (int i = 0; i < 4; i++) t[i] = nearbyint(t[i] + b[i]);
    return t;
}
static inline double vhmax(vec m) {
    double a = m[0] > m[1] ? m[0] : m[1], b = m[2] > m[3] ? m[2] : m[3];
    return a > b ? a : b;
}
#endif
#define NVEC (BLOCK / VLEN)

/* acc[r][v] = sum_i w[o + r][i] x[i][v-th vector], for R outputs at a time: R * NVEC
 * independent sums hide the FMA latency, and each x vector loaded serves R outputs. */
#define DENSE_ROWS(R)                                                                     \
    static inline void dense_rows_##R(int in, const double *w, const double *x, double *y) { \
        vec a[R][NVEC];                                                                    \
        for (int r = 0; r < R; r++)                                                         \
            for (int v = 0; v < NVEC; v++) a[r][v] = vzero();                               \
        for (int i = 0; i < in; i++) {                                                     \
            vec xv[NVEC];                                                                  \
            for (int v = 0; v < NVEC; v++) xv[v] = vload(x + i * BLOCK + v * VLEN);         \
            for (int r = 0; r < R; r++) {                                                   \
                const vec p = vset(w[(int64_t)r * in + i]);                                 \
                for (int v = 0; v < NVEC; v++) a[r][v] = vmac(a[r][v], p, xv[v]);           \
            }                                                                              \
        }                                                                                  \
        for (int r = 0; r < R; r++)                                                         \
            for (int v = 0; v < NVEC; v++) vstore(y + r * BLOCK + v * VLEN, a[r][v]);       \
    }
DENSE_ROWS(1)
DENSE_ROWS(2)
DENSE_ROWS(3)

/* y[o][b] = round(sum_i w[o][i] x[i][b] * scale + bias[o]) for the BLOCK lanes */
static void dense_block(int in, int out, const double *w, const double *bias, double scale,
                        const double *x, double *y) {
    int o = 0;
    for (; o + 3 <= out; o += 3) dense_rows_3(in, w + (int64_t)o * in, x, y + o * BLOCK);
    if (out - o == 2) dense_rows_2(in, w + (int64_t)o * in, x, y + o * BLOCK);
    else if (out - o == 1) dense_rows_1(in, w + (int64_t)o * in, x, y + o * BLOCK);
    const vec s = vset(scale);
    for (o = 0; o < out; o++) {
        const vec b = vset(bias[o]);
        for (int v = 0; v < NVEC; v++) vstore(y + o * BLOCK + v * VLEN, vrequant(vload(y + o * BLOCK + v * VLEN), s, b));
    }
}

/* GELU of x[0..n) in place: 4 at a time, without branches, where AVX2 is there, exactly as
 * gelu() computes. The four table entries are read with scalar loads: on Zen 3 an AVX2 gather
 * was no faster (its latency is what the lookups wait on either way). */
static void gelu_row(double *x, int64_t n, const Gelu *g) {
    int64_t i = 0;
#if defined(__AVX2__)
    const __m256d edge = _mm256_set1_pd(GELU_EDGE), minus_edge = _mm256_set1_pd(-GELU_EDGE);
    const __m128i k0 = _mm_set1_epi32((int)g->k0), last = _mm_set1_epi32((int)g->k0 - 1);
    for (; g->k0 > 0 && i + 4 <= n; i += 4) {
        const __m256d v = _mm256_loadu_pd(x + i);
        const __m256d clamped = _mm256_min_pd(_mm256_max_pd(v, minus_edge), edge);
        const __m128i a = _mm_abs_epi32(_mm256_cvttpd_epi32(clamped));
        const __m128i at = _mm_min_epi32(a, last);
        int idx[4];
        _mm_storeu_si128((__m128i *)idx, at);
        __m128i e = _mm_setr_epi32(g->e[idx[0]], g->e[idx[1]], g->e[idx[2]], g->e[idx[3]]);
        e = _mm_and_si128(e, _mm_cmplt_epi32(a, k0));
        const __m256d relu = _mm256_max_pd(v, _mm256_setzero_pd());
        __m256d y = _mm256_sub_pd(relu, _mm256_cvtepi32_pd(e));
        y = _mm256_blendv_pd(y, v, _mm256_cmp_pd(v, edge, _CMP_GE_OQ));
        y = _mm256_blendv_pd(y, _mm256_setzero_pd(), _mm256_cmp_pd(v, minus_edge, _CMP_LT_OQ));
        _mm256_storeu_pd(x + i, y);
    }
#endif
    for (; i < n; i++) x[i] = gelu(x[i], g);
}

/* GELU of n fixed-point values (tests compare it with the reference table on every input) */
void c3_gelu(const Gelu *g, const double *x, int64_t n, double *y) {
    memcpy(y, x, sizeof(double) * n);
    gelu_row(y, n, g);
}

/* max |x| over `features` rows of a block whose padding lanes are zero */
static double block_max_abs(const double *x, int features) {
    vec m = vzero();
    for (int64_t k = 0; k < (int64_t)features * BLOCK; k += VLEN) m = vmaxabs(m, vload(x + k));
    return vhmax(m);
}

/* The MLP on one block: x holds the first layer's inputs, zero in the padding lanes (those
 * from `lanes` on); the outputs end in `out` (widths[depth] x BLOCK). `a` and `b` are scratch of
 * MAX_WIDTH x BLOCK. Hidden activations of padding lanes are zeroed, so that only real
 * positions are checked against the input rule. */
static int mlp_block(const Network *net, const Gelu *g, const double *x, int lanes, double *a,
                     double *b, double *out) {
    const double *in = x;
    for (int l = 0; l < net->depth; l++) {
        const int n_in = net->widths[l], n_out = net->widths[l + 1];
        if (block_max_abs(in, n_in) >= net->limit[l]) return OVERFLOW;
        double *dst = l == net->depth - 1 ? out : (l % 2 ? b : a);
        dense_block(n_in, n_out, net->weight[l], net->bias[l], net->scale[l], in, dst);
        if (l < net->depth - 1)
            for (int o = 0; o < n_out; o++) {
                double *row = dst + o * BLOCK;
                gelu_row(row, BLOCK, g);
                for (int k = lanes; k < BLOCK; k++) row[k] = 0.0;
            }
        in = dst;
    }
    return OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Probability tables and range decoding (constriction 0.5.0 compatible)                       */

int c3_quantize_rows(const double *p, int64_t rows, int n, uint32_t *cdf) {
    if (n < 2 || n >= (1 << PRECISION) - 1) return BAD_TABLE;
    const double free_weight = (double)((1u << PRECISION) - (uint32_t)n);
    for (int64_t r = 0; r < rows; r++) {
        const double *row = p + r * n;
        uint32_t *c = cdf + r * (n + 1);
        double total = 0.0;
        for (int s = 0; s < n; s++) total += row[s];
        if (!(isnormal(total) && total > 0.0)) return BAD_TABLE;
        const double scale = free_weight / total;
        double cumulative = 0.0;
        for (int s = 0; s < n; s++) {
            c[s] = (uint32_t)(cumulative * scale) + (uint32_t)s;
            cumulative += row[s];
        }
        c[n] = 1u << PRECISION;
    }
    return OK;
}

typedef struct {
    uint64_t lower, range, point;
    const uint32_t *words;
    int64_t pos, count;
} RangeDecoder;

static void decoder_init(RangeDecoder *d, const uint32_t *words, int64_t count) {
    d->words = words;
    d->count = count;
    d->pos = 0;
    d->lower = 0;
    d->range = UINT64_MAX;
    d->point = 0;
    int read = 0;
    while (read < 2 && d->pos < count) {
        d->point = (d->point << 32) | words[d->pos++];
        read++;
    }
    if (read == 1) d->point <<= 32;
}

/* One symbol with the quantised CDF row cdf[0..n] (cdf[0] = 0 and cdf[n] = 2^24 end the search);
 * -1 on invalid data. The search starts at symbol `likely` and walks outwards: latents are
 * mostly within a bin or two of the predicted mean, so this takes one or two comparisons where
 * a bisection takes log2(n). */
static inline int decode_symbol(RangeDecoder *d, const uint32_t *cdf, int likely) {
    const uint64_t scale = d->range >> PRECISION;
    const uint64_t quantile = (d->point - d->lower) / scale;
    if (quantile >= (1ull << PRECISION)) return -1;
    int lo = likely; /* find cdf[lo] <= quantile < cdf[lo + 1]; cdf[0] = 0, cdf[n] = 2^24 */
    if (cdf[lo] <= quantile) {
        while (cdf[lo + 1] <= quantile) lo++;
    } else {
        do lo--; while (cdf[lo] > quantile);
    }
    d->lower += scale * cdf[lo];
    d->range = scale * (uint64_t)(cdf[lo + 1] - cdf[lo]);
    if (d->range < (1ull << 32)) {
        d->lower <<= 32;
        d->range <<= 32;
        d->point <<= 32;
        if (d->pos < d->count) d->point |= d->words[d->pos++];
    }
    return lo;
}

/* Decode `count` symbols with rows[i] of the table (tests the coder against constriction). */
int c3_range_decode(const uint32_t *words, int64_t num_words, const uint32_t *cdf, int n,
                    const int64_t *rows, int64_t count, int32_t *symbols) {
    RangeDecoder d;
    decoder_init(&d, words, num_words);
    for (int64_t i = 0; i < count; i++) {
        const int s = decode_symbol(&d, cdf + rows[i] * (n + 1), n / 2);
        if (s < 0) return BAD_STREAM;
        symbols[i] = s;
    }
    return OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The ARM                                                                                     */

/* Exact ARM outputs (2 x BLOCK) -> (shift, fraction index, scale index) of `lanes` lanes, as
 * arm.snap does. */
static void snap_block(const Snap *s, const double *out, int lanes, double *shift, int32_t *frac,
                       int32_t *scale) {
    for (int b = 0; b < lanes; b++) {
        double mu = (out[b] / ONE) / s->step;
        double v = out[BLOCK + b] / ONE + s->shift;
        v = v > s->v_low ? v : s->v_low;
        v = v < s->v_high ? v : s->v_high;
        mu = mu > -1e12 ? mu : -1e12;
        mu = mu < 1e12 ? mu : 1e12;
        const double m = floor(mu + 0.5);
        frac[b] = (int32_t)(nearbyint((mu - m) * MU_STEPS) + MU_STEPS / 2);
        double j = nearbyint((-0.5 * v - s->log_min) * SCALE_STEPS);
        j = j > 0.0 ? j : 0.0;
        j = j < s->scale_count - 1 ? j : s->scale_count - 1;
        scale[b] = (int32_t)j;
        shift[b] = m;
    }
}

/* A grid being decoded or coded: values in a zero-padded buffer (`half` rows above, `half`
 * columns either side) so that contexts are plain offsets; optionally the previous grid,
 * downsampled and zero-padded by prev_kernel / 2, as extra context. */
typedef struct {
    int h, w, half;
    int32_t *buffer; /* (h + half) x (w + 2 half) */
    const double *prev;
    int prev_kernel;
} GridContext;

/* Contexts of `lanes` positions into lanes [0, lanes) of the block at x; lanes from `lanes` to
 * `zero_to` are zeroed. */
static void gather_block(const GridContext *g, const int *ii, const int *jj, int lanes, int zero_to,
                         double *x) {
    const int width = g->w + 2 * g->half, context = 2 * g->half + 1;
    int f = 0;
    for (int di = -g->half; di <= 0; di++) {
        const int cols = di < 0 ? context : g->half;
        for (int dj = -g->half; dj < -g->half + cols; dj++, f++) {
            for (int b = 0; b < lanes; b++)
                x[f * BLOCK + b] = (double)g->buffer[(int64_t)(ii[b] + g->half + di) * width + jj[b] + g->half + dj];
            for (int b = lanes; b < zero_to; b++) x[f * BLOCK + b] = 0.0;
        }
    }
    if (g->prev) {
        const int pad = g->prev_kernel / 2, pw = g->w + 2 * pad;
        for (int di = -pad; di <= pad; di++)
            for (int dj = -pad; dj <= pad; dj++, f++) {
                for (int b = 0; b < lanes; b++)
                    x[f * BLOCK + b] = g->prev[(int64_t)(ii[b] + pad + di) * pw + jj[b] + pad + dj];
                for (int b = lanes; b < zero_to; b++) x[f * BLOCK + b] = 0.0;
            }
    }
}

typedef struct {
    double *x, *a, *b, *out;
} Scratch;

static int scratch_alloc(Scratch *s, int inputs) {
    s->x = malloc(sizeof(double) * (size_t)(inputs > MAX_WIDTH ? inputs : MAX_WIDTH) * BLOCK);
    s->a = malloc(sizeof(double) * MAX_WIDTH * BLOCK);
    s->b = malloc(sizeof(double) * MAX_WIDTH * BLOCK);
    s->out = malloc(sizeof(double) * MAX_WIDTH * BLOCK);
    return s->x && s->a && s->b && s->out ? OK : NO_MEMORY;
}

static void scratch_free(Scratch *s) {
    free(s->x);
    free(s->a);
    free(s->b);
    free(s->out);
}

/* The Laplace table of the coder (coding/tables.py: laplace_mass, latent_table), one row at a
 * time: the float64 probabilities of r in [-R, R] for the snapped (fraction, scale), operation
 * for operation as numpy computes them, then quantised as constriction does. */
typedef struct {
    const double *mu;     /* MU_STEPS + 1 fractions (bin units) */
    const double *scale;  /* scale_count scales (bin units) */
    const double *coeffs; /* det_exp's 14 Taylor coefficients */
} Laplace;

static double det_exp(double x, const double *c) {
    x = x > -700.0 ? x : -700.0;
    x = x < 700.0 ? x : 700.0;
    const double n = floor(x * 1.44269504088896338700e00 + 0.5);
    const double r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
    double p = c[13];
    for (int k = 12; k >= 0; k--) p = p * r + c[k];
    return ldexp(p, (int)n);
}

static int laplace_row(const Laplace *t, int frac, int scale, int symbol_range, double *p, uint32_t *cdf) {
    const int n = 2 * symbol_range + 1;
    const double mu = t->mu[frac], inv = 1.0 / t->scale[scale];
    for (int i = 0; i < n; i++) {
        const double r = (double)(i - symbol_range);
        const double lo = (r - 0.5) - mu, hi = (r + 0.5) - mu;
        const double left = 0.5 * (det_exp((hi < 0.0 ? hi : 0.0) * inv, t->coeffs)
                                   - det_exp((lo < 0.0 ? lo : 0.0) * inv, t->coeffs));
        const double right = 0.5 * (det_exp(-(lo > 0.0 ? lo : 0.0) * inv, t->coeffs)
                                    - det_exp(-(hi > 0.0 ? hi : 0.0) * inv, t->coeffs));
        p[i] = left + right;
    }
    return c3_quantize_rows(p, 1, n, cdf);
}

/* One table row for tests: (fraction, scale) -> probabilities and quantised CDF. */
int c3_laplace_row(const Laplace *t, int frac, int scale, int symbol_range, double *p, uint32_t *cdf) {
    return laplace_row(t, frac, scale, symbol_range, p, cdf);
}

/* One grid being decoded: its buffer (see GridContext), its previous-grid context, its stream
 * and its table (rows built when first used: `ready` flags them). */
typedef struct {
    const Network *arm; /* the ARM of this grid (one shared by every grid, or one per grid) */
    int h, w;
    int32_t *buffer;
    const double *prev;
    uint32_t *cdf;   /* (MU_STEPS + 1) x scale_count x (2 R + 2) */
    uint8_t *ready;  /* (MU_STEPS + 1) x scale_count */
    int symbol_range;
    const uint32_t *words;
    int64_t num_words;
    RangeDecoder *state; /* NULL: decode from the start of `words`; else resume from this state
                          * and leave the final state there (a video grid's frames share one
                          * stream, decoded one latent frame per call) */
} GridJob;

/* True when every context input of latent (i, j) is zero. */
static int zero_context(const GridContext *g, int i, int j) {
    const int width = g->w + 2 * g->half, context = 2 * g->half + 1;
    for (int di = -g->half; di <= 0; di++) {
        const int32_t *row = g->buffer + (int64_t)(i + g->half + di) * width + j;
        const int cols = di < 0 ? context : g->half;
        for (int dj = 0; dj < cols; dj++)
            if (row[dj]) return 0;
    }
    if (g->prev) {
        const int pad = g->prev_kernel / 2, pw = g->w + 2 * pad;
        for (int di = -pad; di <= pad; di++)
            for (int dj = -pad; dj <= pad; dj++)
                if (g->prev[(int64_t)(i + pad + di) * pw + j + pad + dj] != 0.0) return 0;
    }
    return 1;
}

/* The table coordinates of a context of zeros. */
typedef struct {
    double shift;
    int32_t frac, scale;
} ZeroOutputs;

static int zero_outputs(const Network *arm, const Gelu *g, const Snap *snap, Scratch *s, ZeroOutputs *z) {
    for (int64_t k = 0; k < (int64_t)arm->widths[0] * BLOCK; k++) s->x[k] = 0.0;
    const int status = mlp_block(arm, g, s->x, 1, s->a, s->b, s->out);
    if (status == OK) snap_block(snap, s->out, 1, &z->shift, &z->frac, &z->scale);
    return status;
}

/* The ARM on the `lanes` contexts gathered in s->x, whose results go to entries slot[b]. */
static int arm_block(const Network *arm, const Gelu *g, const Snap *snap, const GridContext *any,
                     Scratch *s, int lanes, const int *slot, double *shift, int32_t *frac, int32_t *scale) {
    int ii = 0, jj = 0;
    for (int b = lanes; b < BLOCK; b++) gather_block(any, &ii, &jj, 0, 1, s->x + b);
    const int status = mlp_block(arm, g, s->x, lanes, s->a, s->b, s->out);
    if (status != OK) return status;
    double sh[BLOCK];
    int32_t fr[BLOCK], sc[BLOCK];
    snap_block(snap, s->out, lanes, sh, fr, sc);
    for (int b = 0; b < lanes; b++) {
        shift[slot[b]] = sh[b];
        frac[slot[b]] = fr[b];
        scale[slot[b]] = sc[b];
    }
    return OK;
}

/* Rows [lo, hi] of a grid's wave t (empty when lo > hi). */
static void wave_rows(const GridJob *job, int stride, int64_t t, int64_t *lo, int64_t *hi) {
    *lo = t - job->w + 1 > 0 ? (t - job->w + 1 + stride - 1) / stride : 0;
    *hi = t / stride < job->h - 1 ? t / stride : job->h - 1;
}

/* State shared by the threads decoding the same grids. Every grid's symbols form one sequence
 * (wave by wave, rows increasing); decoded[n] counts how many of grid n's are in its buffer. */
typedef struct {
    const Gelu *gelu;
    const Snap *snap;
    const Laplace *laplace;
    int half, prev_kernel, count, threads;
    GridJob *jobs;
    RangeDecoder dec[MAX_GRIDS];
    int64_t decoded[MAX_GRIDS];
    int failed;
    int status[64];
} SharedDecode;

/* Wait until grid n has `target` symbols decoded (or a thread failed). The waits are short
 * when every thread has a core (a share of one wave: microseconds), so spin first; then yield
 * the core, and sleep when the wait drags on, as it does when the machine has fewer free cores
 * than decoding threads (the thread waited for must get a core). */
static int wait_decoded(SharedDecode *sh, int n, int64_t target) {
    int spins = 0;
    while (__atomic_load_n(&sh->decoded[n], __ATOMIC_ACQUIRE) < target) {
        if (__atomic_load_n(&sh->failed, __ATOMIC_RELAXED)) return 0;
        if (spins < 2048) {
            spins++;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else if (spins < 4096) {
            spins++;
            sched_yield();
        } else {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
    }
    return 1;
}

typedef struct {
    SharedDecode *sh;
    int k;
} Worker;

/* Thread k of `threads`: in every wave, the k-th share of the wave's positions (all grids'
 * positions of the wave in one list). Each position's ARM needs its grid's symbols up to the
 * previous wave at its own row; its symbol is decoded once the grid's earlier symbols are. */
static int decode_share(SharedDecode *sh, int k) {
    const int stride = sh->half + 1, count = sh->count;
    GridJob *jobs = sh->jobs;
    Scratch s;
    int status = scratch_alloc(&s, jobs[0].arm->widths[0]);
    int64_t waves = 0, widest = 1, total_rows = 0;
    for (int n = 0; n < count; n++) {
        const int64_t wn = (int64_t)stride * (jobs[n].h - 1) + jobs[n].w;
        waves = wn > waves ? wn : waves;
        widest = 2 * jobs[n].symbol_range + 1 > widest ? 2 * jobs[n].symbol_range + 1 : widest;
        total_rows += jobs[n].h;
    }
    double *row = malloc(sizeof(double) * widest);
    /* this thread's positions of the current wave and their table coordinates */
    int *gg = malloc(sizeof(int) * (total_rows + BLOCK));
    int *ii = malloc(sizeof(int) * (total_rows + BLOCK));
    int *jj = malloc(sizeof(int) * (total_rows + BLOCK));
    double *shift = malloc(sizeof(double) * (total_rows + BLOCK));
    int32_t *frac = malloc(sizeof(int32_t) * (total_rows + BLOCK));
    int32_t *scale = malloc(sizeof(int32_t) * (total_rows + BLOCK));
    if (!row || !gg || !ii || !jj || !shift || !frac || !scale) status = NO_MEMORY;
    ZeroOutputs zero[MAX_GRIDS];
    for (int n = 0; n < count && status == OK; n++) {
        if (n && jobs[n].arm == jobs[n - 1].arm) zero[n] = zero[n - 1];
        else status = zero_outputs(jobs[n].arm, sh->gelu, sh->snap, &s, &zero[n]);
    }
    GridContext g[MAX_GRIDS];
    int64_t before[MAX_GRIDS] = {0}; /* symbols of grid n in waves < t */
    int64_t prev_lo[MAX_GRIDS], prev_hi[MAX_GRIDS], prev_before[MAX_GRIDS];
    for (int n = 0; n < count; n++) {
        g[n] = (GridContext){jobs[n].h, jobs[n].w, sh->half, jobs[n].buffer, jobs[n].prev, sh->prev_kernel};
        prev_lo[n] = 1;
        prev_hi[n] = 0;
        prev_before[n] = 0;
    }
    for (int64_t t = 0; t < waves && status == OK; t++) {
        int64_t lo[MAX_GRIDS], hi[MAX_GRIDS], total = 0;
        for (int n = 0; n < count; n++) {
            wave_rows(&jobs[n], stride, t, &lo[n], &hi[n]);
            total += hi[n] >= lo[n] ? hi[n] - lo[n] + 1 : 0;
        }
        const int64_t first = total * k / sh->threads, last = total * (k + 1) / sh->threads;
        /* this thread's positions, in wave order */
        int mine = 0;
        int64_t p = 0;
        for (int n = 0; n < count && p < last; n++) {
            if (hi[n] < lo[n]) continue;
            for (int64_t i = lo[n]; i <= hi[n]; i++, p++) {
                if (p < first) continue;
                if (p >= last) break;
                gg[mine] = n;
                ii[mine] = (int)i;
                jj[mine] = (int)(t - (int64_t)stride * i);
                mine++;
            }
        }
        /* the ARM on them, block by block, once their contexts are decoded; a context of
         * zeros (most of them in the fine grids of low-rate files) gets the outputs computed
         * for it once, by the same arithmetic */
        int pending = 0, slot[BLOCK];
        for (int q = 0; q <= mine && status == OK; q++) {
            if (q < mine) {
                const int n = gg[q];
                const int64_t rows_prev = prev_hi[n] >= prev_lo[n]
                    ? (ii[q] < prev_lo[n] ? 0 : (ii[q] > prev_hi[n] ? prev_hi[n] : ii[q]) - prev_lo[n] + 1)
                    : 0;
                if (!wait_decoded(sh, n, prev_before[n] + rows_prev)) { status = BAD_STREAM; break; }
                if (zero_context(&g[n], ii[q], jj[q])) {
                    shift[q] = zero[n].shift;
                    frac[q] = zero[n].frac;
                    scale[q] = zero[n].scale;
                    continue;
                }
                if (pending > 0 && jobs[gg[slot[0]]].arm != jobs[n].arm) { /* a block has one ARM */
                    status = arm_block(jobs[gg[slot[0]]].arm, sh->gelu, sh->snap, &g[gg[slot[0]]], &s,
                                       pending, slot, shift, frac, scale);
                    pending = 0;
                    if (status != OK) break;
                }
                gather_block(&g[n], ii + q, jj + q, 1, 1, s.x + pending);
                slot[pending++] = q;
            }
            if (pending == BLOCK || (q == mine && pending > 0)) {
                status = arm_block(jobs[gg[slot[0]]].arm, sh->gelu, sh->snap, &g[gg[slot[0]]], &s, pending,
                                   slot, shift, frac, scale);
                pending = 0;
            }
        }
        /* decode their symbols, each grid's in its order */
        for (int q = 0; q < mine && status == OK; q++) {
            const int n = gg[q];
            GridJob *job = &jobs[n];
            const int64_t index = before[n] + (ii[q] - lo[n]);
            if (q == 0 || gg[q - 1] != n)
                if (!wait_decoded(sh, n, index)) { status = BAD_STREAM; break; }
            const int nsym = 2 * job->symbol_range + 1;
            const int64_t entry = (int64_t)frac[q] * sh->snap->scale_count + scale[q];
            uint32_t *cdf = job->cdf + entry * (nsym + 1);
            if (!job->ready[entry]) {
                status = laplace_row(sh->laplace, frac[q], scale[q], job->symbol_range, row, cdf);
                if (status != OK) break;
                job->ready[entry] = 1;
            }
            const int symbol = decode_symbol(&sh->dec[n], cdf, job->symbol_range);
            if (symbol < 0) { status = BAD_STREAM; break; }
            const double value = (double)(symbol - job->symbol_range) + shift[q];
            if (fabs(value) > MAX_LATENT) { status = LATENT_RANGE; break; }
            job->buffer[(int64_t)(ii[q] + sh->half) * (job->w + 2 * sh->half) + jj[q] + sh->half] = (int32_t)value;
            __atomic_store_n(&sh->decoded[n], index + 1, __ATOMIC_RELEASE);
        }
        for (int n = 0; n < count; n++) {
            prev_lo[n] = lo[n];
            prev_hi[n] = hi[n];
            prev_before[n] = before[n];
            before[n] += hi[n] >= lo[n] ? hi[n] - lo[n] + 1 : 0;
        }
    }
    if (status != OK) __atomic_store_n(&sh->failed, 1, __ATOMIC_RELAXED);
    scratch_free(&s);
    free(row);
    free(gg);
    free(ii);
    free(jj);
    free(shift);
    free(frac);
    free(scale);
    return status;
}

static void *decode_worker(void *arg) {
    Worker *w = arg;
    w->sh->status[w->k] = decode_share(w->sh, w->k);
    return NULL;
}

static void start_job_decoder(RangeDecoder *d, const GridJob *job) {
    if (job->state) *d = *job->state;
    else decoder_init(d, job->words, job->num_words);
}

/* Decode grids together, wave by wave, on `threads` threads: wave t of a grid holds its latents
 * (i, j) with (half + 1) i + j = t, in increasing i, whose contexts are all in earlier waves.
 * The threads share out every wave's positions (of all grids) for the ARM, and take turns at
 * each grid's range decoder in the order of its stream. Buffers must be zero on entry. */
int c3_decode_grids(const Gelu *gelu_table, const Snap *snap, const Laplace *laplace, int half,
                    int prev_kernel, int count, GridJob *jobs, int threads) {
    if (count > MAX_GRIDS) return BAD_SHAPE;
    if (count < 1) return OK;
    for (int n = 0; n < count; n++) /* one context layout: every ARM takes the same inputs */
        if (jobs[n].arm->widths[jobs[n].arm->depth] != 2 || jobs[n].arm->widths[0] != jobs[0].arm->widths[0])
            return BAD_SHAPE;
    threads = threads < 1 ? 1 : (threads > 64 ? 64 : threads);
    SharedDecode *sh = calloc(1, sizeof(SharedDecode));
    if (!sh) return NO_MEMORY;
    sh->gelu = gelu_table;
    sh->snap = snap;
    sh->laplace = laplace;
    sh->half = half;
    sh->prev_kernel = prev_kernel;
    sh->count = count;
    sh->threads = threads;
    sh->jobs = jobs;
    for (int n = 0; n < count; n++) start_job_decoder(&sh->dec[n], &jobs[n]);
    pthread_t ids[64];
    Worker workers[64];
    int started = 0;
    for (int k = 1; k < threads; k++) {
        workers[k] = (Worker){sh, k};
        if (pthread_create(&ids[k], NULL, decode_worker, &workers[k]) != 0) break;
        started = k;
    }
    if (started < threads - 1) { /* could not start them all: one thread takes every share */
        __atomic_store_n(&sh->failed, 1, __ATOMIC_RELAXED);
        for (int k = 1; k <= started; k++) pthread_join(ids[k], NULL);
        sh->failed = 0;
        for (int n = 0; n < count; n++) {
            start_job_decoder(&sh->dec[n], &jobs[n]);
            sh->decoded[n] = 0;
        }
        sh->threads = 1;
        started = 0;
        threads = 1;
    }
    sh->status[0] = decode_share(sh, 0);
    for (int k = 1; k <= started; k++) pthread_join(ids[k], NULL);
    int status = OK;
    for (int k = 0; k < threads && status == OK; k++) status = sh->status[k];
    /* a thread that stopped because another failed reports BAD_STREAM: prefer the real cause */
    for (int k = 0; k < threads; k++)
        if (sh->status[k] != OK && sh->status[k] != BAD_STREAM) status = sh->status[k];
    if (status == OK)
        for (int n = 0; n < count; n++)
            if (jobs[n].state) *jobs[n].state = sh->dec[n];
    free(sh);
    return status;
}

/* The network parameters (coding/parameters.py): tensor t's `sizes[t]` integers n, coded as
 * n + R_t with the row of a zero-mean Laplace of scale scales[t] over [-R_t, R_t], all tensors
 * in one stream. */
int c3_decode_params(const uint32_t *words, int64_t num_words, int count, const double *scales,
                     const int *ranges, const int64_t *sizes, const double *coeffs, int64_t *values) {
    RangeDecoder d;
    decoder_init(&d, words, num_words);
    int status = OK;
    for (int t = 0; t < count && status == OK; t++) {
        const int r = ranges[t], n = 2 * r + 1;
        double *row = malloc(sizeof(double) * n);
        uint32_t *cdf = malloc(sizeof(uint32_t) * (n + 1));
        const double mu = 0.0;
        Laplace table = {&mu, &scales[t], coeffs};
        if (!row || !cdf) status = NO_MEMORY;
        if (status == OK) status = laplace_row(&table, 0, 0, r, row, cdf);
        for (int64_t k = 0; k < sizes[t] && status == OK; k++) {
            const int symbol = decode_symbol(&d, cdf, r);
            if (symbol < 0) status = BAD_STREAM;
            else *values++ = symbol - r;
        }
        free(row);
        free(cdf);
    }
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* MARM's autoregressive upsampler (model/aru.py, exact/aru.py)                                */

/* One ARU grid: the grid itself (pass 2 reads its decoded anchors), its parent (NULL for the
 * coarsest ARU grid) with the parent's fixed-point (mu, raw) map, the position and level
 * encodings (fixed point, computed by the caller) and pass 1's outputs (read by pass 2). */
typedef struct {
    int h, w;
    const int32_t *grid;
    int64_t grid_stride;
    const int32_t *parent;
    int64_t parent_stride;
    int ph, pw;
    const double *parent_mu, *parent_raw; /* ph x pw */
    const double *pe_y, *pe_x;            /* h, w */
    double level;
    const double *first_mu, *first_raw;   /* h x w */
} AruGrid;

static void aru_features(const AruGrid *a, int pass, int i, int j, int lane, double *x) {
    int f = 0;
    const int pi = i / 2, pj = j / 2;
    for (int di = -1; di <= 1; di++)
        for (int dj = -1; dj <= 1; dj++, f++) {
            const int r = pi + di, c = pj + dj;
            x[f * BLOCK + lane] = a->parent && r >= 0 && r < a->ph && c >= 0 && c < a->pw
                                  ? (double)a->parent[(int64_t)r * a->parent_stride + c] * ONE : 0.0;
        }
    x[f++ * BLOCK + lane] = a->parent ? a->parent_mu[(int64_t)pi * a->pw + pj] : 0.0;
    x[f++ * BLOCK + lane] = a->parent ? a->parent_raw[(int64_t)pi * a->pw + pj] : 0.0;
    x[f++ * BLOCK + lane] = a->pe_y[i];
    x[f++ * BLOCK + lane] = a->pe_x[j];
    x[f++ * BLOCK + lane] = a->level;
    if (pass == 2) {
        static const int offsets[4][2] = {{-1, 0}, {1, 0}, {0, -1}, {0, 1}};
        for (int k = 0; k < 4; k++, f++) {
            const int r = i + offsets[k][0], c = j + offsets[k][1];
            x[f * BLOCK + lane] = r >= 0 && r < a->h && c >= 0 && c < a->w
                                  ? (double)a->grid[(int64_t)r * a->grid_stride + c] * ONE : 0.0;
        }
        x[f++ * BLOCK + lane] = a->first_mu[(int64_t)i * a->w + j];
        x[f++ * BLOCK + lane] = a->first_raw[(int64_t)i * a->w + j];
    }
}

/* Pass `pass` (1 or 2) of the ARU on the positions of rows [r0, r1) with (i + j) % 2 == parity
 * (parity -1: all), raster order: their fixed-point (mu, raw) into out_mu / out_raw (h x w, at
 * their positions; pass 2 may write over pass 1's maps: a position reads only its own entry) and,
 * unless shift is NULL, their table coordinates into shift / frac / scale (one per position). */
int c3_aru_rows(const Network *net, const Gelu *gelu_table, const Snap *snap, const AruGrid *a,
                int pass, int r0, int r1, int parity, double *out_mu, double *out_raw,
                double *shift, int32_t *frac, int32_t *scale) {
    if (net->widths[net->depth] != 2 || net->widths[0] != (pass == 1 ? 14 : 20)) return BAD_SHAPE;
    Scratch s;
    int status = scratch_alloc(&s, net->widths[0]);
    int ii[BLOCK], jj[BLOCK];
    int64_t done = 0;
    int i = r0, j = 0;
    while (status == OK && i < r1) {
        int lanes = 0;
        for (; i < r1 && lanes < BLOCK; ) {
            if (parity < 0 || (i + j) % 2 == parity) {
                ii[lanes] = i;
                jj[lanes] = j;
                aru_features(a, pass, i, j, lanes, s.x);
                lanes++;
            }
            if (++j == a->w) { j = 0; i++; }
        }
        if (!lanes) break;
        for (int f = 0; f < net->widths[0]; f++)
            for (int b = lanes; b < BLOCK; b++) s.x[f * BLOCK + b] = 0.0;
        status = mlp_block(net, gelu_table, s.x, lanes, s.a, s.b, s.out);
        if (status != OK) break;
        if (shift) snap_block(snap, s.out, lanes, shift + done, frac + done, scale + done);
        for (int b = 0; b < lanes; b++) {
            out_mu[(int64_t)ii[b] * a->w + jj[b]] = s.out[b];
            out_raw[(int64_t)ii[b] * a->w + jj[b]] = s.out[BLOCK + b];
        }
        done += lanes;
    }
    scratch_free(&s);
    return status;
}

/* A range decoder the caller keeps between calls (one grid's stream read in several parts). */
void c3_decoder_start(RangeDecoder *d, const uint32_t *words, int64_t num_words) {
    decoder_init(d, words, num_words);
}

/* `count` latents from the stream, with their table coordinates: values[k] = symbol - R + shift. */
int c3_decode_list(RangeDecoder *d, const Laplace *laplace, uint32_t *cdf, uint8_t *ready,
                   int scale_count, int symbol_range, int64_t count, const double *shift,
                   const int32_t *frac, const int32_t *scale, int32_t *values) {
    const int nsym = 2 * symbol_range + 1;
    double *row = malloc(sizeof(double) * nsym);
    if (!row) return NO_MEMORY;
    int status = OK;
    for (int64_t k = 0; k < count && status == OK; k++) {
        const int64_t entry = (int64_t)frac[k] * scale_count + scale[k];
        uint32_t *c = cdf + entry * (nsym + 1);
        if (!ready[entry]) {
            status = laplace_row(laplace, frac[k], scale[k], symbol_range, row, c);
            if (status != OK) break;
            ready[entry] = 1;
        }
        const int symbol = decode_symbol(d, c, symbol_range);
        if (symbol < 0) { status = BAD_STREAM; break; }
        const double value = (double)(symbol - symbol_range) + shift[k];
        if (fabs(value) > MAX_LATENT) { status = LATENT_RANGE; break; }
        values[k] = (int32_t)value;
    }
    free(row);
    return status;
}

/* The encoder's pass: (shift, fraction, scale) of every latent of rows [r0, r1) of a complete
 * grid (in its padded buffer), raster order. */
int c3_snap_rows(const Network *arm, const Gelu *gelu_table, const Snap *snap, int h, int w,
                 int half, int32_t *buffer, const double *prev, int prev_kernel, int r0, int r1,
                 double *shift, int32_t *frac, int32_t *scale) {
    if (arm->widths[arm->depth] != 2) return BAD_SHAPE;
    GridContext g = {h, w, half, buffer, prev, prev_kernel};
    Scratch s;
    int status = scratch_alloc(&s, arm->widths[0]);
    ZeroOutputs zero = {0.0, 0, 0};
    if (status == OK) status = zero_outputs(arm, gelu_table, snap, &s, &zero);
    const int64_t total = (int64_t)(r1 - r0) * w;
    int pending = 0, slot[BLOCK];
    for (int64_t p = 0; p <= total && status == OK; p++) {
        if (p < total) {
            const int i = r0 + (int)(p / w), j = (int)(p % w);
            if (zero_context(&g, i, j)) {
                shift[p] = zero.shift;
                frac[p] = zero.frac;
                scale[p] = zero.scale;
                continue;
            }
            gather_block(&g, &i, &j, 1, 1, s.x + pending);
            slot[pending++] = (int)p;
        }
        if (pending == BLOCK || (p == total && pending > 0)) {
            status = arm_block(arm, gelu_table, snap, &g, &s, pending, slot, shift, frac, scale);
            pending = 0;
        }
    }
    scratch_free(&s);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* Upsampling and synthesis                                                                    */

/* PyTorch's bilinear (align_corners=False) source index for upsampling by 2^e: exact dyadics. */
static void linear_weights(int out_index, int exponent, int in_size, int *i0, int *i1, double *l0,
                           double *l1) {
    double src = ((double)out_index + 0.5) * ldexp(1.0, -exponent) - 0.5;
    src = src < 0.0 ? 0.0 : src;
    const int i = (int)src;
    *i0 = i;
    *i1 = i < in_size - 1 ? i + 1 : i;
    *l1 = src - (double)i;
    *l0 = 1.0 - *l1;
}

/* The synthesis MLP on pixel rows [ya, yb): out[c][(y - ya) * W + x], fixed point. */
static int mlp_rows(const Network *mlp, const Gelu *g, const Latents *lat, int W, int ya, int yb,
                    double *out) {
    const int grids = lat->num_grids, channels = mlp->widths[mlp->depth];
    if (mlp->widths[0] != grids) return BAD_SHAPE;
    int64_t widest = 1;
    for (int n = 0; n < grids; n++) widest = lat->width[n] > widest ? lat->width[n] : widest;
    int *c0 = malloc(sizeof(int) * 2 * (size_t)W * grids);
    double *cw = malloc(sizeof(double) * 2 * (size_t)W * grids);
    double *rows = malloc(sizeof(double) * (size_t)widest * grids); /* each grid's row, upsampled vertically */
    Scratch s;
    int status = scratch_alloc(&s, grids);
    if (!c0 || !cw || !rows) status = NO_MEMORY;
    for (int n = 0; n < grids && status == OK; n++)
        for (int x = 0; x < W; x++) {
            int a, b;
            double l0, l1;
            linear_weights(x, lat->exponent[n], lat->width[n], &a, &b, &l0, &l1);
            c0[(n * W + x) * 2] = a;
            c0[(n * W + x) * 2 + 1] = b;
            cw[(n * W + x) * 2] = l0;
            cw[(n * W + x) * 2 + 1] = l1;
        }
    const int64_t plane = (int64_t)(yb - ya) * W;
    for (int y = ya; y < yb && status == OK; y++) {
        /* separable: vertically per grid row, then horizontally per pixel (exact either way) */
        for (int n = 0; n < grids; n++) {
            int r0, r1;
            double h0, h1;
            linear_weights(y, lat->exponent[n], lat->height[n], &r0, &r1, &h0, &h1);
            const int32_t *top = lat->data[n] + (int64_t)r0 * lat->stride[n];
            const int32_t *bottom = lat->data[n] + (int64_t)r1 * lat->stride[n];
            double *row = rows + (int64_t)n * widest;
            for (int c = 0; c < lat->width[n]; c++) row[c] = h0 * top[c] + h1 * bottom[c];
        }
        for (int x0 = 0; x0 < W && status == OK; x0 += BLOCK) {
            const int lanes = W - x0 < BLOCK ? W - x0 : BLOCK;
            for (int n = 0; n < grids; n++) {
                const double *row = rows + (int64_t)n * widest;
                const int *cols = c0 + (int64_t)(n * W + x0) * 2;
                const double *weights = cw + (int64_t)(n * W + x0) * 2;
                for (int b = 0; b < lanes; b++)
                    s.x[n * BLOCK + b] = weights[2 * b] * row[cols[2 * b]] + weights[2 * b + 1] * row[cols[2 * b + 1]];
                for (int b = lanes; b < BLOCK; b++) s.x[n * BLOCK + b] = 0.0;
            }
            status = mlp_block(mlp, g, s.x, lanes, s.a, s.b, s.out);
            for (int c = 0; c < channels && status == OK; c++)
                memcpy(out + c * plane + (int64_t)(y - ya) * W + x0, s.out + c * BLOCK, sizeof(double) * lanes);
        }
    }
    scratch_free(&s);
    free(c0);
    free(cw);
    free(rows);
    return status;
}

/* One residual layer, x + conv(x) (+ GELU), on rows [za, zb) of an image of height H whose rows
 * [ya, yb) are in `in` (channels x (yb - ya) x W); replicated borders at the image's edges.
 * Each input row a layer reads is copied once with its replicated border columns, so that the
 * convolution is a few contiguous multiply-adds per tap. */
static int residual_rows(const Residual *res, int l, const Gelu *g, const double *in, int ya, int yb,
                         int H, int W, int za, int zb, double *out) {
    const int C = res->channels, k = res->kernel, r = k / 2, padded = W + 2 * r;
    const int64_t in_plane = (int64_t)(yb - ya) * W, out_plane = (int64_t)(zb - za) * W;
    vec mv = vzero();
    int64_t i = 0;
    for (; i + VLEN <= C * in_plane; i += VLEN) mv = vmaxabs(mv, vload(in + i));
    double m = vhmax(mv);
    for (; i < C * in_plane; i++) m = fabs(in[i]) > m ? fabs(in[i]) : m;
    if (m >= res->limit[l]) return OVERFLOW;
    double *rows = malloc(sizeof(double) * (size_t)C * k * padded);
    double *acc = malloc(sizeof(double) * (size_t)W);
    if (!rows || !acc) {
        free(rows);
        free(acc);
        return NO_MEMORY;
    }
    const double *w = res->weight[l];
    for (int y = za; y < zb; y++) {
        for (int c = 0; c < C; c++)
            for (int dy = -r; dy <= r; dy++) {
                int yy = y + dy;
                yy = yy < 0 ? 0 : (yy > H - 1 ? H - 1 : yy);
                const double *src = in + c * in_plane + (int64_t)(yy - ya) * W;
                double *dst = rows + ((int64_t)c * k + dy + r) * padded;
                for (int x = 0; x < r; x++) {
                    dst[x] = src[0];
                    dst[r + W + x] = src[W - 1];
                }
                memcpy(dst + r, src, sizeof(double) * W);
            }
        for (int o = 0; o < C; o++) {
            for (int x = 0; x < W; x++) acc[x] = 0.0;
            for (int c = 0; c < C; c++)
                for (int dy = 0; dy < k; dy++) {
                    const double *row = rows + ((int64_t)c * k + dy) * padded;
                    for (int dx = 0; dx < k; dx++) {
                        const double wt = w[((o * C + c) * k + dy) * k + dx];
                        const double *shifted = row + dx;
                        for (int x = 0; x < W; x++) acc[x] += wt * shifted[x];
                    }
                }
            const double *centre = in + o * in_plane + (int64_t)(y - ya) * W;
            double *dst = out + o * out_plane + (int64_t)(y - za) * W;
            const double scale = res->scale[l], bias = res->bias[l][o];
            const int last = l == res->count - 1;
            const vec sv = vset(scale), bv = vset(bias);
            int x = 0;
            for (; x + VLEN <= W; x += VLEN)
                vstore(dst + x, vload(centre + x) + vrequant(vload(acc + x), sv, bv));
            for (; x < W; x++) {
                const double t = acc[x] * scale;
                dst[x] = centre[x] + nearbyint(t + bias);
            }
            if (!last) gelu_row(dst, W, g);
        }
    }
    free(rows);
    free(acc);
    return OK;
}

/* Pixel rows [y0, y1) of the image (H x W, channels interleaved, 8 or 16 bit). */
int c3_synthesise_rows(const Network *mlp, const Residual *res, const Gelu *g, const Latents *lat,
                       int H, int W, int y0, int y1, double max_value, void *pixels, int bytes) {
    const int C = mlp->widths[mlp->depth];
    if (res->count > 0 && (res->channels != C || res->count > MAX_RESIDUAL)) return BAD_SHAPE;
    const int halo = res->count * (res->kernel / 2);
    int ya = y0 - halo < 0 ? 0 : y0 - halo, yb = y1 + halo > H ? H : y1 + halo;
    double *x = malloc(sizeof(double) * (size_t)C * (yb - ya) * W);
    double *tmp = res->count ? malloc(sizeof(double) * (size_t)C * (yb - ya) * W) : NULL;
    int status = x && (tmp || !res->count) ? OK : NO_MEMORY;
    if (status == OK) status = mlp_rows(mlp, g, lat, W, ya, yb, x);
    for (int l = 0; l < res->count && status == OK; l++) {
        const int shrink = (l + 1) * (res->kernel / 2);
        const int za = y0 - halo + shrink < 0 ? 0 : y0 - halo + shrink;
        const int zb = y1 + halo - shrink > H ? H : y1 + halo - shrink;
        status = residual_rows(res, l, g, x, ya, yb, H, W, za, zb, tmp);
        double *swap = x;
        x = tmp;
        tmp = swap;
        ya = za;
        yb = zb;
    }
    const int64_t plane = (int64_t)(yb - ya) * W;
    for (int y = y0; y < y1 && status == OK; y++)
        for (int c = 0; c < C; c++) {
            const double *row = x + c * plane + (int64_t)(y - ya) * W;
            for (int xx = 0; xx < W; xx++) {
                double v = nearbyint((row[xx] * max_value) / ONE);
                v = v > 0.0 ? v : 0.0;
                v = v < max_value ? v : max_value;
                const int64_t at = ((int64_t)y * W + xx) * C + c;
                if (bytes == 1) ((uint8_t *)pixels)[at] = (uint8_t)v;
                else ((uint16_t *)pixels)[at] = (uint16_t)v;
            }
        }
    free(x);
    free(tmp);
    return status;
}
