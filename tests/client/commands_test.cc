// winnowctl's commands: argument checks, output formats, and the import
// path end to end against the in-process fake server.
#include "client/winnowctl/commands.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/client/fake_server.h"
#include "tests/client/npy_files.h"

namespace winnow::ctl {
namespace {

using fake::FakeServer;
using fake::FakeState;

TEST(TokenCommandTest, PrintsAFreshTokenAndItsLine) {
  TokenArgs args;
  args.role = "writer";
  args.collections = "web-*";
  args.name = "ingest";
  std::ostringstream first, second;
  ASSERT_TRUE(RunToken(args, first).ok());
  ASSERT_TRUE(RunToken(args, second).ok());
  std::istringstream lines(first.str());
  std::string token, line;
  ASSERT_TRUE(std::getline(lines, token));
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_EQ(token.substr(0, 4), "wnw_");
  EXPECT_EQ(token.size(), 47u);
  EXPECT_EQ(line.substr(0, 19), "role=writer sha256=");
  EXPECT_EQ(line.size(),
            19u + 64u + std::string(" collections=web-* name=ingest").size());
  EXPECT_NE(line.find(" collections=web-* name=ingest"), std::string::npos);
  EXPECT_NE(first.str(), second.str());

  args.collections = "";
  args.name = "";
  std::ostringstream bare;
  ASSERT_TRUE(RunToken(args, bare).ok());
  EXPECT_EQ(bare.str().find("collections="), std::string::npos);
  EXPECT_EQ(bare.str().find("name="), std::string::npos);
}

TEST(TokenCommandTest, FieldsThatWouldBreakTheLineAreUsageErrors) {
  TokenArgs args;
  args.role = "root";
  std::ostringstream out;
  EXPECT_TRUE(IsUsageError(RunToken(args, out)));
  args.role = "reader";
  args.name = "two words";
  EXPECT_TRUE(IsUsageError(RunToken(args, out)));
  args.name = "n";
  args.collections = "web#1";
  EXPECT_TRUE(IsUsageError(RunToken(args, out)));
  EXPECT_EQ(out.str(), "");
}

TEST(SampleRequestTest, DefaultsAreAUniformPlanForRankZeroOfOne) {
  SampleArgs args;
  args.name = "web";
  absl::StatusOr<v1::SampleRequest> r = BuildSampleRequest(args);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->collection(), "web");
  EXPECT_TRUE(r->strategy().has_uniform());
  EXPECT_EQ(r->batch_size(), 32);
  EXPECT_EQ(r->num_epochs(), 1);
  EXPECT_TRUE(r->has_drop_last());
  EXPECT_TRUE(r->drop_last());
  EXPECT_EQ(r->rank(), 0);
  EXPECT_EQ(r->world_size(), 1);
  EXPECT_EQ(r->view(), v1::RESULT_VIEW_IDS);
}

TEST(SampleRequestTest, WeightedWithEveryParameter) {
  SampleArgs args;
  args.name = "web";
  args.filter = "quality > 0.5";
  args.strategy = "weighted";
  args.score = "quality";
  args.weight_function = "softmax";
  args.temperature = 0.5;
  args.seed = 42;
  args.batch_size = 8;
  args.rank = 2;
  args.world_size = 4;
  args.max_batches = 10;
  args.drop_last = false;
  args.view = "ordinals";
  args.run_id = "run-7";
  absl::StatusOr<v1::SampleRequest> r = BuildSampleRequest(args);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->filter(), "quality > 0.5");
  const v1::WeightedStrategy& w = r->strategy().weighted();
  EXPECT_EQ(w.score(), "quality");
  EXPECT_EQ(w.weight_function(), v1::WEIGHT_FUNCTION_SOFTMAX);
  EXPECT_DOUBLE_EQ(w.temperature(), 0.5);
  EXPECT_FALSE(w.has_alpha());
  EXPECT_EQ(r->seed(), 42u);
  EXPECT_EQ(r->batch_size(), 8);
  EXPECT_EQ(r->rank(), 2);
  EXPECT_EQ(r->world_size(), 4);
  EXPECT_EQ(r->max_batches(), 10);
  EXPECT_FALSE(r->drop_last());
  EXPECT_EQ(r->view(), v1::RESULT_VIEW_ORDINALS);
  EXPECT_EQ(r->run_id(), "run-7");
}

