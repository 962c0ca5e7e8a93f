#!/usr/bin/env bash
# Fuzzes the native front's request parser and 200/304/206 decision (native/front/http_request.cc,
# http_conditions.cc) under AddressSanitizer and UndefinedBehaviorSanitizer, and compares every
# request the front would answer itself with node:http's own parser (llhttp): where it ends,
# whether the connection stays open, its request line and the fields the answer depends on.
# Fails on a sanitizer report or a difference (test/fuzz/http-front/known.ts lists the allowed ones).
#
#   scripts/fuzz-http.sh [seconds=60] [seed=1] [count=0, no bound]
#
# The same seed makes the same inputs, so a time-bounded run checks a prefix of one sequence.
# On the 2-core development machine a minute runs 1.7 to 5 million inputs (as other work
# leaves it the CPU), plus every prefix of one in 64; about a sixth are reads the front would
# answer, and those are compared. Needs g++ (its libasan and libubsan, as Debian's brings) and
# the TypeScript built (npx tsc -p tsconfig.json). The reference is the llhttp of the `node` on
# PATH: put another Node first on PATH to compare with its parser.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f dist/test/fuzz/http-front/check.js ]; then
  echo "fuzz-http: build the TypeScript first: npx tsc -p tsconfig.json" >&2
  exit 2
fi
seconds=${1:-60}
seed=${2:-1}
count=${3:-0}

out=build/fuzz
mkdir -p "$out"
g++ -std=c++17 -Wall -Wextra -fsanitize=address,undefined -fno-sanitize-recover=all -g -O1 \
  -Inative -Itest/fuzz/http-front -o "$out/http-front" \
  test/fuzz/http-front/main.cc test/fuzz/http-front/mutator.cc \
  native/front/http_request.cc native/front/http_conditions.cc

# detect_leaks: LeakSanitizer needs ptrace, which some containers refuse; nothing here leaks
# past exit anyway. abort_on_error: a report ends the run with a signal the checker sees.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1
# --expose-internals: where process.binding no longer lends node:http's parser (Node 22 on).
node --expose-internals dist/test/fuzz/http-front/check.js "$out/http-front" --seed "$seed" --count "$count" --seconds "$seconds"
