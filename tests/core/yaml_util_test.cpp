// YamlNode: file:line:col and key paths in every error, strict types, unknown keys.
#include "core/yaml_util.h"

#include <gtest/gtest.h>

#include "core/fs_util.h"
#include "core/key_check.h"

using namespace hwnas;

namespace {

const char* kConfig =
    "search:\n"             // line 1
    "  epochs: 10\n"        // line 2
    "  lr: 0.1\n"           // line 3
    "  resume: true\n"      // line 4
    "  name: run1\n"        // line 5
    "  constraints:\n"      // line 6
    "    - device: raspi4\n"  // line 7
    "      max_ms: 20\n"    // line 8
    "    - device: pixel3\n"  // line 9
    "      max_ms: 15\n"    // line 10
    "      devcie: oops\n"  // line 11
    "  widths: [8, 16, 24]\n"  // line 12
    "  quoted: \"3\"\n";    // line 13

std::string writeTemp(const TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = dir.file(name);
  writeFileAtomic(path, text);
  return path;
}

}  // namespace

TEST(YamlNode, TypedGettersAndDefaults) {
  YamlNode root = YamlNode::loadString(kConfig, "cfg.yaml");
  YamlNode s = root["search"];
  EXPECT_EQ(s.getInt("epochs"), 10);
  EXPECT_DOUBLE_EQ(s.getDouble("lr"), 0.1);
  EXPECT_DOUBLE_EQ(s.getDouble("epochs"), 10.0);  // an integer is a number
  EXPECT_TRUE(s.getBool("resume"));
  EXPECT_EQ(s.getString("name"), "run1");
  EXPECT_EQ(s.getIntList("widths"), (std::vector<int>{8, 16, 24}));
  EXPECT_EQ(s.getInt("missing", 7), 7);
  EXPECT_EQ(s.getString("missing", "d"), "d");
  EXPECT_EQ(s.getIntList("missing", {1}), (std::vector<int>{1}));
  EXPECT_EQ(s["constraints"].size(), 2u);
  EXPECT_EQ(s["constraints"][1].getString("device"), "pixel3");
  EXPECT_EQ(s["constraints"][1]["device"].keyPath(), "search.constraints[1].device");
  EXPECT_EQ(s["constraints"][1]["device"].line(), 9);
  EXPECT_EQ(s["constraints"][1]["device"].column(), 15);
  EXPECT_EQ(s.keys(), (std::vector<std::string>{"epochs", "lr", "resume", "name", "constraints", "widths", "quoted"}));
  EXPECT_EQ(s["quoted"].asString(), "3");
}

TEST(YamlNode, UnknownKeyNamesFileLineColumnPathAndSuggestion) {
  TempDir dir("hwnas-yaml-");
  std::string path = writeTemp(dir, "my.yaml", kConfig);
  YamlNode root = YamlNode::loadFile(path);
  root.checkKeys({"search"});
  root["search"]["constraints"][0].checkKeys({"device", "max_ms"});
  try {
    root["search"]["constraints"][1].checkKeys({"device", "max_ms"});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg, path + ":11:7: search.constraints[1].devcie: unknown key 'devcie'; did you mean 'device'? "
                          "allowed keys: device, max_ms");
    EXPECT_EQ(e.line(), 11);
    EXPECT_EQ(e.column(), 7);
    EXPECT_EQ(e.keyPath(), "search.constraints[1].devcie");
    EXPECT_EQ(e.exitCode(), 2);
  }
  // Far from any allowed key: no suggestion, but the list.
  try {
    root["search"].checkKeys({"epochs"});
    FAIL();
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(":3:3: search.lr: unknown key 'lr'; allowed keys: epochs"), std::string::npos) << msg;
  }
}

TEST(YamlNode, WrongTypesAreConfigErrorsWithLocation) {
  YamlNode s = YamlNode::loadString(kConfig, "cfg.yaml")["search"];
  auto expectError = [](auto fn, const std::string& part) {
    try {
      fn();
      FAIL() << "expected ConfigError containing " << part;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expectError([&] { s.getInt("name"); }, "cfg.yaml:5:9: search.name: expected an integer, got 'run1'");
  expectError([&] { s.getInt("lr"); }, "cfg.yaml:3:7: search.lr: expected an integer, got '0.1'");
  expectError([&] { s.getBool("epochs"); }, "search.epochs: expected true or false");
  expectError([&] { s.getInt("widths"); }, "cfg.yaml:12:11: search.widths: expected an integer, got list");
  expectError([&] { s.getString("constraints"); }, "search.constraints: expected a string, got list");
  expectError([&] { s.getInt("quoted"); }, "search.quoted: expected an integer, got the quoted string '3'");
  expectError([&] { s.getInt("quoted", 1); }, "search.quoted: expected an integer");  // present but wrong: no default
  expectError([&] { s.getIntList("name"); }, "search.name: expected a list of integers");
  expectError([&] { s["constraints"][5]; }, "search.constraints: list has 2 elements; index 5 is out of range");
  expectError([&] { s.getInt("epochz"); }, "cfg.yaml:2:3: search.epochz: missing required key 'epochz'");
  expectError([&] { s["name"].asEnum({"run2", "other"}); }, "unknown value 'run1'; did you mean 'run2'?");
  expectError([&] { YamlNode::loadString("x: 99999999999\n", "b.yaml").getInt("x"); }, "out of range");
}

TEST(YamlNode, LoadErrors) {
  TempDir dir("hwnas-yaml-");
  EXPECT_THROW(YamlNode::loadFile(dir.file("nope.yaml")), IoError);
  try {
    YamlNode::loadFile(dir.file("nope.yaml"));
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.yaml"), std::string::npos);
    EXPECT_EQ(e.exitCode(), 2);
  }
  std::string bad = writeTemp(dir, "bad.yaml", "a: 1\nb: [1, 2\nc: 3\n");
  try {
    YamlNode::loadFile(bad);
    FAIL();
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind(bad + ":", 0), 0u) << msg;
    EXPECT_GT(e.line(), 0);
    EXPECT_NE(msg.find("YAML syntax error"), std::string::npos) << msg;
  }
  // Duplicate keys are rejected by checkKeys.
  YamlNode dup = YamlNode::loadString("a: 1\na: 2\n", "dup.yaml");
  EXPECT_THROW(dup.checkKeys({"a"}), ConfigError);
  // An empty file is a null root: defaults apply, nothing is unknown.
  YamlNode empty = YamlNode::loadString("", "empty.yaml");
  EXPECT_TRUE(empty.isNull());
  EXPECT_EQ(empty.getInt("epochs", 3), 3);
  empty.checkKeys({"x"});
}

TEST(KeyCheck, ClosestMatch) {
  EXPECT_EQ(closestMatch("devcie", {"device", "max_ms"}), "device");
  EXPECT_EQ(closestMatch("Device", {"device"}), "device");
  EXPECT_EQ(closestMatch("zzzzzz", {"device", "max_ms"}), "");
  EXPECT_EQ(closestMatch("x", {"y"}), "y");  // one edit on a short word
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
}