TEST(SampleRequestTest, ACursorLeavesThePlanFieldsOut) {
  SampleArgs args;
  args.name = "web";
  args.cursor = "abc";
  args.seed = 9;
  args.rank = 1;
  args.world_size = 3;
  absl::StatusOr<v1::SampleRequest> r = BuildSampleRequest(args);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->cursor(), "abc");
  EXPECT_EQ(r->seed(), 0u);
  EXPECT_EQ(r->batching_case(), v1::SampleRequest::BATCHING_NOT_SET);
  EXPECT_FALSE(r->has_strategy());
  EXPECT_EQ(r->rank(), 1);
  EXPECT_EQ(r->world_size(), 3);
}

TEST(SampleRequestTest, BadFlagsAreNamed) {
  auto error = [](auto mutate) {
    SampleArgs args;
    args.name = "web";
    mutate(args);
    absl::StatusOr<v1::SampleRequest> r = BuildSampleRequest(args);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(IsUsageError(r.status())) << r.status();  // main exits 2
    return std::string(r.status().message());
  };
  EXPECT_EQ(error([](SampleArgs& a) { a.strategy = "weighted"; }),
            "--strategy weighted needs --score");
  EXPECT_EQ(error([](SampleArgs& a) { a.score = "q"; }),
            "--score, --weight-function, --alpha and --temperature apply to "
            "--strategy weighted");
  EXPECT_EQ(error([](SampleArgs& a) {
              a.strategy = "weighted";
              a.score = "q";
              a.alpha = 2;
            }),
            "--alpha applies to --weight-function power");
  EXPECT_EQ(error([](SampleArgs& a) {
              a.strategy = "weighted";
              a.score = "q";
              a.weight_function = "softmax";
              a.temperature = 0;
            }),
            "--temperature must be > 0");
  EXPECT_EQ(error([](SampleArgs& a) {
              a.rank = 2;
              a.world_size = 2;
            }),
            "--rank must be in [0, --world-size) = [0, 2)");
  EXPECT_EQ(error([](SampleArgs& a) { a.world_size = 0; }),
            "--world-size must be at least 1");
  EXPECT_EQ(error([](SampleArgs& a) { a.batch_size = 0; }),
            "--batch-size must be at least 1");
  EXPECT_EQ(error([](SampleArgs& a) { a.view = "full"; }),
            "--view must be ids or ordinals, not 'full'");
}

TEST(FormatTest, SampleBatchAsTextAndJson) {
  v1::SampleResponse response;
  response.set_plan_id("p1");
  response.set_cursor("c2");
  response.mutable_batch()->set_epoch(1);
  response.mutable_batch()->set_global_batch_index(7);
  response.mutable_batch()->add_ids("a");
  response.mutable_batch()->add_ids("b\"q");
  EXPECT_EQ(FormatSampleText(response), "batch 7: a b\"q");
  nlohmann::json json = nlohmann::json::parse(FormatSampleJson(response));
  EXPECT_EQ(json["plan_id"], "p1");
  EXPECT_EQ(json["epoch"], 1);
  EXPECT_EQ(json["global_batch_index"], 7);
  EXPECT_EQ(json["ids"], (std::vector<std::string>{"a", "b\"q"}));
  EXPECT_EQ(json["cursor"], "c2");
  EXPECT_FALSE(json.contains("last_in_epoch"));

  v1::SampleResponse ordinals;
  ordinals.mutable_batch()->set_global_batch_index(3);
  ordinals.mutable_batch()->add_ordinals(10);
  ordinals.mutable_batch()->add_ordinals(11);
  ordinals.mutable_batch()->set_last_in_epoch(true);
  EXPECT_EQ(FormatSampleText(ordinals), "batch 3: 10 11");
  json = nlohmann::json::parse(FormatSampleJson(ordinals));
  EXPECT_EQ(json["ordinals"], (std::vector<uint64_t>{10, 11}));
  EXPECT_EQ(json["last_in_epoch"], true);
}

