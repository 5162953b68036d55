package dev.nemoh.generate;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Compiles a JSON Schema (as plain Java maps, lists, strings, numbers and booleans) into the {@link JsonGrammar}
 * of the texts that validate against it. The subset: {@code type} (a name or an array of names), {@code properties},
 * {@code required}, {@code additionalProperties} (true, false or a schema), {@code items}, {@code minItems},
 * {@code maxItems}, {@code enum}, {@code const}, and the annotations that constrain nothing. Any other keyword is
 * refused with an {@link IllegalArgumentException} naming it and where it is, never ignored.
 *
 * <p>Objects with {@code properties} are written with those properties in the schema's order, each required one
 * present and no other key, which every such schema accepts whatever its {@code additionalProperties}; an object
 * with no {@code properties} takes any keys, its values following {@code additionalProperties} (any value when
 * absent or true, none when false).
 */
public final class JsonSchema {
    /** Keywords that describe a schema without constraining its values. */
    static final Set<String> ANNOTATIONS = Set.of("title", "description", "$schema", "$id", "$comment", "default",
            "examples", "deprecated", "readOnly", "writeOnly");
    static final Set<String> KEYWORDS = Set.of("type", "properties", "required", "additionalProperties", "items",
            "minItems", "maxItems", "enum", "const");
    /** Declared properties of one object (a bit each in the matcher's state). */
    static final int MAX_PROPERTIES = 31;
    static final int MAX_ENUM = 1024;
    static final int MAX_MIN_ITEMS = 256;

    /** What README and the server's error messages list. */
    public static final String SUBSET = "type, properties, required, additionalProperties, items, minItems, maxItems,"
            + " enum, const (and the annotations title, description, $schema, $id, $comment, default, examples)";

    private final JsonGrammar.Builder b = new JsonGrammar.Builder();
    private int depth;

    private JsonSchema() {}

    /** The grammar of {@code schema}; throws with the keyword and its JSON pointer when it is outside the subset. */
    public static JsonGrammar compile(Object schema) {
        JsonSchema c = new JsonSchema();
        int root = c.node(schema, "");
        return new JsonGrammar(c.b.nodes, root);
    }

    /**
     * The grammar of Nano v2's tool-call list (the text between {@code <TOOLCALL>} and {@code </TOOLCALL>}):
     * {@code [{"name":"f","arguments":{...}}, ...]}, each call naming one of {@code parameters}' functions and its
     * arguments an object valid against that function's schema (null: any object); one call, or one or more when
     * {@code parallel}. Throws as {@link #compile} does, naming the function, or when a schema is not an object's.
     */
    public static JsonGrammar toolCalls(Map<String, Object> parameters, boolean parallel) {
        if (parameters.isEmpty()) throw new IllegalArgumentException("no function to call");
        JsonSchema c = new JsonSchema();
        List<byte[]> openings = new ArrayList<>();
        int[] values = new int[parameters.size()];
        int i = 0;
        for (Map.Entry<String, Object> e : parameters.entrySet()) {
            openings.add(JsonGrammar.Builder.bytes("{\"name\":" + quote(e.getKey()) + ",\"arguments\":"));
            try {
                Object schema = e.getValue();
                if (schema instanceof Map<?, ?> m && !m.containsKey("type")) { // arguments are an object whatever else it says
                    Map<Object, Object> typed = new LinkedHashMap<>(m);
                    typed.put("type", "object");
                    schema = typed;
                }
                values[i] = schema == null ? c.b.add(new JsonGrammar.FreeObj(c.b.anyValue(), 2)) : c.node(schema, "");
            } catch (IllegalArgumentException x) {
                throw new IllegalArgumentException("function '" + e.getKey() + "' parameters: " + x.getMessage(), x);
            }
            JsonGrammar.Node args = c.b.node(values[i]);
            if (!(args instanceof JsonGrammar.Obj) && !(args instanceof JsonGrammar.FreeObj)) {
                throw new IllegalArgumentException("function '" + e.getKey() + "' parameters: the arguments must be an"
                        + " object: give the schema type \"object\" alone");
            }
            i++;
        }
        int call = c.b.keyed(openings, values, JsonGrammar.Builder.bytes("}"));
        int list = c.b.add(new JsonGrammar.Arr(call, 1, parallel ? -1 : 1, 2 + c.b.node(call).minLen()));
        return new JsonGrammar(c.b.nodes, list);
    }

