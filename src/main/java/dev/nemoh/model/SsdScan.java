package dev.nemoh.model;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.Parallel;
import dev.nemoh.kernels.Vec;

/**
 * The SSD chunked scan of Mamba-2 (state-space duality) and its gradient. Per head, with x already split from xBC:
 * {@code S_t = exp(dt_t·A)·S_{t-1} + dt_t·x_t⊗B_t} and {@code y_t = S_t·C_t + D·x_t}. Within a chunk, outputs come
 * from an attention-like quadratic form with decay {@code exp(cum[t] - cum[s])}; across chunks, a state
 * [headDim, state] carries the past. A shorter last chunk is exact: no padding is needed.
 */
public final class SsdScan {
    final int heads, headDim, n, groups, inner, convDim, chunk;

    public SsdScan(NemotronHConfig c) {
        this.heads = c.mambaNumHeads;
        this.headDim = c.mambaHeadDim;
        this.n = c.ssmStateSize;
        this.groups = c.nGroups;
        this.inner = c.mambaIntermediateSize();
        this.convDim = c.convDim();
        this.chunk = c.chunkSize;
    }

    /** Floats of one layer's SSM state (all heads). */
    public int stateSize() {
        return heads * headDim * n;
    }

    public int chunks(int len) {
        return (len + chunk - 1) / chunk;
    }

    /**
     * One token, the recurrent form of {@link #forward}: {@code S = exp(dt·A)·S + dt·x⊗B; y = S·C + D·x} per head,
     * xBC [convDim], dt [heads], y [inner], the state {@code ssm} advanced in place.
     */
    public void step(float[] xBC, float[] dt, float[] a, float[] d, float[] ssm, float[] y) {
        int headsPerGroup = heads / groups;
        Parallel.forEach(heads, (long) headDim * n * 3, h -> {
            int g = h / headsPerGroup;
            int bOff = inner + g * n;
            int cOff = inner + groups * n + g * n;
            float dth = dt[h];
            float decay = (float) Math.exp(dth * a[h]);
            for (int p = 0; p < headDim; p++) {
                float x = xBC[h * headDim + p];
                int s = (h * headDim + p) * n;
                Vec.scale(decay, ssm, s, n);
                Vec.axpy(dth * x, xBC, bOff, ssm, s, n);
                y[h * headDim + p] = Vec.dot(ssm, s, xBC, cOff, n) + d[h] * x;
            }
        });
    }

    /**
     * y [len, inner] from xBC [len, convDim] (x | B | C, after conv and SiLU) and dt [len, heads]. Starts from and
     * leaves the final state in {@code ssm}. When {@code chunkStarts} is not null it receives the state entering each
     * chunk ([chunks, heads·headDim·state]), which is what {@link #backward} needs.
     */
    public void forward(float[] xBC, float[] dt, float[] a, float[] d, int len, float[] ssm, float[] y,
                        float[] chunkStarts) {
        int headsPerGroup = heads / groups;
        float[] cb = new float[groups * chunk * chunk];
        for (int c0 = 0; c0 < len; c0 += chunk) {
            final int start = c0;
            final int T = Math.min(chunk, len - c0);
            if (chunkStarts != null) System.arraycopy(ssm, 0, chunkStarts, c0 / chunk * stateSize(), stateSize());
            // C_t · B_s for every pair in the chunk, shared by the heads of a group
            Parallel.forEach(groups, (long) T * T * n, g -> {
                int bOff = inner + g * n;
                int cOff = inner + groups * n + g * n;
                for (int t = 0; t < T; t++) {
                    for (int s = 0; s <= t; s++) {
                        cb[(g * chunk + t) * chunk + s] = Vec.dot(xBC, (start + t) * convDim + cOff, xBC, (start + s) * convDim + bOff, n);
                    }
                }
            });
            Parallel.forEach(heads, (long) T * (T + 2 * n) * headDim, h -> {
                int g = h / headsPerGroup;
                int bOff = inner + g * n;
                int cOff = inner + groups * n + g * n;
                int xOff = h * headDim;
                float[] cum = cumulativeDecay(a[h], dt, start, T, h);
                int sBase = h * headDim * n;
                float[] row = new float[headDim];
                for (int t = 0; t < T; t++) {
                    int xt = (start + t) * convDim;
                    float decayIn = (float) Math.exp(cum[t]);
                    for (int p = 0; p < headDim; p++) {
                        row[p] = decayIn * Vec.dot(ssm, sBase + p * n, xBC, xt + cOff, n);
                    }
                    for (int s = 0; s <= t; s++) {
                        float w = (float) Math.exp(cum[t] - cum[s]) * cb[(g * chunk + t) * chunk + s] * dt[(start + s) * heads + h];
                        Vec.axpy(w, xBC, (start + s) * convDim + xOff, row, 0, headDim);
                    }
                    int yOff = (start + t) * inner + xOff;
                    for (int p = 0; p < headDim; p++) y[yOff + p] = row[p] + d[h] * xBC[xt + xOff + p];
                }
                float decayOut = (float) Math.exp(cum[T - 1]);
                for (int p = 0; p < headDim; p++) Vec.scale(decayOut, ssm, sBase + p * n, n);
                for (int s = 0; s < T; s++) {
                    int xs = (start + s) * convDim;
                    float w = (float) Math.exp(cum[T - 1] - cum[s]) * dt[(start + s) * heads + h];
                    for (int p = 0; p < headDim; p++) {
                        Vec.axpy(w * xBC[xs + xOff + p], xBC, xs + bOff, ssm, sBase + p * n, n);
                    }
                }
            });
        }
    }