TEST(FormatTest, FilterLinesAreTabSeparatedWithEmptyNulls) {
  v1::FilterResponse response;
  response.add_ids("a");
  response.add_ids("b");
  response.add_ids("c");
  v1::ScoreColumn* q = response.add_scores();
  q->set_name("q");
  q->add_values(0.1f);
  q->add_values(0);
  q->add_values(2.5f);
  q->add_null_indexes(1);
  v1::ScoreColumn* p = response.add_scores();
  p->set_name("p");
  p->add_values(-1);
  p->add_values(1e-7f);
  p->add_values(0);
  p->add_null_indexes(2);
  EXPECT_EQ(FormatFilterLines(response), "a\t0.1\t-1\nb\t\t1e-07\nc\t2.5\t\n");
  v1::FilterResponse plain;
  plain.add_ids("x");
  EXPECT_EQ(FormatFilterLines(plain), "x\n");
}

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Start();
    absl::MutexLock lock(&state_.mu);
    state_.collections["web"] = 0;
    state_.collections["vec"] = 2;
  }
  void TearDown() override {
    for (const std::string& path : files_) std::remove(path.c_str());
  }

  Client MakeClient() {
    absl::StatusOr<Client> client = Client::Connect(server_.target());
    EXPECT_TRUE(client.ok());
    return *std::move(client);
  }

  std::string WriteFile(const std::string& contents) {
    std::string path = absl::StrCat(::testing::TempDir(), "/winnowctl_",
                                    getpid(), "_", files_.size(), ".jsonl");
    std::ofstream(path) << contents;
    files_.push_back(path);
    return path;
  }

  static std::string Lines(int first, int last, const char* extra = "") {
    std::string out;
    for (int i = first; i <= last; ++i) {
      absl::StrAppend(&out, R"({"id":"doc-)", i, R"(","length":)", i, extra,
                      "}\n");
    }
    return out;
  }

  FakeState state_;
  FakeServer server_{&state_};
  std::vector<std::string> files_;
};

TEST_F(CommandsTest, CreateListDelete) {
  Client client = MakeClient();
  std::ostringstream out;
  CreateArgs create;
  create.name = "new";
  create.embedding_dimension = 4;
  ASSERT_TRUE(RunCreate(client, create, out).ok());
  EXPECT_EQ(out.str(), "created collection 'new' (embedding_dimension 4)\n");
  EXPECT_EQ(RunCreate(client, create, out).code(),
            absl::StatusCode::kAlreadyExists);

  out.str("");
  ASSERT_TRUE(RunList(client, out).ok());  // one collection per page
  EXPECT_EQ(out.str(), "new\t0\t4\nvec\t0\t2\nweb\t0\t0\n");

  out.str("");
  DeleteArgs del;
  del.name = "new";
  const absl::Status no_yes = RunDelete(client, del, out);
  EXPECT_EQ(no_yes.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsUsageError(no_yes)) << no_yes;  // main exits 2
  EXPECT_NE(no_yes.message().find("--yes"), absl::string_view::npos);
  del.yes = true;
  ASSERT_TRUE(RunDelete(client, del, out).ok());
  EXPECT_EQ(out.str(), "deleted collection 'new'\n");
  EXPECT_EQ(RunDelete(client, del, out).code(), absl::StatusCode::kNotFound);
  del.allow_missing = true;
  out.str("");
  ASSERT_TRUE(RunDelete(client, del, out).ok());
  EXPECT_EQ(out.str(), "collection 'new' did not exist\n");
}

TEST_F(CommandsTest, CountFilterSample) {
  {
    absl::MutexLock lock(&state_.mu);
    state_.filter_ids = {"a", "b", "c"};
    state_.sample_batches = {{"a", "b"}, {"c", "a"}};
  }
  Client client = MakeClient();
  std::ostringstream out;
  CountArgs count;
  count.name = "web";
  ASSERT_TRUE(RunCount(client, count, out).ok());
  EXPECT_EQ(out.str(), "3\n");
  count.filter = "bad";
  absl::Status bad = RunCount(client, count, out);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "filter: syntax error at 1:1");
  EXPECT_FALSE(IsUsageError(bad));  // the server's: main exits 1

  out.str("");
  FilterArgs filter;
  filter.name = "web";
  filter.scores = {"q"};
  ASSERT_TRUE(RunFilter(client, filter, out).ok());
  EXPECT_EQ(out.str(), "a\t0\nb\t1\nc\t\n");

  out.str("");
  SampleArgs sample;
  sample.name = "web";
  ASSERT_TRUE(RunSample(client, sample, out).ok());
  EXPECT_EQ(out.str(), "batch 0: a b\nbatch 1: c a\n");
}

