/*
 * Fused kernels for fitting on a CPU: the per-position MLPs (GELU between layers), the
 * synthesis network's residual 3x3 convolutions (forward and backward), the Laplace rate of
 * the latents (with its derivatives, also fused with the ARM into the rate of a whole grid),
 * the upsampling of the latent grids and C3's stage-1 quantisation of the latents.
 *
 * MLP data are channel-first: feature f of position p is x[f * ld + p]. Positions are processed in
 * blocks of BLOCK that stay in the L1 cache through every layer, so no activation ever goes to
 * memory: the backward pass recomputes a block's forward pass, then back-propagates it. GELU and
 * its derivative share one erf. Weight and bias gradients are accumulated in LANES partial sums
 * per entry (lane q sums the positions p with p % LANES == q), which the caller adds up: the
 * summation order is fixed by this code, whatever the vector width the compiler picks.
 *
 * Parameters are one float array, layer by layer: W_l (out x in, row-major) then b_l (out).
 * The gradient lanes have the same layout with LANES floats per parameter.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 64
#define LANES 8
#define MAX_WIDTH 64
#define MAX_DEPTH 8

static inline float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* erf on float32 to about 1e-7: odd rational approximation on [-4, 4] (Eigen's fast erf). */
static inline float erf_fast(float x) {
    x = clampf(x, -4.0f, 4.0f);
    const float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return x * p / q;
}

/* exp(x) for x in [-87, 0] to about 2 ulp: 2^n * e^r with Cephes' polynomial for e^r. Rounding
 * and 2^n by float bit tricks, so that the compiler vectorises it. */
static inline float exp_nonpositive(float x) {
    x = x < -87.0f ? -87.0f : x;
    const float shifted = x * 1.44269504088896341f + 12582912.0f; /* 1.5 * 2^23: rounds to int */
    const float n = shifted - 12582912.0f;
    const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits - 0x4B400000 + 127) << 23; /* the integer n, as the exponent of 2^n */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#define SQRT_HALF 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f

/* Phi(x), the standard normal CDF: GELU(x) = x Phi(x). */
static inline float normal_cdf(float x) { return 0.5f * (1.0f + erf_fast(x * SQRT_HALF)); }

/* GELU'(x) = Phi(x) + x phi(x), given cdf = Phi(x). */
static inline float gelu_derivative(float x, float cdf) {
    return cdf + x * INV_SQRT_2PI * exp_nonpositive(-0.5f * x * x);
}

/* out = GELU(pre) = pre * Phi(pre), keeping Phi(pre) in cdf for the backward pass. */
static void gelu(const float *pre, float *out, float *cdf, int rows) {
    for (int k = 0; k < rows * BLOCK; k++) {
        cdf[k] = normal_cdf(pre[k]);
        out[k] = pre[k] * cdf[k];
    }
}

/* g *= GELU'(pre). */
static void gelu_backward(const float *pre, const float *cdf, float *g, int rows) {
    for (int k = 0; k < rows * BLOCK; k++) g[k] *= gelu_derivative(pre[k], cdf[k]);
}

typedef float v8 __attribute__((vector_size(LANES * sizeof(float))));

static inline v8 load8(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
static inline void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }
static inline v8 splat(float x) { return (v8){x, x, x, x, x, x, x, x}; }

/* ROWS rows of out = init + M in on VECS * LANES positions starting at p, where M[r, c] is
 * m[r * rs + c * cs]: the ROWS * VECS accumulators stay in registers and each input vector feeds
 * ROWS products. An FMA takes 4 cycles and two issue per cycle, so tiles keep ROWS * VECS >= 8
 * independent sums (a one-row tile with 2 would run at a quarter of the peak). */
static inline __attribute__((always_inline)) void product_tile(
    const int ROWS, const int VECS, const float *m, int rs, int cs, const float *init, int cols,
    const float *in, float *out, int p) {
    v8 acc[12];
    for (int j = 0; j < ROWS; j++)
        for (int v = 0; v < VECS; v++) acc[j * VECS + v] = splat(init ? init[j] : 0.0f);
    for (int c = 0; c < cols; c++) {
        v8 x[8];
        for (int v = 0; v < VECS; v++) x[v] = load8(in + c * BLOCK + p + v * LANES);
        for (int j = 0; j < ROWS; j++) {
            const v8 w = splat(m[j * rs + c * cs]);
            for (int v = 0; v < VECS; v++) acc[j * VECS + v] += w * x[v];
        }
    }
    for (int j = 0; j < ROWS; j++)
        for (int v = 0; v < VECS; v++) store8(out + j * BLOCK + p + v * LANES, acc[j * VECS + v]);
}

/* All positions of the block for ROWS rows, VECS vectors of positions at a time. */
static inline __attribute__((always_inline)) void product_rows(
    const int ROWS, const int VECS, const float *m, int rs, int cs, const float *init, int cols,
    const float *in, float *out) {
    for (int p = 0; p < BLOCK; p += VECS * LANES) product_tile(ROWS, VECS, m, rs, cs, init, cols, in, out, p);
}

/* out = init + M in for a block of positions (init may be NULL: zero): six rows at a time, then
 * the last rows on wider tiles of positions. */
static void product(const float *m, int rs, int cs, const float *init, int rows, int cols,
                    const float *in, float *out) {
    int r = 0;
    for (; r + 6 <= rows; r += 6)
        product_rows(6, 2, m + r * rs, rs, cs, init ? init + r : NULL, cols, in, out + r * BLOCK);
    m += r * rs;
    init = init ? init + r : NULL;
    out += r * BLOCK;
    switch (rows - r) {
    case 5: product_rows(5, 2, m, rs, cs, init, cols, in, out); break;
    case 4: product_rows(4, 2, m, rs, cs, init, cols, in, out); break;
    case 3: product_rows(3, 4, m, rs, cs, init, cols, in, out); break;
    case 2: product_rows(2, 4, m, rs, cs, init, cols, in, out); break;
    case 1: product_rows(1, 8, m, rs, cs, init, cols, in, out); break;
    }
}

/* out[o] = b[o] + sum_i W[o, i] in[i], for a block of positions. */
static void dense(const float *w, const float *b, int n_in, int n_out, const float *in, float *out) {
    product(w, n_in, 1, b, n_out, n_in, in, out);
}

