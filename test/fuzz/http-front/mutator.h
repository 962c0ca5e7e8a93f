// Requests for the native front's fuzz harness: a corpus of valid GET/HEAD heads and the
// mutations that bend them. Everything is drawn from one seeded generator, so a seed names a
// run and the same seed replays it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fuzz {

// splitmix64: small, fast, and the same sequence on every machine.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // A number in [0, bound); bound > 0.
  size_t Below(size_t bound) { return static_cast<size_t>(Next() % bound); }
  bool OneIn(size_t n) { return Below(n) == 0; }

 private:
  uint64_t state_;
};

const std::vector<std::string>& Corpus();

// A request made from the corpus: one entry, two spliced or pipelined, then 0 to 6 mutations.
std::string MakeInput(Rng& rng);

// A date near the IMF-fixdate form, for ParseImfFixdate alone.
std::string MakeDate(Rng& rng);

// Something an ETag or a Last-Modified of the cached file may be.
std::string MakeEtag(Rng& rng);

}  // namespace fuzz