TEST(UsageErrorTest, IsMarkedInvalidArgument) {
  const absl::Status usage = UsageError("--alpha applies to power");
  EXPECT_EQ(usage.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(usage.message(), "--alpha applies to power");
  EXPECT_TRUE(IsUsageError(usage));
  EXPECT_FALSE(IsUsageError(absl::InvalidArgumentError("from the server")));
  EXPECT_FALSE(IsUsageError(absl::OkStatus()));
}

TEST_F(CommandsTest, ImportRefusesBadFlagsAsUsageErrors) {
  Client client = MakeClient();
  ImportOptions options;
  options.collection = "web";
  options.path = "/nonexistent.jsonl";
  options.batch_size = 0;
  std::ostringstream out, err;
  absl::Status s = RunImport(client, options, out, err);
  EXPECT_TRUE(IsUsageError(s)) << s;
  EXPECT_EQ(s.message(), "--batch-size must be at least 1");
  options.batch_size = 1;
  options.resume_from_line = 0;
  s = RunImport(client, options, out, err);
  EXPECT_TRUE(IsUsageError(s)) << s;
  EXPECT_EQ(s.message(), "--resume-from-line must be at least 1");
}

TEST_F(CommandsTest, ImportLoadsEveryDocumentInBatches) {
  // Blank lines are skipped; the repeated id goes to a later batch so that
  // the later line wins.
  std::string contents = Lines(1, 10) + "\n   \n" +
                         R"({"id":"doc-3","length":333,"domain":"code"})" +
                         "\n" + Lines(11, 12);
  const std::string path = WriteFile(contents);
  Client client = MakeClient();
  ImportOptions options;
  options.collection = "web";
  options.path = path;
  options.batch_size = 4;
  std::ostringstream out, err;
  absl::Status s = RunImport(client, options, out, err);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(state_.DocumentCount("web"), 12);
  {
    absl::MutexLock lock(&state_.mu);
    const v1::Document& doc3 = state_.documents[{"web", "doc-3"}];
    EXPECT_EQ(doc3.length(), 333);
    EXPECT_EQ(doc3.domain(), "code");
    EXPECT_EQ((state_.documents[{"web", "doc-12"}].length()), 12);
  }
  EXPECT_EQ(out.str().rfind("imported 13 documents from " + path, 0), 0u)
      << out.str();
  EXPECT_EQ(err.str(), "");
}

TEST_F(CommandsTest, ImportStopsAtABadLineAfterFlushingEarlierBatches) {
  const std::string path = WriteFile(
      Lines(1, 7) + R"({"id":"doc-8","length":-5})" + "\n" + Lines(9, 12));
  Client client = MakeClient();
  ImportOptions options;
  options.collection = "web";
  options.path = path;
  options.batch_size = 3;
  ImportResult result;
  absl::Status s = Import(client, options, &result);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            path + ":8: field 'length' must not be negative, got -5");
  EXPECT_EQ(result.bad_line, 8);
  EXPECT_FALSE(IsUsageError(s));  // a bad line is not a usage error
  // Lines 1-6 went in two batches; line 7's batch, holding the bad line,
  // was never sent.
  EXPECT_EQ(result.documents_imported, 6);
  EXPECT_EQ(result.resume_line, 7);
  EXPECT_FALSE(result.complete);
  EXPECT_EQ(state_.DocumentCount("web"), 6);

  // The command prints the line's error, then where to resume.
  std::ostringstream out, err;
  absl::Status command = RunImport(client, options, out, err);
  EXPECT_EQ(err.str(),
            path + ":8: field 'length' must not be negative, got -5\n");
  EXPECT_EQ(command.message(),
            "import stopped at line 8 of " + path +
                ": 6 documents imported before it; fix the line, then "
                "resume with --resume-from-line 7");

  // Fixed, the import resumes from there.
  const std::string fixed = WriteFile(Lines(1, 12));
  options.path = fixed;
  options.resume_from_line = 7;
  ASSERT_TRUE(Import(client, options, &result).ok());
  EXPECT_EQ(result.documents_imported, 6);
  EXPECT_TRUE(result.complete);
  EXPECT_EQ(result.resume_line, 13);
  EXPECT_EQ(state_.DocumentCount("web"), 12);
}

