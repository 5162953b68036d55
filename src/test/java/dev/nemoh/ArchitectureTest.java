package dev.nemoh;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import com.tngtech.archunit.library.Architectures;
import org.junit.jupiter.api.Test;

import java.util.List;

import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * nemoh's packages form layers, each using only those below it, with no cycle between packages: the data formats
 * and tokenizer at the bottom, then the CPU kernels, the model, what drives it (generation, chat templates,
 * training, checkpoint writers), the CUDA backend, the server, and the command line on top.
 */
class ArchitectureTest {
    /** Bottom to top; a package may depend only on packages listed before it. */
    static final List<String> LAYERS = List.of(
            "tensor", "config", "io", "tokenizer", "kernels", "model", "export", "generate", "chat", "train", "cuda",
            "server", "cli");

    private static final JavaClasses MAIN = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("dev.nemoh");

    static ArchRule layering() {
        Architectures.LayeredArchitecture rule = Architectures.layeredArchitecture().consideringOnlyDependenciesInLayers();
        for (String layer : LAYERS) rule = rule.layer(layer).definedBy("dev.nemoh." + layer + "..");
        for (int i = 0; i < LAYERS.size(); i++) {
            List<String> above = LAYERS.subList(i + 1, LAYERS.size());
            rule = above.isEmpty()
                    ? rule.whereLayer(LAYERS.get(i)).mayNotBeAccessedByAnyLayer()
                    : rule.whereLayer(LAYERS.get(i)).mayOnlyBeAccessedByLayers(above.toArray(String[]::new));
        }
        return rule;
    }

    static ArchRule noCycles(String root) {
        return slices().matching(root + ".(*)..").should().beFreeOfCycles();
    }

    @Test
    void packagesAreLayered() {
        layering().check(MAIN);
    }

    @Test
    void packagesHaveNoCycles() {
        noCycles("dev.nemoh").check(MAIN);
    }

    @Test
    void everyPackageHasALayer() {
        for (var c : MAIN) {
            String pkg = c.getPackageName();
            if (pkg.equals("dev.nemoh")) continue;
            String top = pkg.substring("dev.nemoh.".length()).split("\\.")[0];
            assertTrue(LAYERS.contains(top), pkg + " (of " + c.getName() + ") is in no layer of ArchitectureTest.LAYERS");
        }
    }

    /** The rules catch what they are for: a test-only pair of packages that import each other fails both. */
    @Test
    void aCyclicPairFailsTheRules() {
        JavaClasses cyclic = new ClassFileImporter().importPackages("dev.nemoh.archcycle");
        assertFalse(cyclic.isEmpty());
        AssertionError cycle = assertThrows(AssertionError.class, () -> noCycles("dev.nemoh.archcycle").check(cyclic));
        assertTrue(cycle.getMessage().contains("Cycle detected"), cycle.getMessage());
        ArchRule layered = Architectures.layeredArchitecture().consideringOnlyDependenciesInLayers()
                .layer("a").definedBy("dev.nemoh.archcycle.a..")
                .layer("b").definedBy("dev.nemoh.archcycle.b..")
                .whereLayer("a").mayOnlyBeAccessedByLayers("b")
                .whereLayer("b").mayNotBeAccessedByAnyLayer();
        assertThrows(AssertionError.class, () -> layered.check(cyclic));
    }
}
