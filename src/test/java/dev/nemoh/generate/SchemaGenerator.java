package dev.nemoh.generate;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Random JSON Schemas within {@link JsonSchema}'s subset, from a seed: objects with required and optional
 * properties, nested arrays with item bounds, enums and consts, numbers, integers, booleans, nulls and type unions.
 */
public final class SchemaGenerator {
    private SchemaGenerator() {}

    /** A schema whose root is an object (as response_format answers usually are). */
    public static Map<String, Object> schema(SplittableRandom r) {
        return object(r, 0);
    }

    private static Map<String, Object> object(SplittableRandom r, int depth) {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("type", "object");
        Map<String, Object> props = new LinkedHashMap<>();
        List<String> required = new ArrayList<>();
        int n = 1 + r.nextInt(4);
        for (int i = 0; i < n; i++) {
            String name = List.of("id", "name", "tags", "score", "items", "ok", "kind", "é", "a b", "q\"")
                    .get(r.nextInt(10)) + i;
            props.put(name, value(r, depth + 1));
            if (r.nextInt(3) > 0) required.add(name);
        }
        s.put("properties", props);
        if (!required.isEmpty()) s.put("required", required);
        if (r.nextBoolean()) s.put("additionalProperties", false);
        if (r.nextInt(4) == 0) s.put("description", "a generated object");
        return s;
    }

    private static Object value(SplittableRandom r, int depth) {
        int kind = r.nextInt(depth >= 3 ? 7 : 9);
        Map<String, Object> s = new LinkedHashMap<>();
        switch (kind) {
            case 0 -> s.put("type", "string");
            case 1 -> s.put("type", "integer");
            case 2 -> s.put("type", "number");
            case 3 -> s.put("type", "boolean");
            case 4 -> s.put("enum", r.nextBoolean() ? List.of("red", "green", "blue") : java.util.Arrays.asList(1, 12, "x", true, null));
            case 5 -> s.put("type", r.nextBoolean() ? List.of("string", "null") : List.of("integer", "number", "boolean"));
            case 6 -> {
                if (r.nextBoolean()) s.put("const", "fixed");
                else s.put("type", "null");
            }
            case 7 -> {
                s.put("type", "array");
                s.put("items", value(r, depth + 1));
                int min = r.nextInt(3);
                if (min > 0) s.put("minItems", min);
                if (r.nextBoolean()) s.put("maxItems", min + r.nextInt(3));
            }
            default -> {
                return object(r, depth);
            }
        }
        return s;
    }
}