TEST_F(CommandsTest, ImportChecksEmbeddingsAgainstTheCollection) {
  const std::string path = WriteFile(R"({"id":"a","embedding":[1,2]})"
                                     "\n"
                                     R"({"id":"b","embedding":[1,2,3]})"
                                     "\n");
  Client client = MakeClient();
  ImportOptions options;
  options.collection = "vec";
  options.path = path;
  ImportResult result;
  absl::Status s = Import(client, options, &result);
  EXPECT_EQ(s.message(), path +
                             ":2: field 'embedding' has 3 values; the "
                             "collection's embedding_dimension is 2");
  EXPECT_EQ(result.documents_imported, 0);
  EXPECT_EQ(result.resume_line, 1);
}

TEST_F(CommandsTest, ImportIntoAMissingCollectionFailsBeforeReading) {
  Client client = MakeClient();
  ImportOptions options;
  options.collection = "nope";
  options.path = "/nonexistent.jsonl";
  ImportResult result;
  EXPECT_EQ(Import(client, options, &result).code(),
            absl::StatusCode::kNotFound);
  options.collection = "web";
  EXPECT_EQ(Import(client, options, &result).code(),
            absl::StatusCode::kNotFound);  // the file
}

TEST_F(CommandsTest, ImportResendsAcrossBrokenStreams) {
  {
    absl::MutexLock lock(&state_.mu);
    state_.break_after_apply = {2, 5};
  }
  const std::string path = WriteFile(Lines(1, 100));
  Client client = MakeClient();
  ImportOptions options;
  options.collection = "web";
  options.path = path;
  options.batch_size = 7;
  options.writer.initial_backoff = absl::Milliseconds(5);
  ImportResult result;
  absl::Status s = Import(client, options, &result);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(result.documents_imported, 100);
  EXPECT_EQ(result.batches, 15);
  EXPECT_GT(result.resends, 0);
  EXPECT_EQ(state_.DocumentCount("web"), 100);
}

TEST_F(CommandsTest, ImportPrintsPlainProgressLinesOffATerminal) {
  const std::string path = WriteFile(Lines(1, 1000));
  Client client = MakeClient();
  std::ostringstream progress;
  ImportOptions options;
  options.collection = "web";
  options.path = path;
  options.batch_size = 100;
  options.progress = &progress;
  options.progress_tty = false;
  options.progress_interval = absl::ZeroDuration();
  ImportResult result;
  ASSERT_TRUE(Import(client, options, &result).ok());
  EXPECT_EQ(progress.str().rfind("import: ", 0), 0u) << progress.str();
  EXPECT_NE(progress.str().find("% of the file"), std::string::npos);
  EXPECT_EQ(progress.str().find('\r'), std::string::npos);  // no bar
}

TEST_F(CommandsTest, AnInterruptedImportSaysWhereToResume) {
  const std::string path = WriteFile(Lines(1, 10));
  Client client = MakeClient();
  std::atomic<bool> interrupted{true};
  ImportOptions options;
  options.collection = "web";
  options.path = path;
  options.interrupted = &interrupted;
  std::ostringstream out, err;
  absl::Status s = RunImport(client, options, out, err);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(s.message(),
            "import interrupted: 0 documents imported; resume with "
            "--resume-from-line 1");
}

// --- import --embeddings F.npy ---

class ImportEmbeddingsTest : public CommandsTest {
 protected:
  // Imports `jsonl` with `npy` into "vec" (embedding_dimension 2).
  absl::Status Run(const std::string& jsonl, const std::string& npy,
                   ImportResult* result, int64_t resume_from_line = 1) {
    ImportOptions options;
    options.collection = "vec";
    options.path = WriteFile(jsonl);
    options.embeddings_path = testing_npy::WriteTemp(npy);
    options.resume_from_line = resume_from_line;
    options.batch_size = 2;
    paths_ = {options.path, options.embeddings_path};
    files_.push_back(options.embeddings_path);
    return Import(MakeClient(), options, result);
  }

