package dev.nemoh.train.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/** Examples split into a training set and a held-out evaluation set. */
public record HeldOut(List<SftExample> train, List<SftExample> eval) {
    /**
     * Shuffles {@code examples} with {@code seed} (java.util.Random, whose sequence the JDK specifies, so a seed
     * splits the same way everywhere) and holds out the last {@code fraction} of them, at least one when the
     * fraction is positive and always leaving one to train on.
     */
    public static HeldOut split(List<SftExample> examples, double fraction, long seed) {
        if (!(fraction >= 0 && fraction < 1)) {
            throw new IllegalArgumentException("--eval-fraction must lie in [0, 1), got " + fraction);
        }
        List<SftExample> shuffled = new ArrayList<>(examples);
        Collections.shuffle(shuffled, new Random(seed));
        int eval = fraction == 0 ? 0 : (int) Math.max(1, Math.round(fraction * shuffled.size()));
        if (eval >= shuffled.size()) {
            throw new IllegalArgumentException("--eval-fraction " + fraction + " of " + examples.size()
                    + " examples leaves none to train on: add data or lower the fraction");
        }
        int cut = shuffled.size() - eval;
        return new HeldOut(List.copyOf(shuffled.subList(0, cut)), List.copyOf(shuffled.subList(cut, shuffled.size())));
    }
}
