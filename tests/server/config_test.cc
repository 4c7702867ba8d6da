#include "server/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace winnow::server {
namespace {

absl::StatusOr<CommandLine> Parse(std::vector<std::string> args) {
  std::vector<const char*> argv = {"winnowd"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data());
}

class ConfigFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    path_ = std::filesystem::temp_directory_path() /
            ("winnow_config_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() +
             ".toml");
    std::ofstream(path_) << text;
    return path_.string();
  }
  void TearDown() override {
    if (!path_.empty()) std::filesystem::remove(path_);
  }
  std::filesystem::path path_;
};

TEST(OptionsTest, DefaultsMatchTheDocs) {
  ServerOptions o;
  EXPECT_EQ(o.listen, "127.0.0.1:7450");
  EXPECT_EQ(o.metrics_listen, "127.0.0.1:9464");
  EXPECT_TRUE(o.sync_writes);
  EXPECT_EQ(o.max_message_bytes, 64 << 20);
  EXPECT_TRUE(ValidateOptions(o).ok());
}

TEST(OptionsTest, EveryFieldHasAFlagNamedAfterItsKey) {
  EXPECT_EQ(FlagName("data_dir"), "--data-dir");
  EXPECT_EQ(FlagName("shutdown_grace_seconds"), "--shutdown-grace-seconds");
  absl::StatusOr<CommandLine> help = Parse({"--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_TRUE(help->exit_now);
  for (const OptionField& field : OptionFields()) {
    EXPECT_NE(help->output.find(FlagName(field.key)), std::string::npos)
        << field.key;
  }
  EXPECT_NE(help->output.find("--config"), std::string::npos);
}

TEST(OptionsTest, ValidateNamesTheBadField) {
  ServerOptions o;
  o.listen = "nohostport";
  EXPECT_EQ(ValidateOptions(o).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ValidateOptions(o).message().find("listen"), std::string::npos);
  o = ServerOptions{};
  o.listen = "127.0.0.1:70000";
  EXPECT_FALSE(ValidateOptions(o).ok());
  o = ServerOptions{};
  o.max_message_bytes = int64_t{1} << 40;
  EXPECT_NE(ValidateOptions(o).message().find("max_message_bytes"),
            std::string::npos);
  o = ServerOptions{};
  o.shutdown_grace_seconds = -1;
  EXPECT_NE(ValidateOptions(o).message().find("shutdown_grace_seconds"),
            std::string::npos);
  o = ServerOptions{};
  o.log_level = "loud";
  EXPECT_NE(ValidateOptions(o).message().find("log_level"), std::string::npos);
  o = ServerOptions{};
  o.data_dir = "";
  EXPECT_NE(ValidateOptions(o).message().find("data_dir"), std::string::npos);
  o = ServerOptions{};
  o.listen = "[::1]:0";
  EXPECT_TRUE(ValidateOptions(o).ok());
}

TEST(OptionsTest, OperationOptionsAreCheckedByName) {
  struct Case {
    int64_t ServerOptions::*field;
    int64_t bad;
    const char* name;
  };
  for (const Case& c :
       {Case{&ServerOptions::backup_wait_seconds, -1, "backup_wait_seconds"},
        Case{&ServerOptions::operation_threads, 0, "operation_threads"},
        Case{&ServerOptions::max_queued_operations, -1,
             "max_queued_operations"},
        Case{&ServerOptions::operation_nice, 20, "operation_nice"},
        Case{&ServerOptions::operation_retention_seconds, 0,
             "operation_retention_seconds"}}) {
    ServerOptions o;
    EXPECT_TRUE(ValidateOptions(o).ok());
    o.*c.field = c.bad;
    absl::Status s = ValidateOptions(o);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(s.message().find(c.name), std::string::npos) << s;
  }
}

TEST(OptionsTest, SecurityAndLimitSettingsAreChecked) {
  struct Case {
    std::function<void(ServerOptions&)> set;
    std::string error;  // empty: valid
  };
  const Case cases[] = {
      {[](ServerOptions& o) { o.tls_cert = "c.pem"; }, "tls_key: must be set"},
      {[](ServerOptions& o) { o.tls_key = "k.pem"; }, "tls_cert: must be set"},
      {[](ServerOptions& o) { o.tls_client_ca = "ca.pem"; },
       "tls_client_ca: needs tls_cert"},
      {[](ServerOptions& o) {
         o.tls_cert = "c.pem";
         o.tls_key = "k.pem";
         o.tls_client_ca = "ca.pem";
       },
       ""},
      {[](ServerOptions& o) { o.tls_refresh_seconds = 0; },
       "tls_refresh_seconds"},
      {[](ServerOptions& o) { o.health_listen = "8081"; }, "health_listen"},
      {[](ServerOptions& o) { o.health_listen = "0.0.0.0:8081"; }, ""},
      {[](ServerOptions& o) { o.max_concurrent_streams = 0; },
       "max_concurrent_streams"},
      {[](ServerOptions& o) { o.tokens = "/etc/winnow/tokens"; }, ""},
  };
  for (const Case& c : cases) {
    ServerOptions o;
    c.set(o);
    absl::Status s = ValidateOptions(o);
    if (c.error.empty()) {
      EXPECT_TRUE(s.ok()) << s;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.error;
      EXPECT_NE(s.message().find(c.error), std::string::npos) << s;
    }
  }
  EXPECT_EQ(ServerOptions{}.max_concurrent_streams, 1024);
  EXPECT_TRUE(ServerOptions{}.health_listen.empty());
  EXPECT_TRUE(ServerOptions{}.tokens.empty());
}

TEST(CommandLineTest, SecurityFlagsAndKeys) {
  absl::StatusOr<CommandLine> cl =
      Parse({"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-ca",
             "ca.pem", "--tokens", "t", "--health-listen", "0.0.0.0:8081",
             "--max-concurrent-streams", "7"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->options.tls_cert, "c.pem");
  EXPECT_EQ(cl->options.tls_key, "k.pem");
  EXPECT_EQ(cl->options.tls_client_ca, "ca.pem");
  EXPECT_EQ(cl->options.tokens, "t");
  EXPECT_EQ(cl->options.health_listen, "0.0.0.0:8081");
  EXPECT_EQ(cl->options.max_concurrent_streams, 7);
  ServerOptions o;
  ASSERT_TRUE(ApplyConfigToml("tls_cert = \"a\"\ntls_key = \"b\"\n"
                              "tokens = \"t\"\nmax_concurrent_streams = 3\n",
                              "f.toml", &o)
                  .ok());
  EXPECT_EQ(o.tls_cert, "a");
  EXPECT_EQ(o.tls_key, "b");
  EXPECT_EQ(o.tokens, "t");
  EXPECT_EQ(o.max_concurrent_streams, 3);
  EXPECT_FALSE(Parse({"--tls-cert", "c.pem"}).ok());
}

TEST(CommandLineTest, NoFlagsGivesTheDefaults) {
  absl::StatusOr<CommandLine> cl = Parse({});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_FALSE(cl->exit_now);
  EXPECT_EQ(cl->options.listen, ServerOptions{}.listen);
  EXPECT_EQ(cl->options.data_dir, ServerOptions{}.data_dir);
  EXPECT_TRUE(cl->options.sync_writes);
}

TEST(CommandLineTest, BindingFlagsSetTheirFields) {
  absl::StatusOr<CommandLine> cl =
      Parse({"--data-dir", "/tmp/d", "--listen", "127.0.0.1:0",
             "--metrics-listen", "0.0.0.0:9999", "--max-message-bytes",
             "1048576", "--shutdown-grace-seconds", "3"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->options.data_dir, "/tmp/d");
  EXPECT_EQ(cl->options.listen, "127.0.0.1:0");
  EXPECT_EQ(cl->options.metrics_listen, "0.0.0.0:9999");
  EXPECT_EQ(cl->options.max_message_bytes, 1048576);
  EXPECT_EQ(cl->options.shutdown_grace_seconds, 3);
}

TEST(CommandLineTest, SyncWritesTakesAnExplicitFalse) {
  absl::StatusOr<CommandLine> cl = Parse({"--sync-writes=false"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_FALSE(cl->options.sync_writes);
  cl = Parse({"--sync-writes"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_TRUE(cl->options.sync_writes);
}

TEST(CommandLineTest, UnknownFlagIsAnError) {
  absl::StatusOr<CommandLine> cl = Parse({"--no-such-flag"});
  EXPECT_EQ(cl.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CommandLineTest, BadValueIsAnErrorNamingTheField) {
  absl::StatusOr<CommandLine> cl = Parse({"--listen", "oops"});
  EXPECT_EQ(cl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cl.status().message().find("listen"), std::string::npos);
  cl = Parse({"--max-message-bytes", "lots"});
  EXPECT_EQ(cl.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CommandLineTest, VersionExitsWithoutStarting) {
  absl::StatusOr<CommandLine> cl = Parse({"--version"});
  ASSERT_TRUE(cl.ok());
  EXPECT_TRUE(cl->exit_now);
  EXPECT_NE(cl->output.find("winnowd"), std::string::npos);
}

TEST_F(ConfigFileTest, FileSetsFieldsAndFlagsOverrideIt) {
  std::string path = Write(
      "# winnowd config\n"
      "data_dir = \"/srv/winnow\"\n"
      "listen = \"0.0.0.0:7000\"\n"
      "sync_writes = false\n"
      "max_message_bytes = 2097152\n");
  absl::StatusOr<CommandLine> cl =
      Parse({"--config", path, "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->config_path, path);
  EXPECT_EQ(cl->options.data_dir, "/srv/winnow");     // from the file
  EXPECT_EQ(cl->options.listen, "127.0.0.1:0");       // the flag wins
  EXPECT_FALSE(cl->options.sync_writes);              // from the file
  EXPECT_EQ(cl->options.max_message_bytes, 2097152);  // from the file
  EXPECT_EQ(cl->options.shutdown_grace_seconds,
            ServerOptions{}.shutdown_grace_seconds);  // the default
}

TEST_F(ConfigFileTest, ExplicitFlagOverridesFileEvenWhenItEqualsTheDefault) {
  std::string path = Write("sync_writes = false\n");
  absl::StatusOr<CommandLine> cl =
      Parse({"--sync-writes=true", "--config", path});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_TRUE(cl->options.sync_writes);
}

TEST_F(ConfigFileTest, UnknownKeyIsAnErrorWithItsLine) {
  std::string path = Write("listen = \"127.0.0.1:1\"\nsync_write = false\n");
  absl::StatusOr<CommandLine> cl = Parse({"--config", path});
  ASSERT_EQ(cl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cl.status().message().find("unknown config key 'sync_write'"),
            std::string::npos)
      << cl.status();
  EXPECT_NE(cl.status().message().find(":2"), std::string::npos) << cl.status();
}

TEST_F(ConfigFileTest, WrongTypeIsAnErrorNamingTheKey) {
  std::string path = Write("max_message_bytes = \"64MiB\"\n");
  absl::StatusOr<CommandLine> cl = Parse({"--config", path});
  ASSERT_EQ(cl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(
      cl.status().message().find("max_message_bytes: expected an integer"),
      std::string::npos)
      << cl.status();
}

TEST_F(ConfigFileTest, SyntaxErrorIsReportedWithItsPosition) {
  std::string path = Write("listen = \n");
  absl::StatusOr<CommandLine> cl = Parse({"--config", path});
  ASSERT_EQ(cl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cl.status().message().find(path), std::string::npos) << cl.status();
}

TEST(ConfigTest, MissingFileIsNotFound) {
  absl::StatusOr<CommandLine> cl =
      Parse({"--config", "/nonexistent/winnow.toml"});
  EXPECT_EQ(cl.status().code(), absl::StatusCode::kNotFound);
}

TEST(ConfigTest, BadValuesFromTheFileAreValidated) {
  ServerOptions o;
  ASSERT_TRUE(
      ApplyConfigToml("shutdown_grace_seconds = -5\n", "c.toml", &o).ok());
  EXPECT_EQ(o.shutdown_grace_seconds, -5);
  EXPECT_FALSE(ValidateOptions(o).ok());
}

TEST(ConfigTest, ConfigKeyItselfIsNotAConfigKey) {
  ServerOptions o;
  absl::Status s = ApplyConfigToml("config = \"x.toml\"\n", "c.toml", &o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace winnow::server