/* out[i] = sum_o W[o, i] g[o]: the input gradient of a dense layer. */
static void dense_transposed(const float *w, int n_in, int n_out, const float *g, float *out) {
    product(w, 1, n_in, NULL, n_in, n_out, g, out);
}

/* OUTS x INS tile of the weight-gradient lanes: lanes[o, i] += g[o, k] * a[i, k] over the
 * block's position vectors k, with the OUTS * INS accumulators in registers. */
static inline __attribute__((always_inline)) void gradient_tile(
    const int OUTS, const int INS, int n_in, const float *g, const float *a, float *lanes) {
    v8 acc[12];
    for (int o = 0; o < OUTS; o++)
        for (int i = 0; i < INS; i++) acc[o * INS + i] = load8(lanes + (o * n_in + i) * LANES);
    for (int k = 0; k < BLOCK; k += LANES) {
        v8 gv[4];
        for (int o = 0; o < OUTS; o++) gv[o] = load8(g + o * BLOCK + k);
        for (int i = 0; i < INS; i++) {
            const v8 av = load8(a + i * BLOCK + k);
            for (int o = 0; o < OUTS; o++) acc[o * INS + i] += gv[o] * av;
        }
    }
    for (int o = 0; o < OUTS; o++)
        for (int i = 0; i < INS; i++) store8(lanes + (o * n_in + i) * LANES, acc[o * INS + i]);
}

/* The weight-gradient lanes of OUTS rows (OUTS * INS <= 12): INS inputs at a time, then the
 * remaining ones in one tile. */
static inline __attribute__((always_inline)) void gradient_rows(
    const int OUTS, const int INS, int n_in, const float *g, const float *a, float *lanes) {
    int i = 0;
    for (; i + INS <= n_in; i += INS) gradient_tile(OUTS, INS, n_in, g, a + i * BLOCK, lanes + i * LANES);
    a += i * BLOCK;
    lanes += i * LANES;
    switch (n_in - i) { /* fewer than INS <= 12 */
    case 11: gradient_tile(OUTS, 11 < INS ? 11 : 1, n_in, g, a, lanes); break;
    case 10: gradient_tile(OUTS, 10 < INS ? 10 : 1, n_in, g, a, lanes); break;
    case 9: gradient_tile(OUTS, 9 < INS ? 9 : 1, n_in, g, a, lanes); break;
    case 8: gradient_tile(OUTS, 8 < INS ? 8 : 1, n_in, g, a, lanes); break;
    case 7: gradient_tile(OUTS, 7 < INS ? 7 : 1, n_in, g, a, lanes); break;
    case 6: gradient_tile(OUTS, 6 < INS ? 6 : 1, n_in, g, a, lanes); break;
    case 5: gradient_tile(OUTS, 5 < INS ? 5 : 1, n_in, g, a, lanes); break;
    case 4: gradient_tile(OUTS, 4 < INS ? 4 : 1, n_in, g, a, lanes); break;
    case 3: gradient_tile(OUTS, 3 < INS ? 3 : 1, n_in, g, a, lanes); break;
    case 2: gradient_tile(OUTS, 2 < INS ? 2 : 1, n_in, g, a, lanes); break;
    case 1: gradient_tile(OUTS, 1, n_in, g, a, lanes); break;
    }
}

/* lanes[(o * n_in + i) * LANES + q] += sum over positions p = q mod LANES of g[o, p] a[i, p];
 * bias lanes likewise with a = 1. Four output rows at a time, then the remaining ones on wider
 * tiles of inputs. */
static void accumulate_gradients(int n_in, int n_out, const float *g, const float *a, float *w_lanes,
                                 float *b_lanes) {
    int o = 0;
    for (; o + 4 <= n_out; o += 4) gradient_rows(4, 3, n_in, g + o * BLOCK, a, w_lanes + o * n_in * LANES);
    switch (n_out - o) {
    case 3: gradient_rows(3, 4, n_in, g + o * BLOCK, a, w_lanes + o * n_in * LANES); break;
    case 2: gradient_rows(2, 6, n_in, g + o * BLOCK, a, w_lanes + o * n_in * LANES); break;
    case 1: gradient_rows(1, 12, n_in, g + o * BLOCK, a, w_lanes + o * n_in * LANES); break;
    }
    /* bias lanes: the sums of several rows advance together (one chain would wait on each add) */
    for (o = 0; o < n_out; o += 8) {
        const int rows = n_out - o < 8 ? n_out - o : 8;
        v8 acc[8];
        for (int j = 0; j < rows; j++) acc[j] = load8(b_lanes + (o + j) * LANES);
        for (int k = 0; k < BLOCK; k += LANES)
            for (int j = 0; j < rows; j++) acc[j] += load8(g + (o + j) * BLOCK + k);
        for (int j = 0; j < rows; j++) store8(b_lanes + (o + j) * LANES, acc[j]);
    }
}

static void load_block(const float *src, int64_t ld, int rows, int count, float *dst) {
    for (int r = 0; r < rows; r++) {
        memcpy(dst + r * BLOCK, src + r * ld, count * sizeof(float));
        memset(dst + r * BLOCK + count, 0, (BLOCK - count) * sizeof(float));
    }
}

static void store_block(const float *src, int rows, int count, float *dst, int64_t ld) {
    for (int r = 0; r < rows; r++) memcpy(dst + r * ld, src + r * BLOCK, count * sizeof(float));
}

typedef struct {
    int depth;
    const int *widths;        /* depth + 1 widths, input first */
    const float *w[MAX_DEPTH], *b[MAX_DEPTH];
    float *act[MAX_DEPTH + 1]; /* act[l]: input of layer l (act[depth]: output) */
    float *pre[MAX_DEPTH];     /* pre[l]: pre-activation whose GELU is act[l], l >= 1 */
    float *cdf[MAX_DEPTH];     /* cdf[l]: Phi(pre[l]) */
} Net;

static int setup(Net *net, int depth, const int *widths, const float *params, float *scratch) {
    if (depth < 1 || depth > MAX_DEPTH) return 1;
    net->depth = depth;
    net->widths = widths;
    for (int l = 0; l <= depth; l++) {
        if (widths[l] < 1 || widths[l] > MAX_WIDTH) return 1;
        net->act[l] = scratch;
        scratch += widths[l] * BLOCK;
    }
    for (int l = 0; l < depth; l++) {
        net->w[l] = params;
        params += widths[l + 1] * widths[l];
        net->b[l] = params;
        params += widths[l + 1];
        net->pre[l] = scratch;
        scratch += widths[l] * BLOCK;
        net->cdf[l] = scratch;
        scratch += widths[l] * BLOCK;
    }
    return 0;
}

