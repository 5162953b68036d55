package dev.nemoh.cuda;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The host side of a cuda MoE prompt, which needs no GPU: grouping each token's chosen experts by expert. */
class CudaMoeDispatchTest {
    @Test
    void hitsAreGroupedByExpertWithTokensAscending() {
        // 3 tokens, top-2 of 4 experts; expert 3 is never chosen
        int[] chosen = {2, 0, 1, 2, 2, 1};
        CudaMoeMixer.Dispatch plan = CudaMoeMixer.Dispatch.of(chosen, 4, 2);
        assertArrayEquals(new int[] {0, 1, 3, 6, 6}, plan.start());
        assertArrayEquals(new int[] {0, 1, 2, 0, 1, 2, /* hit of each pair: */ 3, 0, 1, 4, 5, 2}, plan.index());
    }

    @Test
    void everyPairHasOneHitOfItsExpertAndToken() {
        SplittableRandom random = new SplittableRandom(3);
        int experts = 16, topK = 4, tokens = 50, pairs = tokens * topK;
        int[] chosen = new int[pairs];
        for (int t = 0; t < tokens; t++) {
            int[] order = random.ints(0, experts).distinct().limit(topK).toArray();
            System.arraycopy(order, 0, chosen, t * topK, topK);
        }
        CudaMoeMixer.Dispatch plan = CudaMoeMixer.Dispatch.of(chosen, experts, topK);
        int[] start = plan.start(), index = plan.index();
        assertEquals(pairs, start[experts]);
        boolean[] used = new boolean[pairs];
        for (int p = 0; p < pairs; p++) {
            int hit = index[pairs + p], e = chosen[p];
            assertTrue(hit >= start[e] && hit < start[e + 1], "pair " + p + " lies outside expert " + e + "'s hits");
            assertEquals(p / topK, index[hit], "token of pair " + p);
            assertTrue(!used[hit], "hit " + hit + " serves two pairs");
            used[hit] = true;
        }
        for (int e = 0; e < experts; e++) {
            for (int hit = start[e] + 1; hit < start[e + 1]; hit++) {
                assertTrue(index[hit - 1] < index[hit], "expert " + e + "'s tokens are not ascending");
            }
        }
    }
}
