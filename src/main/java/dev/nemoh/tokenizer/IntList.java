package dev.nemoh.tokenizer;

import java.util.Arrays;

/** A growable list of ints. */
final class IntList {
    private int[] a;
    private int n;

    IntList(int cap) {
        a = new int[Math.max(cap, 8)];
    }

    void add(int v) {
        if (n == a.length) a = Arrays.copyOf(a, n * 2);
        a[n++] = v;
    }

    void addAll(int[] vs) {
        if (n + vs.length > a.length) a = Arrays.copyOf(a, Math.max(n * 2, n + vs.length));
        System.arraycopy(vs, 0, a, n, vs.length);
        n += vs.length;
    }

    int size() {
        return n;
    }

    /** The last value; the list must not be empty. */
    int last() {
        return a[n - 1];
    }

    int[] toArray() {
        return Arrays.copyOf(a, n);
    }
}
