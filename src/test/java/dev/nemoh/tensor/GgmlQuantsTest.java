package dev.nemoh.tensor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * Each dequantizer against gguf-py's (llama.cpp's Python package) on two random blocks of its type
 * ({@code tools/llamacpp/make_quant_blocks.py}): every value equal, bit for bit.
 */
class GgmlQuantsTest {
    static JsonNode blocks() throws IOException {
        try (InputStream in = GgmlQuantsTest.class.getResourceAsStream("/gguf/quant-blocks.json")) {
            assertNotNull(in, "quant-blocks.json is on the test class path");
            return new ObjectMapper().readTree(in);
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"})
    void dequantizesAsGgufPyDoes(DType type) throws IOException {
        JsonNode ref = blocks().get(type.name());
        byte[] raw = HexFormat.of().parseHex(ref.get("hex").asText());
        assertEquals(2L * type.blockBytes, raw.length);
        int n = ref.get("values").size();
        assertEquals(2 * type.blockSize, n);
        float[] out = new float[n];
        GgmlQuants.dequantize(type, MemorySegment.ofArray(raw), 0, n, out, 0);
        Tensor t = new Tensor("w", type, new long[] {n}, MemorySegment.ofArray(raw));
        float[] viaTensor = t.toFloatArray();
        for (int i = 0; i < n; i++) {
            float want = (float) ref.get("values").get(i).asDouble();
            assertEquals(want, out[i], type + " value " + i);
            assertEquals(out[i], viaTensor[i], type + " value " + i + " through Tensor");
            assertEquals(out[i], t.getFloat(i), type + " value " + i + " through getFloat");
        }
    }
}