    private int node(Object schema, String at) {
        if (++depth >= JsonGrammar.MAX_DEPTH) {
            throw refuse(at, "the schema nests deeper than " + (JsonGrammar.MAX_DEPTH - 1) + " values");
        }
        try {
            return compileNode(schema, at);
        } finally {
            depth--;
        }
    }

    private int compileNode(Object schema, String at) {
        if (Boolean.TRUE.equals(schema)) return b.anyValue();
        if (!(schema instanceof Map<?, ?> raw)) {
            throw refuse(at, "a schema must be an object (or true), got " + describe(schema));
        }
        Map<String, Object> s = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : raw.entrySet()) {
            String k = String.valueOf(e.getKey());
            if (!KEYWORDS.contains(k) && !ANNOTATIONS.contains(k)) {
                throw refuse(at, "the keyword '" + k + "' is not supported; supported: " + SUBSET);
            }
            if (KEYWORDS.contains(k)) s.put(k, e.getValue());
        }
        List<String> types = types(s.get("type"), at);
        if (s.containsKey("enum") || s.containsKey("const")) return literals(s, types, at);
        if (types == null) {
            // no type: what the other keywords imply, else any value
            if (s.containsKey("properties") || s.containsKey("required") || s.containsKey("additionalProperties")) {
                types = List.of("object");
            } else if (s.containsKey("items") || s.containsKey("minItems") || s.containsKey("maxItems")) {
                types = List.of("array");
            } else {
                return b.anyValue();
            }
        }
        for (String k : s.keySet()) {
            boolean object = k.equals("properties") || k.equals("required") || k.equals("additionalProperties");
            boolean array = k.equals("items") || k.equals("minItems") || k.equals("maxItems");
            if (object && !types.contains("object") || array && !types.contains("array")) {
                throw refuse(at, "'" + k + "' needs type \"" + (object ? "object" : "array") + "\" among the types " + types);
            }
        }
        List<Integer> members = new ArrayList<>();
        List<byte[]> words = new ArrayList<>();
        boolean number = types.contains("number");
        for (String t : types) {
            switch (t) {
                case "object" -> members.add(object(s, at));
                case "array" -> members.add(array(s, at));
                case "string" -> members.add(JsonGrammar.Builder.STRING);
                case "number" -> members.add(b.add(new JsonGrammar.Num(false, 1)));
                case "integer" -> {
                    if (!number) members.add(b.add(new JsonGrammar.Num(true, 1))); // number already takes integers
                }
                case "boolean" -> {
                    words.add(JsonGrammar.Builder.bytes("true"));
                    words.add(JsonGrammar.Builder.bytes("false"));
                }
                case "null" -> words.add(JsonGrammar.Builder.bytes("null"));
                default -> throw refuse(at + "/type", "unknown type \"" + t
                        + "\"; use object, array, string, number, integer, boolean or null");
            }
        }
        if (!words.isEmpty()) members.add(b.literals(words));
        if (members.size() == 1) return members.getFirst();
        return b.add(b.union(members.stream().mapToInt(Integer::intValue).toArray()));
    }

    private static List<String> types(Object type, String at) {
        if (type == null) return null;
        List<String> out = new ArrayList<>();
        if (type instanceof String t) out.add(t);
        else if (type instanceof List<?> list && !list.isEmpty()) {
            for (Object t : list) {
                if (!(t instanceof String name)) throw refuse(at + "/type", "type must be a string or an array of strings");
                if (out.contains(name)) throw refuse(at + "/type", "type lists \"" + name + "\" twice");
                out.add(name);
            }
        } else {
            throw refuse(at + "/type", "type must be a string or a non-empty array of strings, got " + describe(type));
        }
        return out;
    }

    private int object(Map<String, Object> s, String at) {
        Object props = s.get("properties");
        Object extra = s.get("additionalProperties");
        if (extra != null && !(extra instanceof Boolean) && !(extra instanceof Map)) {
            throw refuse(at + "/additionalProperties", "additionalProperties must be true, false or a schema");
        }
        List<String> required = new ArrayList<>();
        Object req = s.get("required");
        if (req != null) {
            if (!(req instanceof List<?> list)) throw refuse(at + "/required", "required must be an array of property names");
            for (Object r : list) {
                if (!(r instanceof String name)) throw refuse(at + "/required", "required must be an array of strings");
                if (!required.contains(name)) required.add(name);
            }
        }
        if (props == null) {
            if (!required.isEmpty()) {
                throw refuse(at + "/required", "required property '" + required.getFirst() + "' is not in properties;"
                        + " declare it under properties");
            }
            if (Boolean.FALSE.equals(extra)) {
                return b.add(new JsonGrammar.Obj(new byte[0][], new int[0], new int[] {0}, new int[] {0}, 2)); // only {}
            }
            int value = extra instanceof Map ? node(extra, at + "/additionalProperties") : b.anyValue();
            return b.add(new JsonGrammar.FreeObj(value, 2));
        }
        if (!(props instanceof Map<?, ?> map)) throw refuse(at + "/properties", "properties must be an object of schemas");
        if (map.size() > MAX_PROPERTIES) {
            throw refuse(at + "/properties", "at most " + MAX_PROPERTIES + " properties per object, got " + map.size());
        }
        if (extra instanceof Map) node(extra, at + "/additionalProperties"); // checked, though never generated
        int n = map.size();
        byte[][] keys = new byte[n][];
        int[] values = new int[n];
        boolean[] isRequired = new boolean[n];
        int j = 0;
        for (Map.Entry<?, ?> e : map.entrySet()) {
            String name = String.valueOf(e.getKey());
            keys[j] = JsonGrammar.Builder.bytes(quote(name) + ":");
            values[j] = node(e.getValue(), at + "/properties/" + pointer(name));
            isRequired[j] = required.remove(name);
            j++;
        }
        if (!required.isEmpty()) {
            throw refuse(at + "/required", "required property '" + required.getFirst() + "' is not in properties;"
                    + " declare it under properties");
        }
        int[] rest = new int[n + 1];
        for (int i = n - 1; i >= 0; i--) {
            rest[i] = rest[i + 1] + (isRequired[i] ? 1 + keys[i].length + b.node(values[i]).minLen() : 0);
        }
        int[] candidates = new int[n + 1];
        for (int i = 0; i < n; i++) {
            int mask = 0;
            for (int k = i; k < n; k++) {
                mask |= 1 << k;
                if (isRequired[k]) break;
            }
            candidates[i] = mask;
        }
        int minLen = 1 + (rest[0] == 0 ? 1 : rest[0]);
        return b.add(new JsonGrammar.Obj(keys, values, candidates, rest, minLen));
    }

    private int array(Map<String, Object> s, String at) {
        Object itemsSchema = s.get("items");
        if (itemsSchema instanceof List) {
            throw refuse(at + "/items", "items as an array of schemas (tuples) is not supported; give one schema");
        }
        int items = itemsSchema == null ? b.anyValue() : node(itemsSchema, at + "/items");
        int min = count(s.get("minItems"), at + "/minItems", 0);
        int max = count(s.get("maxItems"), at + "/maxItems", -1);
        if (min > MAX_MIN_ITEMS) throw refuse(at + "/minItems", "minItems must be at most " + MAX_MIN_ITEMS + ", got " + min);
        if (max >= 0 && max < min) throw refuse(at + "/maxItems", "maxItems (" + max + ") is below minItems (" + min + ")");
        int item = b.node(items).minLen();
        int minLen = min == 0 ? 2 : 2 + min * item + (min - 1);
        return b.add(new JsonGrammar.Arr(items, min, max, minLen));
    }

    private static int count(Object v, String at, int otherwise) {
        if (v == null) return otherwise;
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue()) && n.doubleValue() >= 0
                && n.doubleValue() <= Integer.MAX_VALUE) {
            return n.intValue();
        }
        throw refuse(at, "must be a non-negative integer, got " + describe(v));
    }

    private int literals(Map<String, Object> s, List<String> types, String at) {
        for (String k : s.keySet()) {
            if (!k.equals("enum") && !k.equals("const") && !k.equals("type")) {
                throw refuse(at, "'" + k + "' cannot be combined with enum or const here; list the allowed values only");
            }
        }
        List<Object> values = new ArrayList<>();
        if (s.containsKey("const")) values.add(s.get("const"));
        if (s.containsKey("enum")) {
            if (!(s.get("enum") instanceof List<?> list) || list.isEmpty()) {
                throw refuse(at + "/enum", "enum must be a non-empty array of values");
            }
            if (list.size() > MAX_ENUM) throw refuse(at + "/enum", "at most " + MAX_ENUM + " enum values, got " + list.size());
            if (s.containsKey("const")) throw refuse(at, "give enum or const, not both");
            values.addAll(list);
        }
        List<byte[]> texts = new ArrayList<>();
        for (Object v : values) {
            String type = typeOf(v);
            if (types == null || types.contains(type) || type.equals("integer") && types.contains("number")) {
                texts.add(JsonGrammar.Builder.bytes(write(v)));
            }
        }
        if (texts.isEmpty()) throw refuse(at, "no value of enum/const has one of the types " + types);
        return b.literals(texts);
    }

    private static String typeOf(Object v) {
        if (v == null) return "null";
        if (v instanceof String) return "string";
        if (v instanceof Boolean) return "boolean";
        if (v instanceof Integer || v instanceof Long || v instanceof BigInteger) return "integer";
        if (v instanceof Number) return "number";
        if (v instanceof List) return "array";
        return "object";
    }

    /** Compact JSON of a value, as the grammar's fixed texts are written. */
    static String write(Object v) {
        StringBuilder out = new StringBuilder();
        write(v, out);
        return out.toString();
    }

    private static void write(Object v, StringBuilder out) {
        switch (v) {
            case null -> out.append("null");
            case String str -> out.append(quote(str));
            case Boolean bool -> out.append(bool);
            case Double d -> out.append(BigDecimal.valueOf(d).stripTrailingZeros().toString().replace("E+", "E"));
            case Float f -> write(f.doubleValue(), out);
            case Number num -> out.append(num);
            case List<?> list -> {
                out.append('[');
                for (int i = 0; i < list.size(); i++) {
                    if (i > 0) out.append(',');
                    write(list.get(i), out);
                }
                out.append(']');
            }
            case Map<?, ?> map -> {
                out.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    if (!first) out.append(',');
                    first = false;
                    out.append(quote(String.valueOf(e.getKey()))).append(':');
                    write(e.getValue(), out);
                }
                out.append('}');
            }
            default -> throw new IllegalArgumentException("not a JSON value: " + v.getClass().getSimpleName());
        }
    }

    /** A JSON string literal: quotes, backslashes and control characters escaped, everything else as is. */
    static String quote(String s) {
        StringBuilder out = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
                }
            }
        }
        return out.append('"').toString();
    }

    private static String pointer(String name) {
        return name.replace("~", "~0").replace("/", "~1");
    }

    private static String describe(Object v) {
        return v == null ? "null" : v instanceof String str ? "\"" + str + "\"" : v.toString();
    }

    private static IllegalArgumentException refuse(String at, String what) {
        return new IllegalArgumentException("schema at '" + (at.isEmpty() ? "/" : at) + "': " + what);
    }
}
