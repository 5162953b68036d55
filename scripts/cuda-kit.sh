#!/usr/bin/env bash
# Packs what the GPU machine (which has no JDK or Maven) needs into one folder KIT: a small jlink image of JDK 25 (xz),
# nemoh.jar with the runtime jars the benchmarks and tests need, the compiled test classes, the JUnit console, and
# the device scripts. Run there from a checkout root as: bash KIT/cuda-device.sh (fixtures come from the checkout).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/jdk.sh
find_jdk
kit=${1:?usage: scripts/cuda-kit.sh KIT_DIR}
mvn -B -q -DskipTests package
mvn -B -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.11.4 -DoutputDirectory="$kit"
rm -rf "$kit/jdk" "$kit/jdk.tar.xz" "$kit/lib" "$kit/test-classes"
# The device call carries 64 MiB at most: an uncompressed, stripped image packed with xz is far smaller than with
# jlink's own zip compression (java.desktop, which the template engine needs for java.beans, is large).
image=$(mktemp -d)
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.desktop,java.logging,java.management,java.sql,java.naming,jdk.unsupported,jdk.incubator.vector,jdk.httpserver,jdk.zipfs,java.net.http \
  --strip-debug --no-header-files --no-man-pages --output "$image/jdk" 2> >(grep -v incubator >&2)
strip --strip-unneeded "$image/jdk/lib/server/libjvm.so"
XZ_OPT=-T0 tar cJf "$kit/jdk.tar.xz" -C "$image" jdk
rm -rf "$image"
mkdir -p "$kit/lib" "$kit/test-classes"
cp target/nemoh.jar scripts/cuda-device.sh tools/reference/hf_bench.py "$kit/"
cp target/lib/*.jar "$kit/lib/" # every runtime jar: chat and serve need the template engine too
cp -r target/test-classes/dev "$kit/test-classes/"
du -sh "$kit"
