// ArchConfig: canonical JSON, the FNV-1a 64 hash (published test vectors and a golden value),
// rejection of floats/null, parse errors; BigUInt arithmetic against known values.
#include <gtest/gtest.h>

#include "core/error.h"
#include "search_spaces/arch_config.h"
#include "search_spaces/big_uint.h"

using namespace hwnas;

TEST(Fnv1a64, MatchesPublishedVectors) {
  // From the FNV reference (Fowler/Noll/Vo) test suite.
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ull);
  EXPECT_EQ(hashHex(0xabcull), "0000000000000abc");
}

TEST(ArchConfig, CanonicalTextIsSortedCompactAndIndependentOfKeyOrder) {
  ArchConfig a = ArchConfig::parse(R"({"z": 1, "a": {"y": [3, 2], "b": "x"}, "m": true})");
  ArchConfig b = ArchConfig::parse("{\n  \"m\": true,\n  \"a\": {\"b\": \"x\", \"y\": [3, 2]},\n  \"z\": 1\n}");
  EXPECT_EQ(a.canonical(), R"({"a":{"b":"x","y":[3,2]},"m":true,"z":1})");
  EXPECT_EQ(a.canonical(), b.canonical());
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.hashHex().size(), 16u);
}

TEST(ArchConfig, GoldenHashOfRefnetInFmnistSmall) {
  // refnet as an architecture of configs/spaces/fmnist_small.yaml; the hash must never change.
  ArchConfig a = ArchConfig::parse(
      R"({"stages":[{"depth":2,"out":24,"se":false,"blocks":[{"kernel":3,"expand":4},{"kernel":3,"expand":4}]},)"
      R"({"depth":2,"out":40,"se":false,"blocks":[{"kernel":5,"expand":4},{"kernel":5,"expand":4}]},)"
      R"({"depth":2,"out":80,"se":false,"blocks":[{"kernel":3,"expand":4},{"kernel":3,"expand":4}]}]})");
  EXPECT_EQ(a.canonical(),
            R"({"stages":[{"blocks":[{"expand":4,"kernel":3},{"expand":4,"kernel":3}],"depth":2,"out":24,"se":false},)"
            R"({"blocks":[{"expand":4,"kernel":5},{"expand":4,"kernel":5}],"depth":2,"out":40,"se":false},)"
            R"({"blocks":[{"expand":4,"kernel":3},{"expand":4,"kernel":3}],"depth":2,"out":80,"se":false}]})");
  EXPECT_EQ(a.hashHex(), "8375932a06c3d872");
  EXPECT_EQ(a.hash(), 0x8375932a06c3d872ull);
}

TEST(ArchConfig, RejectsFloatsNullAndNonObjects) {
  try {
    ArchConfig::parse(R"({"width": 0.75})", "a.json");
    FAIL() << "a float was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("a.json: width: floats are not allowed"), std::string::npos) << e.what();
  }
  try {
    ArchConfig::parse(R"({"stages": [{"out": null}]})", "a.json");
    FAIL() << "null was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("stages[0].out"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ArchConfig::parse("[1, 2]"), InputError);
  EXPECT_THROW(ArchConfig(Json(3)), InputError);
}

TEST(ArchConfig, SyntaxErrorsAreConfigErrorsWithLineAndColumn) {
  try {
    ArchConfig::parse("{\n  \"a\": 1,\n  \"b\": }", "bad.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), "bad.json");
    EXPECT_EQ(e.line(), 3);
  }
  EXPECT_THROW(ArchConfig::load("/nonexistent/arch.json"), IoError);
}

TEST(BigUInt, MultipliesAndAddsExactly) {
  EXPECT_EQ(BigUInt(0).toString(), "0");
  EXPECT_EQ(BigUInt(1000000000ull).toString(), "1000000000");
  EXPECT_EQ((BigUInt(UINT64_MAX) * BigUInt(UINT64_MAX)).toString(), "340282366920938463426481119284349108225");
  EXPECT_EQ((BigUInt(UINT64_MAX) + BigUInt(1)).toString(), "18446744073709551616");
  BigUInt p = 1;
  for (int i = 0; i < 5; ++i) p *= BigUInt(7371);
  EXPECT_EQ(p.toString(), "21758655492572485851");
  bool fits = true;
  p.toUint64(&fits);
  EXPECT_FALSE(fits);
  EXPECT_EQ(BigUInt(15625).toUint64(&fits), 15625u);
  EXPECT_TRUE(fits);
  EXPECT_TRUE(BigUInt(999999999) < BigUInt(1000000000));
  EXPECT_FALSE(BigUInt(5) < BigUInt(5));
}