  std::vector<float> Embedding(const std::string& id) {
    absl::MutexLock lock(&state_.mu);
    auto it = state_.embeddings.find({"vec", id});
    return it == state_.embeddings.end() ? std::vector<float>() : it->second;
  }

  std::vector<std::string> paths_;  // the JSONL and the .npy of Run()
};

TEST_F(ImportEmbeddingsTest, RowIOfTheFileIsTheIthDocument) {
  ImportResult result;
  // A blank line holds no document and takes no row.
  absl::Status s =
      Run("{\"id\":\"a\"}\n\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n",
          testing_npy::Float32Npy(3, 2, {1, 2, 3, 4, 5, 6}), &result);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(result.documents_imported, 3);
  EXPECT_EQ(Embedding("a"), (std::vector<float>{1, 2}));
  EXPECT_EQ(Embedding("b"), (std::vector<float>{3, 4}));
  EXPECT_EQ(Embedding("c"), (std::vector<float>{5, 6}));
}

TEST_F(ImportEmbeddingsTest, Float16AndResumeFromALine) {
  // 1, 2, 3, 4, 5, 6 as float16.
  const uint16_t halves[] = {0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600};
  const std::string npy = testing_npy::NpyBytes(
      testing_npy::NpyDict("<f2", 3, 2),
      std::string(reinterpret_cast<const char*>(halves), sizeof(halves)));
  ImportResult result;
  absl::Status s = Run("{\"id\":\"a\"}\n\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n",
                       npy, &result, /*resume_from_line=*/3);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(result.documents_imported, 2);
  EXPECT_EQ(Embedding("a"), std::vector<float>());
  EXPECT_EQ(Embedding("b"), (std::vector<float>{3, 4}));
  EXPECT_EQ(Embedding("c"), (std::vector<float>{5, 6}));
}

TEST_F(ImportEmbeddingsTest, MismatchesAreRefusedBeforeAnythingIsSent) {
  ImportResult result;
  absl::Status s =
      Run("{\"id\":\"a\"}\n{\"id\":\"b\"}\n",
          testing_npy::Float32Npy(3, 2, {1, 2, 3, 4, 5, 6}), &result);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), paths_[1] + " has 3 rows but " + paths_[0] +
                             " has 2 documents (non-blank lines): row i is "
                             "the embedding of document i");
  s = Run("{\"id\":\"a\"}\n{\"id\":\"b\"}\n",
          testing_npy::Float32Npy(2, 3, {1, 2, 3, 4, 5, 6}), &result);
  EXPECT_EQ(s.message(), paths_[1] +
                             ": rows of 3 values, but collection 'vec' has "
                             "embedding_dimension 2");
  s = Run("{\"id\":\"a\"}\n",
          testing_npy::NpyBytes(
              "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }",
              testing_npy::FloatBytes({1, 2})),
          &result);
  EXPECT_EQ(s.message(), paths_[1] +
                             ": fortran_order is True: save the array in C "
                             "order (np.ascontiguousarray)");
  EXPECT_EQ(state_.DocumentCount("vec"), 0);
}

TEST_F(ImportEmbeddingsTest, ALineWithItsOwnEmbeddingIsABadLine) {
  ImportResult result;
  absl::Status s = Run(
      "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\",\"embedding\":[0,1]}\n",
      testing_npy::Float32Npy(3, 2, {1, 2, 3, 4, 5, 6}), &result);
  EXPECT_EQ(result.bad_line, 3);
  EXPECT_EQ(s.message(), paths_[0] +
                             ":3: field 'embedding': not allowed with "
                             "--embeddings " +
                             paths_[1] +
                             ", which gives every document's embedding");
  EXPECT_EQ(result.documents_imported, 2);  // the batch before the line
}

TEST_F(ImportEmbeddingsTest, ACollectionWithoutEmbeddingsIsRefused) {
  ImportOptions options;
  options.collection = "web";
  options.path = WriteFile("{\"id\":\"a\"}\n");
  options.embeddings_path =
      testing_npy::WriteTemp(testing_npy::Float32Npy(1, 2, {1, 2}));
  ImportResult result;
  absl::Status s = Import(MakeClient(), options, &result);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), "has no embeddings")) << s;
}

}  // namespace
}  // namespace winnow::ctl
