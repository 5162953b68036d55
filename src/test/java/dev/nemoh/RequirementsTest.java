package dev.nemoh;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RequirementsTest {
    private final String before = System.getProperty(Requirements.PROPERTY);

    @AfterEach
    void restore() {
        if (before == null) System.clearProperty(Requirements.PROPERTY);
        else System.setProperty(Requirements.PROPERTY, before);
    }

    @Test
    void aMissingRequirementSkipsUnlessItIsNamed() {
        System.clearProperty(Requirements.PROPERTY);
        var skipped = assertThrows(TestAbortedException.class, () -> Requirements.require("cuda", false, "no GPU"));
        assertTrue(skipped.getMessage().contains("no GPU") && skipped.getMessage().contains("-Dnemoh.require=cuda"));
        System.setProperty(Requirements.PROPERTY, "native,cuda");
        var failed = assertThrows(AssertionFailedError.class, () -> Requirements.require("cuda", false, "no GPU"));
        assertTrue(failed.getMessage().contains("requires cuda, but no GPU"), failed.getMessage());
        assertThrows(TestAbortedException.class, () -> Requirements.require("node", false, "no node"));
        System.setProperty(Requirements.PROPERTY, "all");
        assertThrows(AssertionFailedError.class, () -> Requirements.require("node", false, "no node"));
        assertDoesNotThrow(() -> Requirements.require("cuda", true, "unused"));
    }

    @Test
    void anUnknownRequirementIsAnError() {
        System.setProperty(Requirements.PROPERTY, "cuda,gpu");
        var e = assertThrows(AssertionFailedError.class, () -> Requirements.require("cuda", true, "unused"));
        assertTrue(e.getMessage().contains("unknown requirement 'gpu'"), e.getMessage());
    }
}
