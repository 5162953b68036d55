#!/usr/bin/env bash
# Packs what the GPU machine (which has no JDK or Maven) needs into one folder KIT: a small jlink image of JDK 25,
# nemoh.jar with the runtime jars the benchmarks and tests need, the compiled test classes, the JUnit console, and
# the device scripts. Run there from a checkout root as: bash KIT/cuda-device.sh (fixtures come from the checkout).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/jdk.sh
find_jdk
kit=${1:?usage: scripts/cuda-kit.sh KIT_DIR}
mvn -B -q -DskipTests package
mvn -B -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.11.4 -DoutputDirectory="$kit"
rm -rf "$kit/jdk" "$kit/lib" "$kit/test-classes"
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.management,java.sql,java.naming,jdk.unsupported,jdk.incubator.vector \
  --strip-debug --no-header-files --no-man-pages --compress=zip-6 --output "$kit/jdk" 2> >(grep -v incubator >&2)
strip --strip-unneeded "$kit/jdk/lib/server/libjvm.so" 2>/dev/null || true # jlink keeps libjvm's symbols: 29 MB → 25 MB
mkdir -p "$kit/lib" "$kit/test-classes"
cp target/nemoh.jar scripts/cuda-device.sh tools/reference/hf_bench.py "$kit/"
cp target/lib/jackson-*.jar target/lib/picocli-*.jar target/lib/slf4j-*.jar target/lib/snakeyaml-*.jar "$kit/lib/"
cp -r target/test-classes/dev "$kit/test-classes/"
du -sh "$kit"
