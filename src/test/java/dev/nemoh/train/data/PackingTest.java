package dev.nemoh.train.data;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PackingTest {
    private static SftExample example(int first, int length) {
        int[] ids = new int[length];
        for (int i = 0; i < length; i++) ids[i] = first + i;
        int[] labels = ids.clone();
        labels[0] = SftExample.IGNORE;
        return new SftExample(ids, labels);
    }

    @Test
    void packsEndToEndIntoFixedRows() {
        List<SftExample> rows = Packing.pack(List.of(example(10, 5), example(20, 7)), 4);
        assertEquals(3, rows.size());
        assertArrayEquals(new int[]{10, 11, 12, 13}, rows.get(0).ids());
        assertArrayEquals(new int[]{14, 20, 21, 22}, rows.get(1).ids());
        assertArrayEquals(new int[]{14, -100, 21, 22}, rows.get(1).labels()); // the second example's prompt token
        assertArrayEquals(new int[]{23, 24, 25, 26}, rows.get(2).ids());
        assertEquals(2, rows.get(1).targets()); // row starts are not predicted by anything
    }

    @Test
    void microBatchesPadOnTheRightWithIgnoredLabels() {
        MicroBatch b = MicroBatch.of(List.of(example(1, 3), example(5, 5)));
        assertArrayEquals(new int[]{1, 2, 3, 0, 0}, b.ids()[0]);
        assertArrayEquals(new int[]{-100, 2, 3, -100, -100}, b.labels()[0]);
        assertEquals(8, b.tokens());
        assertEquals(6, b.targets());
    }

    @Test
    void everyEpochVisitsEveryRowOnceInItsOwnOrder() {
        List<SftExample> rows = new ArrayList<>();
        for (int i = 0; i < 10; i++) rows.add(example(i * 100, 2));
        StepPlan plan = new StepPlan(rows, 2, 2, 5);
        assertEquals(3, plan.stepsPerEpoch()); // 4 + 4 + 2 rows
        List<Integer> epoch0 = new ArrayList<>(), epoch1 = new ArrayList<>();
        for (int step = 0; step < 6; step++) {
            for (MicroBatch b : plan.step(step)) {
                for (int[] r : b.ids()) (step < 3 ? epoch0 : epoch1).add(r[0]);
            }
        }
        assertEquals(10, new HashSet<>(epoch0).size());
        assertEquals(Set.copyOf(epoch0), Set.copyOf(epoch1));
        assertNotEquals(epoch0, epoch1);
        assertEquals(2, plan.step(2).size() + plan.step(2).getFirst().ids().length - 1); // one micro-batch of 2
        assertArrayEquals(plan.step(4).getFirst().ids()[0], new StepPlan(rows, 2, 2, 5).step(4).getFirst().ids()[0]);
    }

    @Test
    void heldOutSplitIsDisjointAndSeeded() {
        List<SftExample> all = new ArrayList<>();
        for (int i = 0; i < 10; i++) all.add(example(i * 100, 2));
        HeldOut split = HeldOut.split(all, 0.2, 3);
        assertEquals(8, split.train().size());
        assertEquals(2, split.eval().size());
        Set<SftExample> union = new HashSet<>(split.train());
        union.addAll(split.eval());
        assertEquals(10, union.size());
        assertEquals(split, HeldOut.split(all, 0.2, 3));
        assertEquals(1, HeldOut.split(all, 0.01, 3).eval().size());
        assertThrows(IllegalArgumentException.class, () -> HeldOut.split(all.subList(0, 1), 0.5, 3));
    }
}
