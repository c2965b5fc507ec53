// JsonReader strictness, canonical dumps and atomic JSON files.
#include "core/json_util.h"

#include <gtest/gtest.h>

#include "core/fs_util.h"

using namespace hwnas;

TEST(JsonUtil, CanonicalDumpSortsKeysAndIsCompact) {
  Json a = Json::parse(R"({"b": 1, "a": {"z": [1, 2], "y": "s"}})");
  Json b = Json::parse(R"({"a": {"y": "s", "z": [1,2]}, "b": 1})");
  EXPECT_EQ(canonicalDump(a), R"({"a":{"y":"s","z":[1,2]},"b":1})");
  EXPECT_EQ(canonicalDump(a), canonicalDump(b));
}

TEST(JsonUtil, ReaderTypesKeysAndPaths) {
  Json j = Json::parse(R"({"search": {"epochs": 3, "lr": 0.5, "ok": true, "name": "x",
                          "list": [1, 2], "items": [{"device": "cpu"}, {"devcie": "gpu"}], "f": 3.0}})");
  JsonReader r(j, "cfg.json");
  JsonReader s = r["search"];
  EXPECT_EQ(s.getInt("epochs"), 3);
  EXPECT_DOUBLE_EQ(s.getDouble("epochs"), 3.0);
  EXPECT_DOUBLE_EQ(s.getDouble("lr"), 0.5);
  EXPECT_TRUE(s.getBool("ok"));
  EXPECT_EQ(s.getString("name"), "x");
  EXPECT_EQ(s["list"].asIntList(), (std::vector<int>{1, 2}));
  EXPECT_EQ(s.getInt("missing", 4), 4);
  s["items"][0].checkKeys({"device"});
  try {
    s["items"][1].checkKeys({"device"});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "cfg.json: search.items[1].devcie: unknown key 'devcie'; did you mean 'device'? allowed keys: device");
  }
  try {
    s.getInt("f");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "cfg.json: search.f: expected an integer, got number 3.0");
  }
  EXPECT_THROW(s.getString("epochs"), ConfigError);
  EXPECT_THROW(s.getInt("nope"), ConfigError);
  EXPECT_THROW(s["name"].find("x"), ConfigError);
}

TEST(JsonUtil, FilesAreWrittenAtomicallyAndParseErrorsHaveLineCol) {
  TempDir dir("hwnas-json-");
  std::string p = dir.file("a.json");
  Json j = {{"x", 1}, {"y", {1, 2, 3}}};
  writeJsonFile(p, j);
  EXPECT_EQ(readJsonFile(p), j);
  EXPECT_THROW(readJsonFile(dir.file("missing.json")), IoError);
  writeFileAtomic(dir.file("bad.json"), "{\n  \"a\": 1,\n  \"b\": ]\n}\n");
  try {
    readJsonFile(dir.file("bad.json"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(e.column(), 8);
    EXPECT_NE(std::string(e.what()).find("bad.json:3:8: JSON syntax error"), std::string::npos) << e.what();
  }
}
