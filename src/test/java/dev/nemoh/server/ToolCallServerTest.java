package dev.nemoh.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.chat.ChatTemplate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tool calls through the server: the tiny model is random, so a {@link TestServer.Scripted} wrapper makes it write a chosen
 * text (greedy decoding picks the scripted token), and the answer is checked whole and streamed.
 */
class ToolCallServerTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String TOOLS = """
            [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}}]""";
    static TestServer s;
    static TestServer.Scripted script;

    @BeforeAll
    static void start() throws Exception {
        s = TestServer.start(TestServer.options(4, 64), m -> script = new TestServer.Scripted(m));
    }

    @AfterAll
    static void stop() {
        s.close();
    }

    static ObjectNode request(String toolChoice) throws Exception {
        ObjectNode body = JSON.createObjectNode().put("temperature", 0).put("max_tokens", 200);
        body.putArray("messages").addObject().put("role", "user").put("content", "Weather in Paris?");
        body.set("tools", JSON.readTree(TOOLS));
        if (toolChoice != null) body.put("tool_choice", toolChoice);
        return body;
    }

    static void modelWrites(String text) {
        script.writes(s.tokenizer, text);
    }

    @Test
    void nanoV2CallAfterReasoningWholeAndStreamed() throws Exception {
        modelWrites("Checking.</think><TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}]</TOOLCALL>");
        JsonNode choice = whole(request(null));
        JsonNode message = choice.get("message");
        assertEquals("tool_calls", choice.get("finish_reason").asText());
        assertEquals("Checking.", message.get("reasoning_content").asText());
        assertTrue(message.get("content").isNull(), message.toString());
        JsonNode call = message.get("tool_calls").get(0);
        assertTrue(call.get("id").asText().startsWith("call_"), call.toString());
        assertEquals("function", call.get("type").asText());
        assertEquals("get_weather", call.at("/function/name").asText());
        assertEquals(JSON.readTree("{\"city\": \"Paris\", \"days\": 2}"), JSON.readTree(call.at("/function/arguments").asText()));

        Streamed st = streamed(request(null));
        assertEquals("tool_calls", st.finish);
        assertEquals("Checking.", st.reasoning.toString());
        assertEquals("", st.content.toString());
        assertEquals(1, st.calls.size());
        assertEquals(call.get("function"), st.calls.get(0).get("function"));
    }

    @Test
    void callWithoutClosingThinkStillCounts() throws Exception {
        modelWrites("I should look it up.\n<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}]</TOOLCALL>");
        JsonNode message = whole(request("auto")).get("message");
        assertEquals("I should look it up.", message.get("reasoning_content").asText());
        assertEquals("{\"city\":\"Oslo\"}", message.at("/tool_calls/0/function/arguments").asText());
        Streamed st = streamed(request("auto"));
        assertEquals("I should look it up.\n", st.reasoning.toString());
        assertEquals("{\"city\":\"Oslo\"}", st.calls.get(0).at("/function/arguments").asText());
        assertEquals("tool_calls", st.finish);
    }

    @Test
    void qwen3CoderXmlCallStreamedAsOpenAiDoes() throws Exception {
        modelWrites("</think>Sure.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nRome\n</parameter>\n"
                + "<parameter=days>\n5\n</parameter>\n</function>\n</tool_call>");
        JsonNode message = whole(request(null)).get("message");
        assertEquals("Sure.", message.get("content").asText());
        assertEquals("{\"city\":\"Rome\",\"days\":5}", message.at("/tool_calls/0/function/arguments").asText());
        Streamed st = streamed(request(null));
        assertEquals("Sure.\n", st.content.toString());
        assertEquals("{\"city\":\"Rome\",\"days\":5}", st.calls.get(0).at("/function/arguments").asText());
        // the first delta of a call carries its index, id, type and name; the arguments follow
        JsonNode first = st.callDeltas.get(0);
        assertEquals(0, first.get("index").asInt());
        assertTrue(first.get("id").asText().startsWith("call_"));
        assertEquals("get_weather", first.at("/function/name").asText());
        assertFalse(st.callDeltas.get(1).has("id"));
    }

    @Test
    void textThatDoesNotParseIsContent() throws Exception {
        String broken = "<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": ]</TOOLCALL>";
        modelWrites("</think>" + broken);
        JsonNode choice = whole(request(null));
        assertEquals(broken, choice.at("/message/content").asText());
        assertFalse(choice.get("message").has("tool_calls"));
        assertEquals("stop", choice.get("finish_reason").asText());
        Streamed st = streamed(request(null));
        assertEquals(broken, st.content.toString());
        assertTrue(st.calls.isEmpty());
        assertEquals("stop", st.finish);
    }

    @Test
    void toolChoiceNoneOffersAndParsesNothing() throws Exception {
        String call = "<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {}}]</TOOLCALL>";
        modelWrites("</think>" + call);
        ObjectNode none = request("none");
        JsonNode out = s.post("v1/chat/completions", none.toString()).json();
        assertEquals(call, out.at("/choices/0/message/content").asText());
        none.remove("tools");
        none.remove("tool_choice");
        assertEquals(s.post("v1/chat/completions", none.toString()).json().at("/usage/prompt_tokens").asInt(),
                out.at("/usage/prompt_tokens").asInt());
    }

    @Test
    void toolsAndToolTurnsReachTheTemplate() throws Exception {
        modelWrites("</think>It is sunny.");
        ObjectNode body = request(null);
        ArrayNode messages = (ArrayNode) body.get("messages");
        ObjectNode assistant = messages.addObject().put("role", "assistant");
        assistant.putNull("content");
        ObjectNode call = assistant.putArray("tool_calls").addObject().put("id", "call_1").put("type", "function");
        call.putObject("function").put("name", "get_weather").put("arguments", "{\"city\": \"Paris\"}");
        messages.addObject().put("role", "tool").put("tool_call_id", "call_1").put("content", "{\"sky\": \"clear\"}");
        JsonNode out = s.post("v1/chat/completions", body.toString()).json();
        assertEquals("It is sunny.", out.at("/choices/0/message/content").asText());
        assertEquals("stop", out.at("/choices/0/finish_reason").asText());

        // the reference: the template rendered here with the arguments as an object, as transformers takes them
        List<Map<String, Object>> ref = List.of(
                Map.of("role", "user", "content", "Weather in Paris?"),
                Map.of("role", "assistant", "content", "", "tool_calls", List.of(Map.of("id", "call_1", "type", "function",
                        "function", Map.of("name", "get_weather", "arguments", Map.of("city", "Paris"))))),
                Map.of("role", "tool", "tool_call_id", "call_1", "content", "{\"sky\": \"clear\"}"));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> tools = JSON.readValue(TOOLS, List.class);
        String prompt = ChatTemplate.of(s.tokenizer).render(ref, ChatTemplate.Options.generationPrompt(true).withTools(tools));
        assertTrue(prompt.contains("<AVAILABLE_TOOLS>[{\"name\": \"get_weather\""), prompt);
        assertTrue(prompt.contains("<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]</TOOLCALL>"), prompt);
        assertTrue(prompt.contains("<TOOL_RESPONSE>[{\"sky\": \"clear\"}]</TOOL_RESPONSE>"), prompt);
        assertEquals(s.tokenizer.encode(prompt, false).length, out.at("/usage/prompt_tokens").asInt());
    }

    @Test
    void badToolRequestsAreRefusedWithTheReason() throws Exception {
        ObjectNode b = request(null);
        b.put("tools", "get_weather");
        expect400(b, "tools must be an array", "tools");
        b = request(null);
        ((ObjectNode) b.at("/tools/0/function")).remove("name");
        expect400(b, "function.name must be", "tools[0].function.name");
        b = request(null);
        ((ObjectNode) b.at("/tools/0")).put("type", "retrieval");
        expect400(b, "must be \"function\"", "tools[0].type");
        b = request(null);
        b.set("tool_choice", JSON.readTree("{\"type\": \"function\", \"function\": {\"name\": \"get_time\"}}"));
        expect400(b, "\"get_time\", which is not among tools", "tool_choice");
        b = request(null);
        b.set("tool_choice", JSON.readTree("{\"type\": \"function\"}"));
        expect400(b, "tool_choice must be a string or", "tool_choice");
        b = request("required");
        b.putArray("tools");
        expect400(b, "needs at least one tool", "tool_choice");
        b = request("required");
        b.put("stop", "x");
        expect400(b, "a tool_choice that forces a call", "stop");
        b = request("required");
        ((ObjectNode) b.at("/tools/0/function/parameters")).put("minProperties", 1);
        expect400(b, "function 'get_weather' parameters: schema at '/': the keyword 'minProperties' is not supported", "tools");
        b = request("auto");
        b.put("parallel_tool_calls", false);
        expect400(b, "parallel_tool_calls false is enforced only with tool_choice", "parallel_tool_calls");
        b = request("required");
        b.put("max_tokens", 10);
        expect400(b, "the shortest answer the tool_choice allows takes", "max_tokens");
        expect400(request("sometimes"), "tool_choice must be", "tool_choice");
        b = request("auto");
        b.remove("tools");
        expect400(b, "only allowed when tools are specified", "tool_choice");
        b = request(null);
        b.set("response_format", JSON.readTree("{\"type\": \"json_object\"}"));
        expect400(b, "cannot be combined", "tools");
        b = request(null);
        ObjectNode a = ((ArrayNode) b.get("messages")).addObject().put("role", "assistant");
        a.putArray("tool_calls").addObject().put("id", "c").put("type", "function").putObject("function")
                .put("name", "get_weather").put("arguments", "{city: Paris");
        expect400(b, "must be a JSON object's text", "messages[1].tool_calls[0].function.arguments");
    }

    /**
     * tool_choice "required" and a named function with the random-weight model (no script), sampling at temperature
     * 1: the mask makes every answer a call in Nano v2's format whose arguments validate against the function's
     * parameters (networknt's validator), with finish_reason tool_calls, whole and streamed.
     */
    @Test
    void requiredAndNamedCallsFromTheRandomModelAreValid() throws Exception {
        String tools = """
                [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
                   "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}},
                 {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
                   "properties": {"zone": {"enum": ["UTC", "CET"]}, "exact": {"type": "boolean"}}, "required": ["zone", "exact"]}}},
                 {"type": "function", "function": {"name": "ping"}}]""";
        JsonNode toolList = JSON.readTree(tools);
        java.util.Map<String, com.networknt.schema.JsonSchema> validators = new java.util.HashMap<>();
        for (JsonNode t : toolList) {
            JsonNode params = t.at("/function/parameters");
            validators.put(t.at("/function/name").asText(), StructuredOutputTest.SCHEMAS.getSchema(
                    params.isMissingNode() ? JSON.readTree("{\"type\": \"object\"}") : params));
        }
        java.util.Set<String> called = new java.util.HashSet<>();
        try (TestServer random = TestServer.start(TestServer.options(4, 64))) {
            for (int i = 0; i < 12; i++) {
                ObjectNode body = JSON.createObjectNode().put("temperature", 1.0).put("seed", i).put("max_tokens", 120);
                ArrayNode messages = body.putArray("messages");
                if (i % 4 != 3) messages.addObject().put("role", "system").put("content", "/no_think"); // else it reasons first
                messages.addObject().put("role", "user").put("content", "What now?");
                body.set("tools", toolList);
                if (i % 3 == 2) body.set("tool_choice", JSON.readTree("{\"type\": \"function\", \"function\": {\"name\": \"get_time\"}}"));
                else body.put("tool_choice", "required");
                if (i % 3 == 1) body.put("parallel_tool_calls", false);
                TestServer.Response r = random.post("v1/chat/completions", body.toString());
                assertEquals(200, r.status(), r.text());
                JsonNode choice = r.json().at("/choices/0");
                assertEquals("tool_calls", choice.get("finish_reason").asText(), r.text());
                JsonNode calls = choice.at("/message/tool_calls");
                assertTrue(calls.size() >= 1, r.text());
                if (i % 3 != 0) assertEquals(1, calls.size(), "one call when named or parallel_tool_calls is false: " + r.text());
                for (JsonNode call : calls) {
                    String name = call.at("/function/name").asText();
                    if (i % 3 == 2) assertEquals("get_time", name);
                    called.add(name);
                    JsonNode args = JSON.readTree(call.at("/function/arguments").asText());
                    assertTrue(validators.get(name).validate(args).isEmpty(), name + " " + args);
                }
                Streamed st = streamed(random, body);
                assertEquals("tool_calls", st.finish);
                assertEquals(calls.size(), st.calls.size(), r.text());
                for (int c = 0; c < calls.size(); c++) assertEquals(calls.get(c).get("function"), st.calls.get(c).get("function"));
            }
        }
        assertEquals(java.util.Set.of("get_weather", "get_time", "ping"), called, "sampling reaches every function");
    }

    @Test
    void qwen3CoderXmlTemplatesAreRefusedForForcedCalls() throws Exception {
        String xmlTemplate = "{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endfor %}"
                + "{%- if tools %}Call as <tool_call>\n<function=NAME>\n</function>\n</tool_call>{%- endif %}";
        ServedModel xml = new ServedModel("xml", s.model, s.tokenizer, new ChatTemplate(xmlTemplate, Map.of()),
                TestServer.STOP_TOKENS, null, Map.of());
        ApiException e = org.junit.jupiter.api.Assertions.assertThrows(ApiException.class, () -> CompletionRequest.parse(
                request("required"), true, xml, new CompletionRequest.Bounds(4096, 1L << 30)));
        assertTrue(e.getMessage().contains("Qwen3-Coder XML calls") && e.getMessage().contains("use \"auto\""), e.getMessage());
        assertEquals(400, e.status);
        CompletionRequest auto = CompletionRequest.parse(request("auto"), true, xml, new CompletionRequest.Bounds(4096, 1L << 30));
        assertTrue(auto.mask() == null && auto.tools() != null, "auto is parsed, not constrained");
    }

    private static void expect400(ObjectNode body, String says, String param) throws Exception {
        TestServer.Response r = s.post("v1/chat/completions", body.toString());
        assertEquals(400, r.status(), r.text());
        JsonNode error = r.json().get("error");
        assertTrue(error.get("message").asText().contains(says), r.text());
        assertEquals(param, error.get("param").asText(), r.text());
        assertEquals("invalid_request_error", error.get("type").asText());
    }

    private static JsonNode whole(ObjectNode body) throws Exception {
        TestServer.Response r = s.post("v1/chat/completions", body.toString());
        assertEquals(200, r.status(), r.text());
        return r.json().at("/choices/0");
    }

    /** A stream put back together: text per channel, each call's deltas merged by index, and the finish reason. */
    static final class Streamed {
        final StringBuilder reasoning = new StringBuilder(), content = new StringBuilder();
        final List<ObjectNode> calls = new java.util.ArrayList<>();
        final List<JsonNode> callDeltas = new java.util.ArrayList<>();
        String finish;
    }

    private static Streamed streamed(ObjectNode body) throws Exception {
        return streamed(s, body);
    }

    private static Streamed streamed(TestServer server, ObjectNode body) throws Exception {
        body = body.deepCopy().put("stream", true);
        TestServer.Response r = server.streamLines("v1/chat/completions", body.toString());
        assertEquals(200, r.status(), r.text());
        Streamed st = new Streamed();
        for (String line : r.text().split("\n")) {
            if (!line.startsWith("data: ") || line.equals("data: [DONE]")) continue;
            JsonNode choice = JSON.readTree(line.substring(6)).at("/choices/0");
            JsonNode delta = choice.get("delta");
            if (delta.hasNonNull("reasoning_content")) st.reasoning.append(delta.get("reasoning_content").asText());
            if (delta.hasNonNull("content")) st.content.append(delta.get("content").asText());
            for (JsonNode d : delta.path("tool_calls")) {
                st.callDeltas.add(d);
                int i = d.get("index").asInt();
                if (i == st.calls.size()) {
                    ObjectNode c = JSON.createObjectNode().put("id", d.get("id").asText());
                    c.putObject("function").put("name", d.at("/function/name").asText()).put("arguments", "");
                    st.calls.add(c);
                }
                ObjectNode fn = (ObjectNode) st.calls.get(i).get("function");
                fn.put("arguments", fn.get("arguments").asText() + d.at("/function/arguments").asText(""));
            }
            if (choice.hasNonNull("finish_reason")) st.finish = choice.get("finish_reason").asText();
        }
        return st;
    }
}