    /** {@code cum[t] = A · Σ_{s ≤ t} dt_s} over one chunk of one head: the log of the decay since the chunk began. */
    private float[] cumulativeDecay(float a, float[] dt, int start, int T, int h) {
        float[] cum = new float[T];
        float acc = 0;
        for (int t = 0; t < T; t++) {
            acc += a * dt[(start + t) * heads + h];
            cum[t] = acc;
        }
        return cum;
    }

    /**
     * Gradient of {@link #forward} from a zero initial state, chunk by chunk from the last, carrying dL/dS of each
     * chunk's entering state backwards. Adds into dxBC [len, convDim], dDt [len, heads], dA and dD [heads]. The
     * group's heads share B and C, so the work splits by group.
     */
    public void backward(float[] dy, float[] xBC, float[] dt, float[] a, float[] d, int len, float[] chunkStarts,
                         float[] dxBC, float[] dDt, float[] dA, float[] dD) {
        int headsPerGroup = heads / groups;
        int chunks = chunks(len);
        Parallel.forEach(groups, (long) len * chunk * n * headDim * headsPerGroup, g -> {
            int bOff = inner + g * n;
            int cOff = inner + groups * n + g * n;
            for (int h = g * headsPerGroup; h < (g + 1) * headsPerGroup; h++) {
                int xOff = h * headDim;
                int sBase = h * headDim * n;
                float[] dState = new float[headDim * n]; // dL/d(state leaving the current chunk)
                float[] dStart = new float[headDim * n];
                for (int c = chunks - 1; c >= 0; c--) {
                    int start = c * chunk;
                    int T = Math.min(chunk, len - start);
                    float[] cum = cumulativeDecay(a[h], dt, start, T, h);
                    float[] dCum = new float[T];
                    int s0 = c * stateSize() + sBase;
                    java.util.Arrays.fill(dStart, 0f);
                    for (int t = 0; t < T; t++) {
                        int yt = (start + t) * inner + xOff;
                        int xt = (start + t) * convDim;
                        // the entering state's part of y_t: exp(cum_t) · S0 · C_t
                        float decayIn = (float) Math.exp(cum[t]);
                        for (int p = 0; p < headDim; p++) {
                            float g0 = dy[yt + p] * decayIn;
                            dCum[t] += g0 * Vec.dot(chunkStarts, s0 + p * n, xBC, xt + cOff, n);
                            Vec.axpy(g0, chunkStarts, s0 + p * n, dxBC, xt + cOff, n);
                            Vec.axpy(g0, xBC, xt + cOff, dStart, p * n, n);
                        }
                        // the chunk's own inputs: Σ_s exp(cum_t − cum_s) (C_t·B_s) dt_s x_s
                        for (int s = 0; s <= t; s++) {
                            int xs = (start + s) * convDim;
                            float dts = dt[(start + s) * heads + h];
                            float decay = (float) Math.exp(cum[t] - cum[s]);
                            float cb = Vec.dot(xBC, xt + cOff, xBC, xs + bOff, n);
                            float dyx = Vec.dot(dy, yt, xBC, xs + xOff, headDim);
                            float w = decay * cb * dts;
                            Vec.axpy(w, dy, yt, dxBC, xs + xOff, headDim);
                            float dCb = dyx * decay * dts;
                            Vec.axpy(dCb, xBC, xs + bOff, dxBC, xt + cOff, n);
                            Vec.axpy(dCb, xBC, xt + cOff, dxBC, xs + bOff, n);
                            dDt[(start + s) * heads + h] += dyx * decay * cb;
                            dCum[t] += dyx * w;
                            dCum[s] -= dyx * w;
                        }
                        // D skip
                        dD[h] += Vec.dot(dy, yt, xBC, xt + xOff, headDim);
                        Vec.axpy(d[h], dy, yt, dxBC, xt + xOff, headDim);
                    }
                    // the leaving state: exp(cum_last) · S0 + Σ_s exp(cum_last − cum_s) dt_s x_s ⊗ B_s
                    float decayOut = (float) Math.exp(cum[T - 1]);
                    float[] u = new float[headDim];
                    for (int s = 0; s < T; s++) {
                        int xs = (start + s) * convDim;
                        float dts = dt[(start + s) * heads + h];
                        float decay = (float) Math.exp(cum[T - 1] - cum[s]);
                        float xu = 0;
                        for (int p = 0; p < headDim; p++) {
                            u[p] = Vec.dot(dState, p * n, xBC, xs + bOff, n);
                            xu += xBC[xs + xOff + p] * u[p];
                            Vec.axpy(decay * dts * xBC[xs + xOff + p], dState, p * n, dxBC, xs + bOff, n);
                        }
                        Vec.axpy(decay * dts, u, 0, dxBC, xs + xOff, headDim);
                        dDt[(start + s) * heads + h] += decay * xu;
                        dCum[T - 1] += decay * dts * xu;
                        dCum[s] -= decay * dts * xu;
                    }
                    dCum[T - 1] += decayOut * Vec.dot(dState, 0, chunkStarts, s0, headDim * n);
                    Vec.axpy(decayOut, dState, 0, dStart, 0, headDim * n);
                    // cum is a running sum of A·dt
                    float acc = 0;
                    for (int t = T - 1; t >= 0; t--) {
                        acc += dCum[t];
                        dDt[(start + t) * heads + h] += a[h] * acc;
                        dA[h] += dt[(start + t) * heads + h] * acc;
                    }
                    float[] swap = dState;
                    dState = dStart;
                    dStart = swap;
                }
            }
        });
    }
}
