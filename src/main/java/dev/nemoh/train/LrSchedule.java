package dev.nemoh.train;

import java.util.Locale;

/**
 * Learning rate per optimizer step: a linear warmup from 0, then constant, linear decay to 0, or a half cosine to 0
 * at {@code totalSteps}. The multipliers are those of transformers' {@code get_constant_schedule_with_warmup},
 * {@code get_linear_schedule_with_warmup} and {@code get_cosine_schedule_with_warmup} (half a cycle), and step k
 * (counted from 0) trains with {@code peak * multiplier(k)} as the HF Trainer does — so with warmup the first step's
 * rate is 0. With a {@code minimum} (Megatron's {@code --min-lr}) the decay after warmup runs from peak to it instead
 * of to 0: {@code minimum + (peak - minimum) * multiplier(k)}.
 */
public record LrSchedule(Kind kind, double peak, int warmupSteps, int totalSteps, double minimum) {
    public enum Kind {
        CONSTANT, LINEAR, COSINE;

        /** The kind named {@code name} (any case), or an error listing the kinds there are. */
        public static Kind parse(String name) {
            for (Kind k : values()) {
                if (k.name().equalsIgnoreCase(name)) return k;
            }
            throw new IllegalArgumentException("unknown schedule '" + name + "': use constant, linear or cosine");
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public LrSchedule {
        if (!(peak > 0)) throw new IllegalArgumentException("learning rate must be positive, got " + peak);
        if (!(minimum >= 0 && minimum <= peak)) {
            throw new IllegalArgumentException("the minimum learning rate must be in [0, " + peak + "], got " + minimum);
        }
        if (warmupSteps < 0) throw new IllegalArgumentException("warmup steps must be >= 0, got " + warmupSteps);
        if (totalSteps < 1) throw new IllegalArgumentException("training needs at least one step, got " + totalSteps);
    }

    /** A schedule that decays to 0. */
    public LrSchedule(Kind kind, double peak, int warmupSteps, int totalSteps) {
        this(kind, peak, warmupSteps, totalSteps, 0);
    }

    /** The learning rate of step {@code step} (0-based). */
    public double lr(int step) {
        if (step < warmupSteps || minimum == 0) return peak * multiplier(step);
        return minimum + (peak - minimum) * multiplier(step);
    }

    private double multiplier(int step) {
        if (step < warmupSteps) return (double) step / Math.max(1, warmupSteps);
        double afterWarmup = Math.max(1, totalSteps - warmupSteps);
        return switch (kind) {
            case CONSTANT -> 1.0;
            case LINEAR -> Math.max(0.0, (totalSteps - step) / afterWarmup);
            case COSINE -> Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * (step - warmupSteps) / afterWarmup)));
        };
    }
}
