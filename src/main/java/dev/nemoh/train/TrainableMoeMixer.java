package dev.nemoh.train;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.Vec;
import dev.nemoh.model.ExpertDispatch;
import dev.nemoh.model.MoeMixer;
import dev.nemoh.model.TopkRouter;

/**
 * Training form of {@link MoeMixer}, with its router and dispatch. The choice of experts (biased by the correction
 * bias) has no gradient; the chosen experts' weights do, through the sigmoid scores and their normalisation, into
 * the gate.
 */
final class TrainableMoeMixer implements TrainableMixer {
    final Projection gate;
    final TopkRouter router;
    final TrainableMlpMixer[] experts;
    final TrainableMlpMixer sharedExpert;
    final Projection latentIn, latentOut;

    private float[] logits;
    private ExpertDispatch dispatch;
    private float[][] expertOut;
    private int width;

    TrainableMoeMixer(NemotronHConfig c, Projection gate, float[] correctionBias, TrainableMlpMixer[] experts,
                      TrainableMlpMixer sharedExpert, Projection latentIn, Projection latentOut) {
        this.gate = gate;
        this.router = new TopkRouter(c, correctionBias);
        this.experts = experts;
        this.sharedExpert = sharedExpert;
        this.latentIn = latentIn;
        this.latentOut = latentOut;
    }

    @Override
    public float[] forward(float[] x, int len) {
        logits = gate.forward(x, len);
        dispatch = ExpertDispatch.of(router.forward(logits, len), experts.length);
        float[] expertIn = latentIn != null ? latentIn.forward(x, len) : x;
        width = expertIn.length / len;
        expertOut = new float[experts.length][];
        float[] routed = dispatch.combine(expertIn, width, (e, rows, n) -> experts[e].forward(rows, n), expertOut);
        float[] y = latentOut != null ? latentOut.forward(routed, len) : routed;
        Vec.add(y, sharedExpert.forward(x, len), y.length);
        return y;
    }

    @Override
    public float[] backward(float[] dy, int len) {
        float[] dRouted = latentOut != null ? latentOut.backward(dy, len) : dy;
        float[] dx = sharedExpert.backward(dy, len);
        float[] dExpertIn = new float[len * width];
        float[] dWeights = new float[dispatch.token().length]; // [len, k]
        for (int e = 0; e < experts.length; e++) {
            if (dispatch.hits(e) == 0) continue;
            dispatch.weightGradients(e, dRouted, expertOut[e], width, dWeights);
            float[] dIn = experts[e].backward(dispatch.gather(e, dRouted, width, true), dispatch.hits(e));
            dispatch.scatterAdd(e, dIn, width, false, dExpertIn);
        }
        Vec.add(dx, latentIn != null ? latentIn.backward(dExpertIn, len) : dExpertIn, dx.length);
        Vec.add(dx, gate.backward(router.backward(logits, dispatch.routes(), dWeights, len), len), dx.length);
        return dx;
    }
}
