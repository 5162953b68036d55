package dev.nemoh.generate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The JSON a response may be, as a pushdown automaton over bytes: {@link JsonSchema} compiles a schema into it, and
 * {@link TokenMask} walks it over the vocabulary's token bytes. The text is compact JSON (no whitespace between
 * tokens), properties in the schema's order, strings of any UTF-8 text with the escapes {@code \" \\ \/ \b \f \n \r
 * \t} (no {@code \\u}).
 *
 * <p>A matcher state is an {@code int[]} of {@link #STATE_INTS}: {@code [0]} the stack depth, then one frame of
 * {@link #FRAME} ints (node, phase, a, b, c) per open value, innermost last. {@link #advance} feeds it one byte in
 * place; {@link #minClose} is the fewest bytes that complete the value from there, so a caller that must finish
 * within a budget can refuse bytes that would not leave room to close.
 */
public final class JsonGrammar {
    /** Ints per frame: node id, phase, and three values whose meaning depends on the node kind. */
    static final int FRAME = 5;
    /**
     * Most values open at once. {@link JsonSchema} refuses schemas that nest deeper; in json_object mode an object or
     * array in the last place can only be empty (it has no room for a key or an item).
     */
    static final int MAX_DEPTH = 48;
    /** Length of a matcher state. */
    public static final int STATE_INTS = 1 + FRAME * MAX_DEPTH;

    /** A grammar rule; {@code minLen} is the length of its shortest text. */
    sealed interface Node permits Obj, FreeObj, Arr, Str, Num, Literals, Keyed, Union {
        int minLen();
    }

    /**
     * An object with declared properties in order: {@code keys[j]} is {@code "name":} as bytes, {@code values[j]}
     * the node of its value; candidates[i] is the bit set of properties that may come next when property i is the
     * first not yet passed (i up to the next required one); {@code rest[i]} is the fewest bytes the required
     * properties from i on need, a comma each.
     */
    record Obj(byte[][] keys, int[] values, int[] candidates, int[] rest, int minLen) implements Node {}

    /** An object of any keys whose values follow {@code value}. */
    record FreeObj(int value, int minLen) implements Node {}

    /** An array of {@code items}, between minItems and maxItems (-1: unbounded) of them. */
    record Arr(int items, int minItems, int maxItems, int minLen) implements Node {}

    /** Any string. */
    record Str(int minLen) implements Node {}

    /** A number, or only an integer (no fraction, no exponent). */
    record Num(boolean integer, int minLen) implements Node {}

    /** One of fixed texts (enum, const, true/false, null), sorted as unsigned bytes. */
    record Literals(byte[][] sorted, int minLen) implements Node {}

    /**
     * One of fixed opening texts (sorted as unsigned bytes, none a prefix of another), then the value that opening
     * selects ({@code values[i]} for {@code openings[i]}), then the fixed {@code closing} text: a tool call
     * {@code {"name":"f","arguments":} + f's arguments + <code>}</code>.
     */
    record Keyed(byte[][] openings, int[] values, byte[] closing, int minLen) implements Node {}

    /** One of several nodes, told apart by their first byte. */
    record Union(int[] byFirstByte, int minLen) implements Node {}

    private final List<Node> nodes;
    private final int root;

    JsonGrammar(List<Node> nodes, int root) {
        this.nodes = List.copyOf(nodes);
        this.root = root;
    }

    /** {@code {"type": "json_object"}}: any JSON object. */
    public static JsonGrammar anyObject() {
        Builder b = new Builder();
        return new JsonGrammar(b.nodes, b.add(new FreeObj(b.anyValue(), 2)));
    }

    Node node(int id) {
        return nodes.get(id);
    }

    /** A fresh state, before the first byte. */
    public int[] start() {
        int[] s = new int[STATE_INTS];
        push(s, root);
        return s;
    }

    /** Whether the value is complete and nothing may follow. */
    public static boolean finished(int[] s) {
        return s[0] == 0;
    }

    /** Whether the text so far is a whole value (it may still go on, as a number may). */
    public boolean accepting(int[] s) {
        if (s[0] == 0) return true;
        if (s[0] > 1) return false;
        return completeHere(s, 1);
    }

    /** Whether the frame at {@code f} is a whole value that a following byte may end. */
    private boolean completeHere(int[] s, int f) {
        return switch (node(s[f])) {
            case Num n -> switch (s[f + 1]) { case 2, 3, 5, 8 -> true; default -> false; };
            case Literals l -> l.sorted[s[f + 2]].length == s[f + 4];
            default -> false;
        };
    }

    // ---- stepping -------------------------------------------------------------------------------------------------

    private static final int REJECT = 0, CONSUMED = 1, DONE = 2, POP_RETRY = 3, RETRY = 4;

    /** Feeds byte {@code b} (0..255) to state {@code s} in place; false if the grammar refuses it (s is then spoilt). */
    public boolean advance(int[] s, int b) {
        while (true) {
            int depth = s[0];
            if (depth == 0) return false;
            int f = 1 + (depth - 1) * FRAME;
            switch (step(s, f, b)) {
                case CONSUMED -> {
                    return true;
                }
                case DONE -> {
                    s[0]--;
                    if (s[0] > 0) childDone(s, f - FRAME);
                    return true;
                }
                case POP_RETRY -> {
                    s[0]--;
                    if (s[0] == 0) return false;
                    childDone(s, f - FRAME);
                }
                case RETRY -> {
                }
                default -> {
                    return false;
                }
            }
        }
    }

    /** Opens a value of {@code node} on top of the stack; false when the stack is full. */
    private boolean push(int[] s, int node) {
        if (s[0] == MAX_DEPTH) return false;
        int f = 1 + s[0] * FRAME;
        s[0]++;
        init(s, f, node);
        return true;
    }

    private void init(int[] s, int f, int node) {
        s[f] = node;
        s[f + 1] = 0;
        s[f + 2] = 0;
        s[f + 3] = switch (node(node)) {
            case Literals l -> l.sorted.length;
            case Keyed k -> k.openings.length;
            default -> 0;
        };
        s[f + 4] = 0;
    }

    private int step(int[] s, int f, int b) {
        int phase = s[f + 1];
        switch (node(s[f])) {
            case Union u -> {
                int m = u.byFirstByte[b];
                if (m < 0) return REJECT;
                init(s, f, m);
                return RETRY;
            }
            case Str str -> {
                return stepString(s, f, phase, b);
            }
            case Num n -> {
                return stepNumber(s, f, phase, b, n.integer);
            }
            case Literals l -> {
                byte[][] lit = l.sorted;
                int lo = s[f + 2], hi = s[f + 3], pos = s[f + 4];
                int nlo = -1, nhi = -1;
                for (int i = lo; i < hi; i++) {
                    if (lit[i].length > pos && (lit[i][pos] & 0xFF) == b) {
                        if (nlo < 0) nlo = i;
                        nhi = i + 1;
                    }
                }
                if (nlo < 0) return lit[lo].length == pos ? POP_RETRY : REJECT;
                s[f + 2] = nlo;
                s[f + 3] = nhi;
                s[f + 4] = pos + 1;
                return nhi - nlo == 1 && lit[nlo].length == pos + 1 ? DONE : CONSUMED;
            }
            case Keyed k -> {
                return stepKeyed(s, f, phase, b, k);
            }
            case Arr a -> {
                switch (phase) {
                    case 0 -> {
                        if (b != '[') return REJECT;
                        s[f + 1] = 1;
                        return CONSUMED;
                    }
                    case 1 -> {
                        if (b == ']' && a.minItems == 0) return DONE;
                        if (a.maxItems == 0) return REJECT;
                        s[f + 1] = 2;
                        return push(s, a.items) ? RETRY : REJECT;
                    }
                    case 3 -> {
                        if (b == ',' && (a.maxItems < 0 || s[f + 2] < a.maxItems)) {
                            s[f + 1] = 4;
                            return CONSUMED;
                        }
                        return b == ']' && s[f + 2] >= a.minItems ? DONE : REJECT;
                    }
                    case 4 -> {
                        s[f + 1] = 2;
                        return push(s, a.items) ? RETRY : REJECT;
                    }
                    default -> {
                        return REJECT;
                    }
                }
            }
            case Obj o -> {
                switch (phase) {
                    case 0 -> {
                        if (b != '{') return REJECT;
                        s[f + 1] = 1;
                        return CONSUMED;
                    }
                    case 1, 6 -> {
                        int next = s[f + 2];
                        if (phase == 1 && b == '}' && o.rest[0] == 0) return DONE;
                        if (b != '"' || next >= o.keys.length) return REJECT;
                        s[f + 1] = 2;
                        s[f + 3] = o.candidates[next];
                        s[f + 4] = 1;
                        return CONSUMED;
                    }
                    case 2 -> {
                        int cand = s[f + 3], pos = s[f + 4], kept = 0;
                        for (int m = cand; m != 0; m &= m - 1) {
                            int j = Integer.numberOfTrailingZeros(m);
                            if (o.keys[j].length > pos && (o.keys[j][pos] & 0xFF) == b) kept |= 1 << j;
                        }
                        if (kept == 0) return REJECT;
                        s[f + 3] = kept;
                        s[f + 4] = pos + 1;
                        int j = Integer.numberOfTrailingZeros(kept);
                        if (Integer.bitCount(kept) == 1 && o.keys[j].length == pos + 1) {
                            s[f + 1] = 4;
                            s[f + 2] = j + 1;
                            return push(s, o.values[j]) ? CONSUMED : REJECT;
                        }
                        return CONSUMED;
                    }
                    case 5 -> {
                        int next = s[f + 2];
                        if (b == ',' && next < o.keys.length) {
                            s[f + 1] = 6;
                            return CONSUMED;
                        }
                        return b == '}' && o.rest[next] == 0 ? DONE : REJECT;
                    }
                    default -> {
                        return REJECT;
                    }
                }
            }
            case FreeObj o -> {
                switch (phase) {
                    case 0 -> {
                        if (b != '{') return REJECT;
                        s[f + 1] = 1;
                        return CONSUMED;
                    }
                    case 1, 6 -> {
                        if (phase == 1 && b == '}') return DONE;
                        if (b != '"') return REJECT;
                        s[f + 1] = 2;
                        return push(s, Builder.STRING) ? RETRY : REJECT;
                    }
                    case 3 -> {
                        if (b != ':') return REJECT;
                        s[f + 1] = 4;
                        return push(s, o.value) ? CONSUMED : REJECT;
                    }
                    case 5 -> {
                        if (b == '}') return DONE;
                        if (b != ',') return REJECT;
                        s[f + 1] = 6;
                        return CONSUMED;
                    }
                    default -> {
                        return REJECT;
                    }
                }
            }
        }
    }

    /**
     * Phases: 0 in the opening ({@code [f+2], [f+3]} the range of openings still possible, {@code [f+4]} the bytes
     * read), 1 in the value, 2 in the closing ({@code [f+4]} its bytes read).
     */
    private int stepKeyed(int[] s, int f, int phase, int b, Keyed k) {
        if (phase == 2) {
            int pos = s[f + 4];
            if ((k.closing[pos] & 0xFF) != b) return REJECT;
            s[f + 4] = pos + 1;
            return pos + 1 == k.closing.length ? DONE : CONSUMED;
        }
        if (phase != 0) return REJECT;
        byte[][] open = k.openings;
        int lo = s[f + 2], hi = s[f + 3], pos = s[f + 4];
        int nlo = -1, nhi = -1;
        for (int i = lo; i < hi; i++) {
            if (open[i].length > pos && (open[i][pos] & 0xFF) == b) {
                if (nlo < 0) nlo = i;
                nhi = i + 1;
            }
        }
        if (nlo < 0) return REJECT;
        s[f + 2] = nlo;
        s[f + 3] = nhi;
        s[f + 4] = pos + 1;
        if (open[nlo].length == pos + 1) { // no opening is a prefix of another: this one is the only one left
            s[f + 1] = 1;
            return push(s, k.values[nlo]) ? CONSUMED : REJECT;
        }
        return CONSUMED;
    }

    /** Phases: 0 before the opening quote, 1 in the text, 2 after a backslash, 3 inside a multi-byte character. */
    private static int stepString(int[] s, int f, int phase, int b) {
        switch (phase) {
            case 0 -> {
                if (b != '"') return REJECT;
                s[f + 1] = 1;
                return CONSUMED;
            }
            case 1 -> {
                if (b == '"') return DONE;
                if (b == '\\') {
                    s[f + 1] = 2;
                    return CONSUMED;
                }
                if (b < 0x20) return REJECT;
                if (b < 0x80) return CONSUMED;
                int lead = utf8Lead(b);
                if (lead < 0) return REJECT;
                s[f + 1] = 3;
                s[f + 2] = lead & 0xFF;
                s[f + 3] = (lead >> 8) & 0xFF;
                s[f + 4] = lead >> 16;
                return CONSUMED;
            }
            case 2 -> {
                switch (b) {
                    case '"', '\\', '/', 'b', 'f', 'n', 'r', 't' -> {
                        s[f + 1] = 1;
                        return CONSUMED;
                    }
                    default -> {
                        return REJECT;
                    }
                }
            }
            default -> {
                if (b < s[f + 3] || b > s[f + 4]) return REJECT;
                s[f + 2]--;
                s[f + 3] = 0x80;
                s[f + 4] = 0xBF;
                if (s[f + 2] == 0) s[f + 1] = 1;
                return CONSUMED;
            }
        }
    }

    /**
     * A UTF-8 lead byte {@code b} (0x80 and up): how many continuation bytes follow, and the range of the first of
     * them (no overlong forms, no surrogates, nothing above U+10FFFF), packed as {@code more | lo << 8 | hi << 16};
     * -1 when b cannot start a character.
     */
    static int utf8Lead(int b) {
        int more, lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) more = 1;
        else if (b >= 0xE0 && b <= 0xEF) {
            more = 2;
            if (b == 0xE0) lo = 0xA0;
            if (b == 0xED) hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            more = 3;
            if (b == 0xF0) lo = 0x90;
            if (b == 0xF4) hi = 0x8F;
        } else return -1;
        return more | lo << 8 | hi << 16;
    }

    /**
     * Phases: 0 start, 1 after '-', 2 after a leading 0, 3 in the integer digits, 4 after '.', 5 in the fraction,
     * 6 after 'e', 7 after the exponent's sign, 8 in the exponent; 2, 3, 5 and 8 are whole numbers.
     */
    private static int stepNumber(int[] s, int f, int phase, int b, boolean integer) {
        boolean digit = b >= '0' && b <= '9';
        int next = switch (phase) {
            case 0 -> b == '-' ? 1 : b == '0' ? 2 : digit ? 3 : -1;
            case 1 -> b == '0' ? 2 : digit ? 3 : -1;
            case 2 -> !integer && b == '.' ? 4 : !integer && (b == 'e' || b == 'E') ? 6 : -2;
            case 3 -> digit ? 3 : !integer && b == '.' ? 4 : !integer && (b == 'e' || b == 'E') ? 6 : -2;
            case 4 -> digit ? 5 : -1;
            case 5 -> digit ? 5 : b == 'e' || b == 'E' ? 6 : -2;
            case 6 -> b == '+' || b == '-' ? 7 : digit ? 8 : -1;
            case 7 -> digit ? 8 : -1;
            case 8 -> digit ? 8 : -2;
            default -> -1;
        };
        if (next == -1) return REJECT;
        if (next == -2) return POP_RETRY; // a whole number, and this byte belongs to what comes after it
        s[f + 1] = next;
        return CONSUMED;
    }

    /** Closes the frame at {@code f} after the value it opened on top of it completed. */
    private void childDone(int[] s, int f) {
        switch (node(s[f])) {
            case Arr a -> {
                s[f + 2]++;
                s[f + 1] = 3;
            }
            case Obj o -> s[f + 1] = 5;
            case FreeObj o -> s[f + 1] = s[f + 1] == 2 ? 3 : 5;
            case Keyed k -> {
                s[f + 1] = 2;
                s[f + 4] = 0;
            }
            default -> throw new IllegalStateException("a " + node(s[f]).getClass().getSimpleName() + " has no children");
        }
    }

    // ---- the fewest bytes to close --------------------------------------------------------------------------------

    /** The fewest bytes that complete the value from state {@code s} (0 when it is complete). */
    public int minClose(int[] s) {
        int total = 0;
        for (int i = 0; i < s[0]; i++) total += own(s, 1 + i * FRAME);
        return total;
    }

    /** What the frame at {@code f} still needs, apart from a value open on top of it. */
    private int own(int[] s, int f) {
        int phase = s[f + 1];
        return switch (node(s[f])) {
            case Union u -> u.minLen;
            case Str str -> switch (phase) { case 0, 2 -> 2; case 1 -> 1; default -> s[f + 2] + 1; };
            case Num n -> switch (phase) { case 0, 1, 4, 6, 7 -> 1; default -> 0; };
            case Literals l -> {
                int min = Integer.MAX_VALUE;
                for (int i = s[f + 2]; i < s[f + 3]; i++) min = Math.min(min, l.sorted[i].length - s[f + 4]);
                yield min;
            }
            case Keyed k -> switch (phase) {
                case 0 -> {
                    int min = Integer.MAX_VALUE;
                    for (int i = s[f + 2]; i < s[f + 3]; i++) {
                        min = Math.min(min, k.openings[i].length - s[f + 4] + node(k.values[i]).minLen());
                    }
                    yield min + k.closing.length;
                }
                case 1 -> k.closing.length;
                default -> k.closing.length - s[f + 4];
            };
            case Arr a -> {
                int item = node(a.items).minLen() + 1, done = s[f + 2];
                yield switch (phase) {
                    case 0 -> a.minLen;
                    case 1 -> a.minLen - 1;
                    case 2 -> Math.max(0, a.minItems - done - 1) * item + 1;
                    case 3 -> Math.max(0, a.minItems - done) * item + 1;
                    default -> item - 1 + Math.max(0, a.minItems - done - 1) * item + 1;
                };
            }
            case Obj o -> switch (phase) {
                case 0 -> o.minLen;
                case 1 -> o.minLen - 1;
                case 2 -> {
                    int min = Integer.MAX_VALUE, pos = s[f + 4];
                    for (int m = s[f + 3]; m != 0; m &= m - 1) {
                        int j = Integer.numberOfTrailingZeros(m);
                        min = Math.min(min, o.keys[j].length - pos + node(o.values[j]).minLen() + o.rest[j + 1] + 1);
                    }
                    yield min;
                }
                case 6 -> {
                    int min = Integer.MAX_VALUE;
                    for (int m = o.candidates[s[f + 2]]; m != 0; m &= m - 1) {
                        int j = Integer.numberOfTrailingZeros(m);
                        min = Math.min(min, o.keys[j].length + node(o.values[j]).minLen() + o.rest[j + 1] + 1);
                    }
                    yield min;
                }
                default -> o.rest[s[f + 2]] + 1;
            };
            case FreeObj o -> {
                int value = node(o.value).minLen();
                yield switch (phase) {
                    case 0 -> 2;
                    case 1, 4, 5 -> 1;
                    case 2, 3 -> value + 2;
                    default -> value + 4;
                };
            }
        };
    }

    /** The node at the top of the stack is an unconstrained string in its text, where plain tokens keep the state. */
    public boolean inStringText(int[] s) {
        if (s[0] == 0) return false;
        int f = 1 + (s[0] - 1) * FRAME;
        return node(s[f]) instanceof Str && s[f + 1] == 1;
    }

    /** Every byte value that can appear in the grammar's fixed texts (keys, enum values) and its structure. */
    boolean[] literalBytes() {
        boolean[] used = new boolean[256];
        for (byte x : Builder.bytes("{}[],:\"-+.0123456789eE")) used[x & 0xFF] = true;
        for (Node n : nodes) {
            byte[][] texts = switch (n) {
                case Obj o -> o.keys;
                case Literals l -> l.sorted;
                case Keyed k -> {
                    for (byte x : k.closing) used[x & 0xFF] = true;
                    yield k.openings;
                }
                case null, default -> new byte[0][];
            };
            for (byte[] t : texts) for (byte x : t) used[x & 0xFF] = true;
        }
        return used;
    }

    // ---- building -------------------------------------------------------------------------------------------------

    /** Collects nodes; ids are indexes into the list. The unconstrained string is always node 0. */
    static final class Builder {
        static final int STRING = 0;
        final List<Node> nodes = new ArrayList<>();
        private int any = -1;

        Builder() {
            add(new Str(2));
        }

        int add(Node n) {
            nodes.add(n);
            return nodes.size() - 1;
        }

        Node node(int id) {
            return nodes.get(id);
        }

        /** Any JSON value: objects of any keys and arrays nest freely, up to the stack's depth. */
        int anyValue() {
            if (any >= 0) return any;
            any = add(null); // reserved: the union refers to itself through its object and array
            int obj = add(new FreeObj(any, 2));
            int arr = add(new Arr(any, 0, -1, 2));
            int num = add(new Num(false, 1));
            int lit = literals(List.of(bytes("true"), bytes("false"), bytes("null")));
            nodes.set(any, union(new int[] {obj, arr, STRING, num, lit}));
            return any;
        }

        int literals(List<byte[]> texts) {
            byte[][] sorted = texts.toArray(byte[][]::new);
            Arrays.sort(sorted, Arrays::compareUnsigned);
            List<byte[]> distinct = new ArrayList<>();
            for (byte[] t : sorted) if (distinct.isEmpty() || !Arrays.equals(distinct.getLast(), t)) distinct.add(t);
            int min = Integer.MAX_VALUE;
            for (byte[] t : distinct) min = Math.min(min, t.length);
            return add(new Literals(distinct.toArray(byte[][]::new), min));
        }

        /**
         * A {@link Keyed} node: {@code openings.get(i)} selects {@code values[i]}; the closing must not be empty and
         * no opening may be a prefix of another.
         */
        int keyed(List<byte[]> openings, int[] values, byte[] closing) {
            Integer[] order = new Integer[openings.size()];
            for (int i = 0; i < order.length; i++) order[i] = i;
            Arrays.sort(order, (x, y) -> Arrays.compareUnsigned(openings.get(x), openings.get(y)));
            byte[][] sorted = new byte[order.length][];
            int[] selected = new int[order.length];
            int min = Integer.MAX_VALUE;
            for (int i = 0; i < order.length; i++) {
                sorted[i] = openings.get(order[i]);
                selected[i] = values[order[i]];
                min = Math.min(min, sorted[i].length + node(selected[i]).minLen());
                int shared = i == 0 ? 0 : Arrays.mismatch(sorted[i - 1], sorted[i]);
                if (i > 0 && (shared < 0 || shared == sorted[i - 1].length)) {
                    throw new IllegalArgumentException("an opening is a prefix of another: " + new String(sorted[i - 1],
                            java.nio.charset.StandardCharsets.UTF_8));
                }
            }
            if (closing.length == 0 || order.length == 0) throw new IllegalArgumentException("a keyed node needs openings and a closing");
            return add(new Keyed(sorted, selected, closing, min + closing.length));
        }

        /** A union of nodes whose first bytes do not overlap (the caller merges those that would). */
        Union union(int[] members) {
            int[] first = new int[256];
            Arrays.fill(first, -1);
            int min = Integer.MAX_VALUE;
            for (int m : members) {
                Node n = node(m);
                min = Math.min(min, n.minLen());
                for (int b : firstBytes(n)) {
                    if (first[b] >= 0) throw new IllegalStateException("union members overlap at byte " + b);
                    first[b] = m;
                }
            }
            return new Union(first, min);
        }

        private static int[] firstBytes(Node n) {
            return switch (n) {
                case Obj o -> new int[] {'{'};
                case FreeObj o -> new int[] {'{'};
                case Arr a -> new int[] {'['};
                case Str s -> new int[] {'"'};
                case Num num -> new int[] {'-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'};
                case Literals l -> Arrays.stream(l.sorted).mapToInt(t -> t[0] & 0xFF).distinct().toArray();
                case Keyed k -> Arrays.stream(k.openings).mapToInt(t -> t[0] & 0xFF).distinct().toArray();
                case Union u -> throw new IllegalStateException("nested union");
            };
        }

        static byte[] bytes(String s) {
            return s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }
    }
}
