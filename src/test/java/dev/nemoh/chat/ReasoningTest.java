package dev.nemoh.chat;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReasoningTest {
    @Test
    void splitsReasoningFromAnswer() {
        var p = Reasoning.split("The user asks 2+2.\nThat is 4.\n</think>\n\n2 + 2 = **4**.\n", true);
        assertEquals("The user asks 2+2.\nThat is 4.", p.reasoning());
        assertEquals("2 + 2 = **4**.", p.answer());
        assertTrue(p.closed());
    }

    @Test
    void openingTagInTheOutputIsRecognised() {
        var p = Reasoning.split("<think>\nhmm\n</think>answer", false);
        assertEquals("hmm", p.reasoning());
        assertEquals("answer", p.answer());
    }

    @Test
    void noThinkOutputIsAllAnswer() {
        var p = Reasoning.split("Just the answer.", false);
        assertEquals("", p.reasoning());
        assertEquals("Just the answer.", p.answer());
        assertFalse(p.closed());
    }

    @Test
    void cutOffWhileThinking() {
        var p = Reasoning.split("still thinking about", true);
        assertEquals("still thinking about", p.reasoning());
        assertEquals("", p.answer());
        assertFalse(p.closed());
    }

    @Test
    void lastSwitchWins() {
        assertTrue(Reasoning.thinkingEnabled(ChatTemplate.messages("user", "hi")));
        assertFalse(Reasoning.thinkingEnabled(ChatTemplate.messages("system", "/no_think", "user", "hi")));
        assertTrue(Reasoning.thinkingEnabled(ChatTemplate.messages("system", "/no_think", "user", "hi /think")));
        // an assistant turn does not switch
        assertTrue(Reasoning.thinkingEnabled(ChatTemplate.messages("user", "a", "assistant", "/no_think")));
        assertFalse(Reasoning.thinkingEnabled(List.of(Map.of("role", "user", "content", "b /no_think"))));
    }

    @Test
    void routerFollowsTags() {
        var r = new Reasoning.Router(13, 14, true);
        assertEquals(Reasoning.Channel.REASONING, r.route(100));
        assertNull(r.route(14));
        assertEquals(Reasoning.Channel.ANSWER, r.route(101));
        assertNull(r.route(13));
        assertEquals(Reasoning.Channel.REASONING, r.route(102));
    }

    /**
     * Streamed in pieces cut at every pair of positions, the splitter's deltas add up to what {@link Reasoning#split}
     * finds in the whole text (which strips whitespace), and no tag leaks into either channel.
     */
    @Test
    void splitterOnPiecesAgreesWithSplitOnTheWhole() {
        String[] texts = {"Let me think.\n</think>\n\nThe answer.", "  <think>inner</think>outer", "no tags at all",
                "thinking, cut off", "<thi", "a </thin b </think> c </think> d", "\n<think>\n</think>x"};
        for (String text : texts) {
            for (boolean starts : new boolean[] {true, false}) {
                Reasoning.Parts whole = Reasoning.split(text, starts);
                for (int i = 0; i <= text.length(); i++) {
                    for (int j = i; j <= text.length(); j++) {
                        Reasoning.Splitter sp = new Reasoning.Splitter(starts);
                        StringBuilder reasoning = new StringBuilder(), answer = new StringBuilder();
                        for (var d : List.of(sp.push(text.substring(0, i)), sp.push(text.substring(i, j)),
                                sp.push(text.substring(j)), sp.flush())) {
                            reasoning.append(d.reasoning());
                            answer.append(d.answer());
                        }
                        String where = "'" + text + "' cut at " + i + ", " + j + ", starts in thinking " + starts;
                        assertEquals(whole.reasoning(), reasoning.toString().strip(), where);
                        assertEquals(whole.answer(), answer.toString().strip(), where);
                    }
                }
            }
        }
    }
}