static size_t scratch_floats(void) { return (size_t)(3 * MAX_DEPTH + 1) * MAX_WIDTH * BLOCK; }

static void forward_block(Net *net) {
    for (int l = 0; l < net->depth; l++) {
        const int last = l == net->depth - 1;
        float *out = last ? net->act[l + 1] : net->pre[l + 1];
        dense(net->w[l], net->b[l], net->widths[l], net->widths[l + 1], net->act[l], out);
        if (!last) gelu(out, net->act[l + 1], net->cdf[l + 1], net->widths[l + 1]);
    }
}

/* y = MLP(x) for n positions. Returns 0, or 1 for an unsupported shape. */
int c3_mlp_forward(int depth, const int *widths, const float *params, const float *x, int64_t ldx,
                   float *y, int64_t ldy, int64_t n) {
    Net net;
    float *scratch = malloc(scratch_floats() * sizeof(float));
    if (!scratch) return 2;
    if (setup(&net, depth, widths, params, scratch)) { free(scratch); return 1; }
    for (int64_t s = 0; s < n; s += BLOCK) {
        const int count = n - s < BLOCK ? (int)(n - s) : BLOCK;
        load_block(x + s, ldx, widths[0], count, net.act[0]);
        forward_block(&net);
        store_block(net.act[depth], widths[depth], count, y + s, ldy);
    }
    free(scratch);
    return 0;
}

/* The network set up on a freshly allocated scratch that also holds two gradient blocks
 * (*g, *g_prev), and the gradient lanes of each layer within `lanes` (as c3_mlp_backward). NULL
 * with *error = 1 for an unsupported shape, 2 without memory; free() the result when done. */
static float *setup_backward(Net *net, int depth, const int *widths, const float *params, float *lanes,
                             float **g, float **g_prev, float **w_lanes, float **b_lanes, int *error) {
    float *scratch = malloc((scratch_floats() + 2 * MAX_WIDTH * BLOCK) * sizeof(float));
    if (!scratch) {
        *error = 2;
        return NULL;
    }
    if (setup(net, depth, widths, params, scratch)) {
        free(scratch);
        *error = 1;
        return NULL;
    }
    *g = scratch + scratch_floats();
    *g_prev = *g + MAX_WIDTH * BLOCK;
    for (int l = 0; lanes && l < depth; l++) {
        w_lanes[l] = lanes;
        lanes += widths[l + 1] * widths[l] * LANES;
        b_lanes[l] = lanes;
        lanes += widths[l + 1] * LANES;
    }
    return scratch;
}

/* Back-propagates g (the output gradient of the block whose forward pass is in net) through the
 * layers, adding the parameter gradients to the lanes; g_prev is a second buffer. Returns the
 * block's input gradient (in g or g_prev), or NULL when need_input is 0 (it is not computed). */
static float *backward_block(Net *net, float *g, float *g_prev, float **w_lanes, float **b_lanes,
                             int need_input) {
    const int *widths = net->widths;
    for (int l = net->depth - 1; l >= 0; l--) {
        accumulate_gradients(widths[l], widths[l + 1], g, net->act[l], w_lanes[l], b_lanes[l]);
        if (l == 0 && !need_input) return NULL;
        dense_transposed(net->w[l], widths[l], widths[l + 1], g, g_prev);
        if (l > 0) gelu_backward(net->pre[l], net->cdf[l], g_prev, widths[l]);
        float *t = g; g = g_prev; g_prev = t;
    }
    return g;
}

/* Given gy = dL/dy for n positions: adds the parameter gradients to lanes and, unless gx is
 * NULL, writes gx = dL/dx. Returns 0, or 1 for an unsupported shape. */
