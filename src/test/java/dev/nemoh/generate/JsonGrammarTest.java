package dev.nemoh.generate;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The JSON grammar byte by byte, the fewest bytes to close, and the token mask over a vocabulary. */
class JsonGrammarTest {
    static final ObjectMapper JSON = new ObjectMapper();

    static JsonGrammar schema(String json) throws Exception {
        return JsonSchema.compile(JSON.readValue(json, Object.class));
    }

    /** Whether {@code text} is a whole value of the grammar. */
    static boolean matches(JsonGrammar g, String text) {
        int[] s = g.start();
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) if (!g.advance(s, b & 0xFF)) return false;
        return g.accepting(s);
    }

    static final String PERSON = """
            {"type": "object", "properties": {
              "name": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array", "items": {"enum": ["a", "bc", 12, 1]}, "minItems": 1, "maxItems": 2},
              "score": {"type": ["number", "null"]}, "ok": {"type": "boolean"}},
             "required": ["name", "tags"], "additionalProperties": false}""";

    @Test
    void acceptsWhatTheSchemaAllowsAndNothingElse() throws Exception {
        JsonGrammar g = schema(PERSON);
        assertTrue(matches(g, "{\"name\":\"\",\"tags\":[1]}"));
        assertTrue(matches(g, "{\"name\":\"\\\"é\\n\",\"age\":-10,\"tags\":[\"bc\",12],\"score\":-0.5e+3,\"ok\":false}"));
        assertTrue(matches(g, "{\"name\":\"x\",\"tags\":[12],\"score\":null}"));
        assertFalse(matches(g, "{\"tags\":[1],\"name\":\"x\"}"), "properties in the schema's order");
        assertFalse(matches(g, "{\"name\":\"x\"}"), "tags is required");
        assertFalse(matches(g, "{\"name\":\"x\",\"tags\":[]}"), "minItems 1");
        assertFalse(matches(g, "{\"name\":\"x\",\"tags\":[1,1,1]}"), "maxItems 2");
        assertFalse(matches(g, "{\"name\":\"x\",\"tags\":[2]}"), "enum");
        assertFalse(matches(g, "{\"name\":\"x\",\"tags\":[1],\"age\":1.5}"), "integer, and age comes before tags");
        assertFalse(matches(g, "{\"name\":\"x\",\"tags\":[1],\"score\":01}"), "leading zero");
        assertFalse(matches(g, "{\"name\":\"\\u0041\",\"tags\":[1]}"), "no \\u escapes");
        assertFalse(matches(g, "{\"name\":\"\u0001\",\"tags\":[1]}"), "control character");
        assertFalse(matches(g, "{ \"name\":\"x\",\"tags\":[1]}"), "compact: no whitespace");
        int[] s = g.start();
        for (byte b : "{\"name\":\"".getBytes(StandardCharsets.UTF_8)) assertTrue(g.advance(s, b & 0xFF));
        assertFalse(g.advance(s.clone(), 0xC0), "overlong UTF-8 lead byte");
        assertFalse(g.advance(s.clone(), 0x80), "a continuation byte with no lead byte");
        assertTrue(g.advance(s, 0xED));
        assertFalse(g.advance(s.clone(), 0xA0), "a UTF-16 surrogate in UTF-8");
    }

    @Test
    void jsonObjectModeTakesAnyObject() {
        JsonGrammar g = JsonGrammar.anyObject();
        assertTrue(matches(g, "{}"));
        assertTrue(matches(g, "{\"a\":[1,{\"b\":null},\"x\",true,[]],\"\":-1.5E-2}"));
        assertFalse(matches(g, "[1]"));
        assertFalse(matches(g, "\"a\""));
        assertFalse(matches(g, "{\"a\":1,}"));
    }

    @Test
    void refusesKeywordsOutsideTheSubsetByName() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> schema("{\"type\": \"object\", \"properties\": {\"age\": {\"type\": \"integer\", \"minimum\": 0}}}"));
        assertTrue(e.getMessage().contains("'minimum'") && e.getMessage().contains("/properties/age"), e.getMessage());
        for (String bad : List.of("{\"anyOf\": [{\"type\": \"string\"}]}", "{\"$ref\": \"#/x\"}", "{\"type\": \"string\", \"pattern\": \"a+\"}",
                "{\"type\": \"date\"}", "{\"type\": \"object\", \"required\": [\"x\"]}", "{\"type\": \"string\", \"items\": {}}",
                "{\"type\": \"array\", \"minItems\": 3, \"maxItems\": 2}", "{\"enum\": []}", "{\"type\": \"integer\", \"enum\": [\"a\"]}")) {
            assertThrows(IllegalArgumentException.class, () -> schema(bad), bad);
        }
    }

    /**
     * The budget rests on minClose being exact: from every reachable state with minClose > 0 some byte lowers it by
     * exactly one, and no byte lowers it by more. Checked on random walks through random schemas.
     */
    @Test
    void minCloseIsTheFewestBytesToClose() throws Exception {
        SplittableRandom r = new SplittableRandom(7);
        for (int k = 0; k < 44; k++) {
            // the last walks: json_object mode, opening objects and arrays whenever it may, past the depth bound
            boolean deep = k >= 40;
            JsonGrammar g = deep ? JsonGrammar.anyObject() : JsonSchema.compile(SchemaGenerator.schema(new SplittableRandom(k)));
            int[] s = g.start();
            int deepest = 0;
            for (int step = 0; step < 400 && !JsonGrammar.finished(s); step++) {
                deepest = Math.max(deepest, s[0]);
                int close = g.minClose(s);
                List<Integer> ok = new ArrayList<>();
                boolean lower = false;
                for (int b = 0; b < 256; b++) {
                    int[] t = s.clone();
                    if (!g.advance(t, b)) continue;
                    ok.add(b);
                    int after = g.minClose(t);
                    assertTrue(after >= close - 1, "byte " + b + " lowers minClose from " + close + " to " + after);
                    if (after == close - 1) lower = true;
                }
                assertTrue(close == 0 || lower, "no byte brings the JSON closer to its end, minClose " + close);
                if (ok.isEmpty()) {
                    assertTrue(g.accepting(s));
                    break;
                }
                int pick = ok.get(r.nextInt(ok.size()));
                if (deep) {
                    int[] prefer = g.inStringText(s) ? new int[] {'"'} : new int[] {'{', '[', '"', ':', ','};
                    for (int i = prefer.length - 1; i >= 0; i--) if (ok.contains(prefer[i])) pick = prefer[i];
                }
                assertTrue(g.advance(s, pick));
            }
            if (deep) assertEquals(JsonGrammar.MAX_DEPTH, deepest, "the walk reached the depth bound");
        }
        StringBuilder nested = new StringBuilder();
        for (int i = 0; i < JsonGrammar.MAX_DEPTH; i++) nested.append("{\"items\": ");
        nested.append("{}").append("}".repeat(JsonGrammar.MAX_DEPTH));
        var e = assertThrows(IllegalArgumentException.class, () -> schema(nested.toString()));
        assertTrue(e.getMessage().contains("nests deeper"), e.getMessage());
    }

    /** A vocabulary: the 256 single bytes and some JSON-ish multi-byte tokens, a stop token at the end. */
    static TokenVocabulary vocabulary(int extra, SplittableRandom r) {
        List<byte[]> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) tokens.add(new byte[] {(byte) b});
        String[] pieces = {"\"", "\":", "{\"", "\"}", "\",\"", "],", "true", "null", "12", "é", "\\n", "ab", " the", "\"\"", "[{"};
        for (int i = 0; i < extra; i++) {
            StringBuilder t = new StringBuilder();
            int n = 1 + r.nextInt(3);
            for (int j = 0; j < n; j++) t.append(pieces[r.nextInt(pieces.length)]);
            tokens.add(t.toString().getBytes(StandardCharsets.UTF_8));
        }
        tokens.add(null); // the stop token
        return new TokenVocabulary(tokens.toArray(byte[][]::new));
    }

    /**
     * Random logits through the mask with max tokens exactly the minimum: the answer is a whole value and ends with
     * the stop token in the last place; with more room, random answers are whole values too.
     */
    @Test
    void maskKeepsTheAnswerWithinMaxTokens() throws Exception {
        SplittableRandom r = new SplittableRandom(3);
        TokenVocabulary v = vocabulary(400, r);
        int stop = v.size() - 1;
        for (int k = 0; k < 30; k++) {
            JsonGrammar g = JsonSchema.compile(SchemaGenerator.schema(new SplittableRandom(100 + k)));
            int min = new TokenMask(g, v, Set.of(stop), -1).minTokens();
            for (int max : new int[] {min, min + 1, min + 40}) {
                TokenMask mask = new TokenMask(g, v, Set.of(stop), -1);
                Sampler sampler = new Sampler(SamplingParams.builder().temperature(1).seed(k).maxTokens(max).build(),
                        v.size(), new int[0], mask);
                StringBuilder text = new StringBuilder();
                java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
                int token = -1;
                for (int i = 0; i < max; i++) {
                    float[] logits = new float[v.size()];
                    for (int t = 0; t < logits.length; t++) logits[t] = (float) r.nextGaussian() * 3;
                    token = sampler.sample(logits);
                    sampler.accept(token);
                    if (token == stop) break;
                    bytes.writeBytes(v.bytes[token]);
                }
                text.append(bytes.toString(StandardCharsets.UTF_8));
                assertEquals(stop, token, "ends with the stop token within " + max + " tokens: " + text);
                assertTrue(matches(g, text.toString()), text.toString());
                JSON.readTree(text.toString()); // and it parses
            }
        }
    }

    @Test
    void toolCallGrammarTakesCallsOfTheOfferedFunctionsOnly() throws Exception {
        Map<String, Object> functions = new java.util.LinkedHashMap<>();
        functions.put("get_weather", JSON.readValue("{\"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}", Object.class));
        functions.put("get", null);
        JsonGrammar g = JsonSchema.toolCalls(functions, true);
        assertTrue(matches(g, "[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}]"));
        assertTrue(matches(g, "[{\"name\":\"get\",\"arguments\":{\"a\":[1]}},{\"name\":\"get_weather\",\"arguments\":{\"city\":\"\"}}]"));
        assertFalse(matches(g, "[]"), "at least one call");
        assertFalse(matches(g, "[{\"name\":\"get_weather\",\"arguments\":{}}]"), "city is required");
        assertFalse(matches(g, "[{\"name\":\"get_time\",\"arguments\":{}}]"), "not offered");
        assertFalse(matches(g, "[{\"name\":\"get\",\"arguments\":[]}]"), "arguments are an object");
        assertFalse(matches(g, "[{\"name\":\"get\",\"arguments\":{}]"), "the call's closing brace");
        JsonGrammar one = JsonSchema.toolCalls(functions, false);
        assertTrue(matches(one, "[{\"name\":\"get\",\"arguments\":{}}]"));
        assertFalse(matches(one, "[{\"name\":\"get\",\"arguments\":{}},{\"name\":\"get\",\"arguments\":{}}]"), "one call");
        assertEquals("[{\"name\":\"get\",\"arguments\":{}}]".length(), one.minClose(one.start()));
        var e = assertThrows(IllegalArgumentException.class,
                () -> JsonSchema.toolCalls(Map.of("f", Map.of("type", "string")), true));
        assertTrue(e.getMessage().contains("function 'f'") && e.getMessage().contains("must be an object"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> JsonSchema.toolCalls(Map.of("f", Map.of("type", "object", "minProperties", 1)), true));
        assertTrue(e.getMessage().contains("'minProperties' is not supported"), e.getMessage());
    }

    /**
     * The tool-call frame: random logits through a mask whose answer is an opening token, calls of generated
     * functions and a closing token, with max tokens from the minimum up: always opening, valid calls, closing, stop.
     */
    @Test
    void maskFramesToolCallsWithinMaxTokens() throws Exception {
        SplittableRandom r = new SplittableRandom(7);
        TokenVocabulary base = vocabulary(300, r);
        byte[][] bytes = java.util.Arrays.copyOf(base.bytes, base.size() + 2); // then two added tokens: <TOOLCALL>, </TOOLCALL>
        TokenVocabulary v = new TokenVocabulary(bytes);
        int stop = base.size() - 1, open = base.size(), close = base.size() + 1;
        for (int k = 0; k < 20; k++) {
            Map<String, Object> functions = new java.util.LinkedHashMap<>();
            for (int f = 0; f < 1 + k % 3; f++) functions.put("fn_" + f, SchemaGenerator.schema(new SplittableRandom(200 + 10 * k + f)));
            JsonGrammar g = JsonSchema.toolCalls(functions, k % 2 == 0);
            int min = new TokenMask(g, v, Set.of(stop), -1, new int[] {open}, new int[] {close}).minTokens();
            assertEquals(g.minClose(g.start()) + 3, min);
            for (int max : new int[] {min, min + 1, min + 60}) {
                TokenMask mask = new TokenMask(g, v, Set.of(stop), -1, new int[] {open}, new int[] {close});
                Sampler sampler = new Sampler(SamplingParams.builder().temperature(1).seed(k).maxTokens(max).build(),
                        v.size(), new int[0], mask);
                List<Integer> out = new ArrayList<>();
                for (int i = 0; i < max; i++) {
                    float[] logits = new float[v.size()];
                    for (int t = 0; t < logits.length; t++) logits[t] = (float) r.nextGaussian() * 3;
                    int token = sampler.sample(logits);
                    sampler.accept(token);
                    out.add(token);
                    if (token == stop) break;
                }
                assertEquals(open, out.getFirst());
                assertEquals(List.of(close, stop), out.subList(out.size() - 2, out.size()), "closing then stop within " + max);
                java.io.ByteArrayOutputStream text = new java.io.ByteArrayOutputStream();
                for (int t : out.subList(1, out.size() - 2)) text.writeBytes(v.bytes[t]);
                String calls = text.toString(StandardCharsets.UTF_8);
                assertTrue(matches(g, calls), calls);
                var list = JSON.readTree(calls);
                assertTrue(list.size() >= 1 && (k % 2 == 0 || list.size() == 1), calls);
                for (var call : list) assertTrue(functions.containsKey(call.get("name").asText()), calls);
            }
        }
    }

    @Test
    void reasoningComesFirstAndIsClosedInTime() throws Exception {
        SplittableRandom r = new SplittableRandom(5);
        TokenVocabulary v = vocabulary(50, r);
        int stop = v.size() - 1, close = '#'; // the single-byte token '#' stands in for </think>
        JsonGrammar g = schema(PERSON);
        TokenMask mask = new TokenMask(g, v, Set.of(stop), close);
        int min = mask.minTokens();
        mask.compute(min + 1);
        assertTrue(mask.allowed('a') && mask.allowed(close) && !mask.allowed(stop), "reasoning: anything but a stop token");
        mask.compute(min);
        assertTrue(mask.allowed(close) && !mask.allowed('a'), "then only the close");
        mask.accept(close);
        mask.compute(min - 1);
        assertTrue(mask.allowed('{') && !mask.allowed('a'));
    }

    @Test
    void refusesAVocabularyWithoutTheBytesItNeedsAndRequestsWithoutAStopToken() throws Exception {
        byte[][] tokens = new byte[3][];
        tokens[0] = "{".getBytes(StandardCharsets.UTF_8);
        tokens[1] = "}".getBytes(StandardCharsets.UTF_8);
        TokenVocabulary v = new TokenVocabulary(tokens);
        var e = assertThrows(IllegalArgumentException.class, () -> new TokenMask(JsonGrammar.anyObject(), v, Set.of(2), -1));
        assertTrue(e.getMessage().contains("one-byte token"), e.getMessage());
        TokenVocabulary full = vocabulary(0, new SplittableRandom(1));
        e = assertThrows(IllegalArgumentException.class, () -> new TokenMask(JsonGrammar.anyObject(), full, Set.of(), -1));
        assertTrue(e.getMessage().contains("end-of-sequence"), e.getMessage());
    }

    @Test
    void plainTokensAreWholeStringText() {
        assertTrue(TokenVocabulary.isPlain("hello é 😀".getBytes(StandardCharsets.UTF_8)));
        assertFalse(TokenVocabulary.isPlain("a\"".getBytes(StandardCharsets.UTF_8)));
        assertFalse(TokenVocabulary.isPlain("a\\".getBytes(StandardCharsets.UTF_8)));
        assertFalse(TokenVocabulary.isPlain(new byte[] {'a', (byte) 0xC3}), "a character cut by the token's end");
        assertFalse(TokenVocabulary.isPlain(new byte[] {(byte) 0xA9}), "a continuation byte");
        assertFalse(TokenVocabulary.isPlain(new byte[] {'\n'}));
    }

    @Test
    void enumValuesAreWrittenAsCompactJson() {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("a", List.of(1, 2.5, "x\""));
        m.put("b", null);
        assertEquals("{\"a\":[1,2.5,\"x\\\"\"],\"b\":null}", JsonSchema.write(m));
        assertEquals("1E2", JsonSchema.write(100.0));
    }
}