int c3_mlp_backward(int depth, const int *widths, const float *params, const float *x, int64_t ldx,
                    const float *gy, int64_t ldgy, float *gx, int64_t ldgx, float *lanes, int64_t n) {
    Net net;
    float *g, *g_prev, *w_lanes[MAX_DEPTH], *b_lanes[MAX_DEPTH];
    int error;
    float *scratch = setup_backward(&net, depth, widths, params, lanes, &g, &g_prev, w_lanes, b_lanes, &error);
    if (!scratch) return error;
    for (int64_t s = 0; s < n; s += BLOCK) {
        const int count = n - s < BLOCK ? (int)(n - s) : BLOCK;
        load_block(x + s, ldx, widths[0], count, net.act[0]);
        forward_block(&net);
        load_block(gy + s, ldgy, widths[depth], count, g);
        const float *g_in = backward_block(&net, g, g_prev, w_lanes, b_lanes, gx != NULL);
        if (gx) store_block(g_in, widths[0], count, gx + s, ldgx);
    }
    free(scratch);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Residual 3x3 convolutions of the synthesis network, with as many channels as the image.
 *
 * A layer maps x (C, H, W) to pre = x + b + conv3x3(x with edge-replicated borders, w) and
 * out = GELU(pre), or pre itself for the last layer. Rows are processed whole, so the compiler
 * vectorises along them; every sum is taken in an order fixed by this code.
 * w is (C, C, 3, 3) as in PyTorch: w[((o * C + i) * 3 + ky) * 3 + kx].
 */
#define MAX_CONV_CHANNELS 4

/* Row r + 1 of the edge-replicated padding of x, for r in -1 .. H (image row r clamped to
 * 0 .. H - 1, with one replicated column on either side), of every channel: channel i's goes to
 * dst + i * stride (W + 2 floats).
 *
 * The convolutions keep only the few padded rows they are working on, in a ring of rows (see
 * RING_X, RING_G), not a padded copy of the image: at 12 MP the copies (and the padded
 * gradient of the backward pass) were 140-280 MB allocated at the fitting step's memory peak.
 * Every value is computed by the same operations in the same order as with whole copies. */
static void pad_row(int C, int H, int W, const float *x, int r, float *dst, int64_t stride) {
    for (int i = 0; i < C; i++) {
        const float *src = x + ((int64_t)i * H + (r < 0 ? 0 : (r >= H ? H - 1 : r))) * W;
        float *d = dst + i * stride;
        d[0] = src[0];
        memcpy(d + 1, src, (size_t)W * sizeof(float));
        d[W + 1] = src[W - 1];
    }
}

#define RING_X 3 /* padded input rows h .. h + 2 (padded indices) of output row h */
#define RING_G 4 /* padded gradient rows h .. h + 2, and row 0 until row 1 is final */

/* out[j] += sum_t c[t][0] a[t][j] + c[t][1] a[t][j + 1] + c[t][2] a[t][j + 2] for j < n: a row
 * of a 3-tap convolution over T input rows, in one pass over out. Two vectors of positions and
 * one partial sum per tap are in flight at a time, so the FMAs do not wait on each other. */
static void taps3(float *out, int n, int T, const float *const *a, const float (*c)[3]) {
    int j = 0;
    for (; j + 2 * LANES <= n; j += 2 * LANES) {
        v8 acc[3][2] = {{splat(0.0f), splat(0.0f)}, {splat(0.0f), splat(0.0f)}, {splat(0.0f), splat(0.0f)}};
        for (int t = 0; t < T; t++)
            for (int k = 0; k < 3; k++) {
                const v8 coef = splat(c[t][k]);
                acc[k][0] += coef * load8(a[t] + j + k);
                acc[k][1] += coef * load8(a[t] + j + k + LANES);
            }
        store8(out + j, load8(out + j) + (acc[0][0] + acc[1][0] + acc[2][0]));
        store8(out + j + LANES, load8(out + j + LANES) + (acc[0][1] + acc[1][1] + acc[2][1]));
    }
    for (; j < n; j++) {
        float acc = 0.0f;
        for (int t = 0; t < T; t++) acc += c[t][0] * a[t][j] + c[t][1] * a[t][j + 1] + c[t][2] * a[t][j + 2];
        out[j] += acc;
    }
}

/* pre = x + b + conv(x); out = GELU(pre) if apply_gelu (out may be pre otherwise).
 * scratch: C * RING_X * (W + 2) floats (padded row q of channel i in slot (i, q % RING_X)).
 * Returns 0, or 1 for an unsupported shape. */
int c3_residual_forward(int C, int H, int W, const float *x, const float *w, const float *b,
                        int apply_gelu, float *pre, float *out, float *scratch) {
    if (C < 1 || C > MAX_CONV_CHANNELS || H < 1 || W < 1) return 1;
    const int64_t wp = W + 2, ring = RING_X * wp;
    const float *rows[3 * MAX_CONV_CHANNELS];
    float coef[3 * MAX_CONV_CHANNELS][3];
    pad_row(C, H, W, x, -1, scratch, ring);
    pad_row(C, H, W, x, 0, scratch + wp, ring);
    for (int h = 0; h < H; h++) {
        pad_row(C, H, W, x, h + 1, scratch + ((h + 2) % RING_X) * wp, ring);
        for (int o = 0; o < C; o++) {
            float *p = pre + ((int64_t)o * H + h) * W;
            const float *xr = x + ((int64_t)o * H + h) * W;
            for (int j = 0; j < W; j++) p[j] = xr[j] + b[o];
            for (int i = 0; i < C; i++)
                for (int ky = 0; ky < 3; ky++) {
                    rows[i * 3 + ky] = scratch + i * ring + ((h + ky) % RING_X) * wp;
                    for (int kx = 0; kx < 3; kx++) coef[i * 3 + ky][kx] = w[((o * C + i) * 3 + ky) * 3 + kx];
                }
            taps3(p, W, 3 * C, rows, (const float (*)[3])coef);
            if (apply_gelu) {
                float *q = out + ((int64_t)o * H + h) * W;
                for (int j = 0; j < W; j++) q[j] = p[j] * normal_cdf(p[j]);
            }
        }
    }
    return 0;
}

/* s[k] += sum_j a[j] b[j + k] for k = 0, 1, 2 (float64 totals of float32 lanes; two vectors of
 * positions at a time, so that six independent FMA chains are in flight). */
static void dot3(const float *a, const float *b, int n, double s[3]) {
    v8 acc[3][2] = {{splat(0.0f), splat(0.0f)}, {splat(0.0f), splat(0.0f)}, {splat(0.0f), splat(0.0f)}};
    int j = 0;
    for (; j + 2 * LANES <= n; j += 2 * LANES) {
        const v8 a0 = load8(a + j), a1 = load8(a + j + LANES);
        for (int k = 0; k < 3; k++) {
            acc[k][0] += a0 * load8(b + j + k);
            acc[k][1] += a1 * load8(b + j + k + LANES);
        }
    }
    for (int k = 0; k < 3; k++) {
        float tail = 0.0f;
        for (int t = j; t < n; t++) tail += a[t] * b[t + k];
        double sum = tail;
        for (int q = 0; q < LANES; q++) sum += acc[k][0][q] + acc[k][1][q];
        s[k] += sum;
    }
}

static double row_sum(const float *a, int n) {
    v8 acc = splat(0.0f);
    int j = 0;
    for (; j + LANES <= n; j += LANES) acc += load8(a + j);
    double sum = 0.0;
    for (; j < n; j++) sum += a[j];
    for (int q = 0; q < LANES; q++) sum += acc[q];
    return sum;
}

/* Padded row q (1 .. H) of the input gradient gp of one channel is final: fold the padding onto
 * the edge pixels it was copied from (row 0 onto row 1 and row H + 1 onto row H, given as
 * `above` and `below` where they apply, then the columns) and add it to gx's row q - 1. */
static void fold_row(int W, float *r, const float *above, const float *below, float *dst) {
    if (above)
        for (int j = 0; j < W + 2; j++) r[j] += above[j];
    if (below)
        for (int j = 0; j < W + 2; j++) r[j] += below[j];
    r[1] += r[0];
    r[W] += r[W + 1];
    for (int j = 0; j < W; j++) dst[j] += r[j + 1];
}

/* Given gout = dL/dout: gx = dL/dx, and adds dL/dw to gw (C * C * 9) and dL/db to gb (C), both
 * float64. pre is the forward pass's pre-activation for a layer with GELU, else NULL.
 * scratch: C * (RING_X + RING_G) * (W + 2) + C * (W + 4) floats. Returns 0, or 1 for an
 * unsupported shape. */
int c3_residual_backward(int C, int H, int W, const float *x, const float *w, const float *pre,
                         const float *gout, float *gx, double *gw, double *gb, float *scratch) {
    if (C < 1 || C > MAX_CONV_CHANNELS || H < 1 || W < 1) return 1;
    const int64_t wp = W + 2, plane = (int64_t)H * W, ring_x = RING_X * wp, ring_g = RING_G * wp;
    /* padded input row q of channel i: xp + i * ring_x + (q % RING_X) * wp; padded gradient
     * row q: gp + i * ring_g + (q % RING_G) * wp */
    float *xp = scratch, *gp = scratch + C * ring_x, *gz = gp + C * ring_g;
    /* g = dL/dpre, kept in gx until the input gradient is added to it, row by row */
    if (pre) {
        for (int64_t k = 0; k < C * plane; k++) {
            const float v = pre[k];
            gx[k] = gout[k] * gelu_derivative(v, normal_cdf(v));
        }
    } else {
        memcpy(gx, gout, (size_t)(C * plane) * sizeof(float));
    }
    pad_row(C, H, W, x, -1, xp, ring_x);
    pad_row(C, H, W, x, 0, xp + wp, ring_x);
    for (int i = 0; i < C; i++) memset(gp + i * ring_g, 0, (size_t)(2 * wp) * sizeof(float)); /* rows 0, 1 */
    memset(gz, 0, (size_t)(C * (W + 4)) * sizeof(float));
    const float *rows[MAX_CONV_CHANNELS];
    float coef[MAX_CONV_CHANNELS][3];
    for (int h = 0; h < H; h++) {
        pad_row(C, H, W, x, h + 1, xp + ((h + 2) % RING_X) * wp, ring_x);
        for (int i = 0; i < C; i++) /* row h + 2 is first written now */
            memset(gp + i * ring_g + ((h + 2) % RING_G) * wp, 0, (size_t)wp * sizeof(float));
        for (int o = 0; o < C; o++) {
            const float *g = gx + o * plane + (int64_t)h * W;
            gb[o] += row_sum(g, W);
            for (int i = 0; i < C; i++)
                for (int ky = 0; ky < 3; ky++)
                    dot3(g, xp + i * ring_x + ((h + ky) % RING_X) * wp, W, gw + ((o * C + i) * 3 + ky) * 3);
            memcpy(gz + o * (W + 4) + 2, g, (size_t)W * sizeof(float)); /* g with 2 zeros each side */
            rows[o] = gz + o * (W + 4);
        }
        /* padded-input gradient: row (i, h + ky) gets the transposed convolution of the g rows */
        for (int i = 0; i < C; i++)
            for (int ky = 0; ky < 3; ky++) {
                for (int o = 0; o < C; o++)
                    for (int kx = 0; kx < 3; kx++) coef[o][2 - kx] = w[((o * C + i) * 3 + ky) * 3 + kx];
                taps3(gp + i * ring_g + ((h + ky) % RING_G) * wp, W + 2, C, rows, (const float (*)[3])coef);
            }
        /* padded row q gets terms from g rows q - 2 .. q only: row h is now final (and g's row
         * h - 1, which its fold adds to, is no longer read); the last step finishes row H */
        for (int i = 0; i < C; i++) {
            float *base = gp + i * ring_g;
            if (h >= 1)
                fold_row(W, base + (h % RING_G) * wp, h == 1 ? base : NULL, NULL, gx + i * plane + (int64_t)(h - 1) * W);
            if (h == H - 1)
                fold_row(W, base + (H % RING_G) * wp, H == 1 ? base : NULL, base + ((H + 1) % RING_G) * wp,
                         gx + i * plane + (int64_t)(H - 1) * W);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Rate of the latents under the ARM's discretised Laplace (c3-supplementary A.2.1), elementwise,
 * with its derivatives: the same formulas as entropy.laplace_bits and log_scale_from_raw (and
 * their PyTorch gradients), in one pass instead of some forty elementwise operators.
 */

/* log(x) for normal x > 0 to about 1 ulp (Cephes' logf), with float bit tricks so that the
 * compiler vectorises it. */
static inline float log_positive(float x) {
    int32_t bits;
    memcpy(&bits, &x, sizeof bits);
    const int32_t e = ((bits >> 23) & 0xff) - 126;
    bits = (bits & 0x007fffff) | 0x3f000000; /* mantissa in [0.5, 1) */
    float m;
    memcpy(&m, &bits, sizeof m);
    const int small = m < 0.707106781186547524f;
    const float ef = (float)(e - small);
    m = small ? m + m - 1.0f : m - 1.0f;
    const float z = m * m;
    float y = 7.0376836292e-2f;
    y = y * m - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z - 2.12194440e-4f * ef - 0.5f * z;
    return m + y + 0.693359375f * ef;
}

/* log(1 + y) for y > -1 (1 + y a normal float), accurate for small |y| too (Goldberg's
 * correction). */
static inline float log1p_accurate(float y) {
    const float u = 1.0f + y;
    return u == 1.0f ? y : log_positive(u) * (y / (u - 1.0f));
}

/* 1 - exp(-z) for z >= 0, accurate for small z too (Kahan's correction). Written without
 * branches, as is the loop below, so that the compiler vectorises them (lanes whose value is
 * not selected may hold NaN). */
static inline float one_minus_exp_neg(float z) {
    const float u = exp_nonpositive(-z);
    const float small = (1.0f - u) * (z / -log_positive(u));
    return z > 0.5f ? 1.0f - u : (u == 1.0f ? z : small);
}

#define LOG_HALF (-0.69314718055994531f)
#define INV_LN2 1.44269504088896341f

/* Constants of the Laplace rate: see entropy.log_scale_from_raw and MIN_PROBABILITY. */
typedef struct {
    float step, shift, lo, hi, log_min;
} LaplaceConfig;

/* *bits = -log2 P(x) under Laplace(mu, scale) with mu = mu_raw / step (bin units) and
 * scale = exp(-0.5 clamp(scale_raw + shift, lo, hi)) / step; P is floored at exp(log_min).
 * Also the derivatives of the bits by x, mu_raw and scale_raw. Inlined into loops that the
 * compiler vectorises: no branches (lanes whose value is not selected may hold NaN). */
static inline __attribute__((always_inline)) void laplace_point(
    const LaplaceConfig *c, float x, float mu_raw, float scale_raw, float *bits, float *d_x,
    float *d_mu, float *d_scale) {
    const float step = c->step;
    const float v_raw = scale_raw + c->shift;
    const float v = clampf(v_raw, c->lo, c->hi);
    const float half_v = 0.5f * v; /* -log(scale) in real units */
    const float e = exp_nonpositive(half_v <= 0.0f ? half_v : -half_v);
    const float inv_b = step * (half_v <= 0.0f ? e : 1.0f / e);
    const float diff = x - mu_raw / step;
    const float d = diff < 0.0f ? -diff : diff;
    const float sign = diff > 0.0f ? 1.0f : (diff < 0.0f ? -1.0f : 0.0f);
    /* tail: both bin edges on one side of mu */
    const float a = one_minus_exp_neg(inv_b);
    const float tail_log_p = LOG_HALF - (d - 0.5f) * inv_b + log_positive(a);
    const float tail_by_inv_b = -(d - 0.5f) + exp_nonpositive(-inv_b) / a;
    /* central bin: mu inside it */
    const float e1 = exp_nonpositive(-(0.5f + d) * inv_b);
    const float e2 = exp_nonpositive(-(d < 0.5f ? 0.5f - d : 0.0f) * inv_b);
    const float q = -0.5f * (e1 + e2), p = 1.0f + q;
    const float centre_log_p = log1p_accurate(q);
    const float centre_by_d = 0.5f * inv_b * (e1 - e2) / p;
    const float centre_by_inv_b = 0.5f * ((0.5f + d) * e1 + (0.5f - d) * e2) / p;
    const int tail = d >= 0.5f;
    float log_p = tail ? tail_log_p : centre_log_p;
    const int floored = log_p < c->log_min; /* floored probability: no gradient */
    log_p = floored ? c->log_min : log_p;
    const float by_d = floored ? 0.0f : (tail ? -inv_b : centre_by_d);
    const float by_inv_b = floored ? 0.0f : (tail ? tail_by_inv_b : centre_by_inv_b);
    *bits = -log_p * INV_LN2;
    *d_x = -INV_LN2 * by_d * sign;
    *d_mu = INV_LN2 * by_d * sign / step;
    *d_scale = (v_raw >= c->lo && v_raw <= c->hi) ? -INV_LN2 * by_inv_b * 0.5f * inv_b : 0.0f;
}

/* bits[k] and its derivatives d_x[k], d_mu[k], d_scale[k] (see laplace_point) for k < n, with
 * P floored at 2^min_log2. No array may overlap another (restrict: too many pointers for the
 * compiler's run-time overlap checks). */
void c3_laplace_bits(int64_t n, const float *restrict x, const float *restrict mu_raw,
                     const float *restrict scale_raw, float step, float shift, float lo, float hi,
                     float min_log2, float *restrict bits, float *restrict d_x, float *restrict d_mu,
                     float *restrict d_scale) {
    const LaplaceConfig c = {step, shift, lo, hi, min_log2 / INV_LN2};
    for (int64_t k = 0; k < n; k++)
        laplace_point(&c, x[k], mu_raw[k], scale_raw[k], bits + k, d_x + k, d_mu + k, d_scale + k);
}

/* ---------------------------------------------------------------------------------------------
 * The rate of a grid of latents under the ARM, with all its gradients, in one pass: gather the
 * causal context of a block of positions from the grid, run the MLP forward, take the Laplace
 * bits and their derivatives, back-propagate them through the MLP at once (no recomputed
 * forward pass, as the separate MLP kernel must do) and scatter the context gradients back onto
 * the grid. No context or activation array ever goes to memory.
 *
 * Work is split into bands of rows [row0, row1): each band writes its own gradient buffers, so
 * bands can run on different threads and the caller adds them up in a fixed order.
 */

/* Rate of rows [row0, row1) of a (H, W) grid of latents. xp: the grid in real units (bins times
 * step) with `half = context / 2` zero rows above and zero columns on each side: (H + half) x
 * (W + 2 half). bins: the grid in bin units (H x W). widths[0] must be the number of causal
 * neighbours, (context^2 - 1) / 2, in the order of entropy.causal_offsets; widths[depth] 2.
 * Adds the band's bits to *bits (float64, in raster order). Unless grad_xp is NULL, also
 * writes the bits' derivatives by the band's bins into grad_bins (rows row0..row1 of H x W),
 * adds those by xp's rows row0 .. row1 + half - 1 to grad_xp ((row1 - row0 + half) x
 * (W + 2 half)) and the parameter gradients to lanes (as c3_mlp_backward). With `prev` (a
 * video's previous latent frame, or the finer grid downsampled: real units, zero-padded by ph = prev_kernel / 2 on every side:
 * (H + 2 ph) x (W + 2 ph)) the inputs also hold its prev_kernel^2 neighbourhood of each latent
 * (entropy.prev_offsets order, after the causal ones) and the gradients by its rows
 * row0 .. row1 + 2 ph - 1 are added to grad_prev ((row1 - row0 + 2 ph) x (W + 2 ph)).
 * Returns 0, 1 for an unsupported shape or 2 without memory. */
int c3_arm_rate(int depth, const int *widths, const float *params, int context, int H, int W,
                const float *xp, const float *bins, int row0, int row1, float step, float shift,
                float lo, float hi, float min_log2, double *bits, float *grad_xp, float *grad_bins,
                float *lanes, int prev_kernel, const float *prev, float *grad_prev) {
    const int half = context / 2, taps = (context * context - 1) / 2;
    const int ph = prev ? prev_kernel / 2 : 0, prev_taps = prev ? prev_kernel * prev_kernel : 0;
    if (context < 1 || context % 2 == 0 || widths[0] != taps + prev_taps || widths[depth] != 2 || row0 < 0 ||
        row1 > H || row0 > row1 || W < 1 || (prev && (prev_kernel < 1 || prev_kernel % 2 == 0)) ||
        (prev && grad_xp && !grad_prev))
        return 1;
    const int64_t pw = W + 2 * ph;
    int di[MAX_WIDTH], dj[MAX_WIDTH];
    for (int t = 0; t < taps; t++) { /* entropy.causal_offsets */
        di[t] = t < half * context ? t / context - half : 0;
        dj[t] = t < half * context ? t % context - half : t - half * context - half;
    }
    Net net;
    float *g, *g_prev, *w_lanes[MAX_DEPTH], *b_lanes[MAX_DEPTH];
    int error;
    float *scratch = setup_backward(&net, depth, widths, params, grad_xp ? lanes : NULL, &g, &g_prev,
                                    w_lanes, b_lanes, &error);
    if (!scratch) return error;
    const LaplaceConfig c = {step, shift, lo, hi, min_log2 / INV_LN2};
    const int64_t wp = W + 2 * half;
    float x[BLOCK], block_bits[BLOCK], d_x[BLOCK];
    double total = 0.0;
    for (int i = row0; i < row1; i++)
        for (int j0 = 0; j0 < W; j0 += BLOCK) {
            const int count = W - j0 < BLOCK ? W - j0 : BLOCK;
            for (int t = 0; t < taps; t++) {
                float *dst = net.act[0] + t * BLOCK;
                memcpy(dst, xp + (int64_t)(i + half + di[t]) * wp + j0 + half + dj[t], count * sizeof(float));
                memset(dst + count, 0, (BLOCK - count) * sizeof(float));
            }
            for (int t = 0; t < prev_taps; t++) { /* entropy.prev_offsets on the previous plane */
                float *dst = net.act[0] + (taps + t) * BLOCK;
                const int a = t / prev_kernel - ph, b = t % prev_kernel - ph;
                memcpy(dst, prev + (int64_t)(i + ph + a) * pw + j0 + ph + b, count * sizeof(float));
                memset(dst + count, 0, (BLOCK - count) * sizeof(float));
            }
            forward_block(&net);
            const float *mu = net.act[depth], *scale = mu + BLOCK;
            float *g_mu = g, *g_scale = g + BLOCK;
            memcpy(x, bins + (int64_t)i * W + j0, count * sizeof(float));
            memset(x + count, 0, (BLOCK - count) * sizeof(float));
            for (int p = 0; p < BLOCK; p++)
                laplace_point(&c, x[p], mu[p], scale[p], block_bits + p, d_x + p, g_mu + p, g_scale + p);
            memset(g_mu + count, 0, (BLOCK - count) * sizeof(float)); /* padding adds no gradient */
            memset(g_scale + count, 0, (BLOCK - count) * sizeof(float));
            for (int p = 0; p < count; p++) total += block_bits[p];
            if (!grad_xp) continue;
            memcpy(grad_bins + (int64_t)i * W + j0, d_x, count * sizeof(float));
            const float *g_in = backward_block(&net, g, g_prev, w_lanes, b_lanes, 1);
            for (int t = 0; t < taps; t++) {
                float *dst = grad_xp + (int64_t)(i - row0 + half + di[t]) * wp + j0 + half + dj[t];
                const float *src = g_in + t * BLOCK;
                for (int p = 0; p < count; p++) dst[p] += src[p];
            }
            for (int t = 0; t < prev_taps; t++) {
                const int a = t / prev_kernel - ph, b = t % prev_kernel - ph;
                float *dst = grad_prev + (int64_t)(i - row0 + ph + a) * pw + j0 + ph + b;
                const float *src = g_in + (taps + t) * BLOCK;
                for (int p = 0; p < count; p++) dst[p] += src[p];
            }
        }
    *bits += total;
    free(scratch);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Upsampling of a 2-D latent grid (h, w) by exactly 2^e to (H, W) <= (h 2^e, w 2^e), bilinear
 * with F.interpolate's weights (align_corners=False), and its adjoint. Separable: the grid's rows
 * are first interpolated to width W, then output rows are mixed from two of those. Every weight
 * is dyadic; sums are taken in an order fixed by this code.
 */

/* Taps of 1-D linear upsampling by 2^e: output i is (1 - f[i]) x[i0[i]] + f[i] x[i1[i]], with
 * src = (i + 1/2) / 2^e - 1/2 clamped at 0, i0 = floor(src), i1 = min(i0 + 1, n_in - 1) and
 * f = src - i0 (exact in float: dyadic). */
static void linear_taps(int n_in, int e, int n_out, int *i0, int *i1, float *f) {
    const float scale = ldexpf(1.0f, -e);
    for (int i = 0; i < n_out; i++) {
        float src = ((float)i + 0.5f) * scale - 0.5f;
        if (src < 0.0f) src = 0.0f;
        const int lo = (int)src;
        i0[i] = lo;
        i1[i] = lo + (lo < n_in - 1);
        f[i] = src - (float)lo;
    }
}

typedef struct {
    int *r0, *r1, *c0, *c1;
    float *fr, *fc, *rows; /* rows: (h, W), the grid's rows at the output's width */
    void *memory;
} UpsamplePlan;

static int upsample_sizes_valid(int h, int w, int e, int H, int W) {
    return h >= 1 && w >= 1 && e >= 0 && e <= 24 && H >= 1 && W >= 1
           && (int64_t)H <= ((int64_t)h << e) && (int64_t)W <= ((int64_t)w << e);
}

/* Taps and scratch for e >= 1 (sizes already checked). */
static int upsample_plan(int h, int w, int e, int H, int W, UpsamplePlan *plan) {
    char *m = malloc((size_t)(H + W) * (2 * sizeof(int) + sizeof(float)) + (size_t)h * W * sizeof(float));
    if (!m) return 2;
    plan->memory = m;
    plan->rows = (float *)m; m += (size_t)h * W * sizeof(float);
    plan->fr = (float *)m; m += (size_t)H * sizeof(float);
    plan->fc = (float *)m; m += (size_t)W * sizeof(float);
    plan->r0 = (int *)m; m += (size_t)H * sizeof(int);
    plan->r1 = (int *)m; m += (size_t)H * sizeof(int);
    plan->c0 = (int *)m; m += (size_t)W * sizeof(int);
    plan->c1 = (int *)m;
    linear_taps(h, e, H, plan->r0, plan->r1, plan->fr);
    linear_taps(w, e, W, plan->c0, plan->c1, plan->fc);
    return 0;
}

/* out (H, W) = the grid g (h, w) upsampled by 2^e and cropped. Returns 0, 1 for inconsistent
 * sizes, 2 without memory. */
int c3_upsample_forward(int h, int w, int e, int H, int W, const float *restrict g, float *restrict out) {
    if (!upsample_sizes_valid(h, w, e, H, W)) return 1;
    if (e == 0) { /* a crop */
        for (int y = 0; y < H; y++) memcpy(out + (int64_t)y * W, g + (int64_t)y * w, (size_t)W * sizeof(float));
        return 0;
    }
    UpsamplePlan plan;
    if (upsample_plan(h, w, e, H, W, &plan)) return 2;
    for (int r = 0; r < h; r++) {
        const float *src = g + (int64_t)r * w;
        float *dst = plan.rows + (int64_t)r * W;
        for (int x = 0; x < W; x++)
            dst[x] = (1.0f - plan.fc[x]) * src[plan.c0[x]] + plan.fc[x] * src[plan.c1[x]];
    }
    for (int y = 0; y < H; y++) {
        const float *restrict a = plan.rows + (int64_t)plan.r0[y] * W, *restrict b = plan.rows + (int64_t)plan.r1[y] * W;
        const float wa = 1.0f - plan.fr[y], wb = plan.fr[y];
        float *restrict o = out + (int64_t)y * W;
        for (int x = 0; x < W; x++) o[x] = wa * a[x] + wb * b[x];
    }
    free(plan.memory);
    return 0;
}

/* The adjoint: gg (h, w) = the gradient of the grid given gy (H, W), that of the output. */
int c3_upsample_backward(int h, int w, int e, int H, int W, const float *restrict gy, float *restrict gg) {
    if (!upsample_sizes_valid(h, w, e, H, W)) return 1;
    if (e == 0) { /* the adjoint of a crop */
        memset(gg, 0, (size_t)h * w * sizeof(float));
        for (int y = 0; y < H; y++) memcpy(gg + (int64_t)y * w, gy + (int64_t)y * W, (size_t)W * sizeof(float));
        return 0;
    }
    UpsamplePlan plan;
    if (upsample_plan(h, w, e, H, W, &plan)) return 2;
    memset(plan.rows, 0, (size_t)h * W * sizeof(float));
    for (int y = 0; y < H; y++) {
        const float wa = 1.0f - plan.fr[y], wb = plan.fr[y];
        const float *restrict in = gy + (int64_t)y * W;
        float *restrict a = plan.rows + (int64_t)plan.r0[y] * W;
        for (int x = 0; x < W; x++) a[x] += wa * in[x];
        float *restrict b = plan.rows + (int64_t)plan.r1[y] * W;
        for (int x = 0; x < W; x++) b[x] += wb * in[x];
    }
    for (int r = 0; r < h; r++) {
        const float *src = plan.rows + (int64_t)r * W;
        float *dst = gg + (int64_t)r * w;
        memset(dst, 0, (size_t)w * sizeof(float));
        for (int x = 0; x < W; x++) {
            dst[plan.c0[x]] += (1.0f - plan.fc[x]) * src[x];
            dst[plan.c1[x]] += plan.fc[x] * src[x];
        }
    }
    free(plan.memory);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * C3's stage-1 quantisation (fitting.quantize, mode softround_noise) with its derivative, in one
 * pass instead of some twenty elementwise PyTorch operators and their backward passes.
 */

/* tanh(v) through exp: sign(v) (1 - e) / (1 + e) with e = exp(-2 |v|), 1 - e taken accurately. */
static inline float tanh_float(float v) {
    const float om = one_minus_exp_neg(2.0f * (v < 0.0f ? -v : v));
    const float t = om / (2.0f - om);
    return v < 0.0f ? -t : t;
}

/* atanh(t) for |t| < 1: sign(t) 0.5 log1p(2 |t| / (1 - |t|)). */
static inline float atanh_float(float t) {
    const float a = t < 0.0f ? -t : t;
    const float r = 0.5f * log1p_accurate(2.0f * a / (1.0f - a));
    return t < 0.0f ? -r : r;
}

/* The uniform draws of the noise: element `index` of the stream `key` (a counter-based
 * generator, so any chunk of a grid can be drawn on any thread with the same values, and no
 * draws go through memory). Two rounds of a 32-bit integer hash (Wellons' lowbias32, a
 * bijection with near-ideal avalanche), the second keyed again; the top 23 bits give u in
 * (0, 1), at the centres of 2^23 equal bins (exact in float32, so never 0 or 1). Indices
 * repeat after 2^32 elements. */
static inline uint32_t hash32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    return h;
}

static inline float uniform_draw(uint32_t key0, uint32_t key1, uint32_t index) {
    const uint32_t h = hash32(hash32(index ^ key0) + key1);
    return ((float)(int32_t)(h >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

/* u[i] = the draw of element offset + i of stream (key0, key1), for i < n. */
void c3_uniform(int64_t n, uint32_t key0, uint32_t key1, int64_t offset, float *restrict u) {
    for (int64_t i = 0; i < n; i++) u[i] = uniform_draw(key0, key1, (uint32_t)(offset + i));
}

/* y = r_T(s_T(x) + noise) with the noise from uniform u in (0, 1): Kumaraswamy(a, b) minus 1/2,
 * or u - 1/2 when `uniform`; and dy[k] = dy/dx (the noise does not depend on x). u is the
 * draw of element offset + i of stream (key0, key1) for x[i] (see c3_uniform). s_T is the soft
 * rounding m + tanh((x - m) / T) / k with m = floor(x) + 1/2 and k = 2 tanh(1 / (2T)); r_T is
 * its inverse, applied to y - 1/2 and shifted back, with the tanh argument clamped to
 * +-(1 - 1e-6) (no gradient where clamped), as in fitting.quantize. */
void c3_softround_noise(int64_t n, const float *restrict x, uint32_t key0, uint32_t key1, int64_t offset,
                        float T, float k, float inv_a, float inv_b, int uniform, float *restrict y,
                        float *restrict dy) {
    const float edge = 1.0f - 1e-6f;
    for (int64_t i = 0; i < n; i++) {
        const float u = uniform_draw(key0, key1, (uint32_t)(offset + i));
        const float m = floorf(x[i]) + 0.5f;
        const float th = tanh_float((x[i] - m) / T);
        const float s = m + th / k;
        const float w = 1.0f - exp_nonpositive(log_positive(1.0f - u) * inv_b);
        const float kuma = w > 0.0f ? exp_nonpositive(log_positive(w > 0.0f ? w : 1.0f) * inv_a) : 0.0f;
        const float z = s + ((uniform ? u : kuma) - 0.5f) - 0.5f;
        const float m2 = floorf(z) + 0.5f;
        const float t_raw = (z - m2) * k;
        const float t = clampf(t_raw, -edge, edge);
        y[i] = m2 + T * atanh_float(t) + 0.5f;
        dy[i] = (t_raw >= -edge && t_raw <= edge) ? (1.0f - th * th) / (1.0f - t * t) : 0.0f;
    }
}
