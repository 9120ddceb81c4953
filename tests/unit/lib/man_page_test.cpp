#include "lib/man/man_page.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace cairn::man {
namespace {

// A small program shaped like cairnd: a global option, a command with a positional, a flag, an
// option with a default and an environment variable, a nested command and hidden things.
struct Tool {
  CLI::App app{"tool - does things.\n\nExample:\n  tool run .hidden\\path\n"};
  std::string data = "./data";
  std::string name;
  bool force = false;
  int workers = 4;

  Tool() {
    app.add_option("-C", data, "Run in DIR")->type_name("DIR");
    auto* run = app.add_subcommand("run", "Run a thing. Then stop");
    run->add_option("NAME", name, "What to run")->required();
    run->add_flag("-f,--force", force, "Even if it ran");
    run->add_option("--workers", workers, "Threads")->capture_default_str()->envname("TOOL_N");
    run->add_option("--secret", name, "Not for users")->group("");
    run->footer("Exit codes: 0 ok.\n.cairn folders are skipped.");
    auto* user = app.add_subcommand("user", "Accounts");
    user->add_subcommand("add", "Add an account");
    app.add_subcommand("internal", "Hidden")->group("");
  }
};

const PageSet kSet{"tool", 8, "tool 1.2"};

TEST(ManPageTest, NamesSynopsisOptionsAndNotes) {
  Tool t;
  const std::string page = render(*t.app.get_subcommand("run"), {"run"}, kSet);
  EXPECT_NE(page.find(".TH \"TOOL\\-RUN\" \"8\" \"\" \"tool 1.2\""), std::string::npos) << page;
  // NAME: the description's first sentence.
  EXPECT_NE(page.find(".SH NAME\ntool\\-run \\- Run a thing\n"), std::string::npos) << page;
  EXPECT_NE(page.find(".SY tool\nrun\n[\\fIOPTIONS\\fR]\n\\fINAME\\fR\n.YS"), std::string::npos)
      << page;
  EXPECT_NE(page.find("\\fB\\-f\\fR, \\fB\\-\\-force\\fR\n"), std::string::npos) << page;
  EXPECT_NE(page.find("\\fB\\-\\-workers\\fR \\fIINT\\fR\nThreads (default: 4) (environment: "
                      "TOOL_N)"),
            std::string::npos)
      << page;
  EXPECT_EQ(page.find("secret"), std::string::npos) << "hidden options stay out";
  // A line starting with '.' would be a roff request.
  EXPECT_NE(page.find(".SH NOTES\nExit codes: 0 ok.\n\\&.cairn folders are skipped.\n"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find(".SH SEE ALSO\n\\fBtool\\fR(8)"), std::string::npos) << page;
}

TEST(ManPageTest, EscapesRoffAndKeepsExamplesAsTheyAre) {
  Tool t;
  const std::string page = render(t.app, {}, kSet);
  // The example line keeps its layout, its backslash escaped; no line starts a roff request by
  // accident.
  EXPECT_NE(page.find(".nf\ntool run .hidden\\epath\n.fi"), std::string::npos) << page;
  EXPECT_NE(page.find(".SH COMMANDS\n.TP\n\\fBrun\\fR\nRun a thing\n.TP\n\\fBuser\\fR\nAccounts\n"),
            std::string::npos)
      << page;
  EXPECT_EQ(page.find("internal"), std::string::npos) << "hidden commands stay out";
  EXPECT_NE(page.find("\\fBtool\\-user\\fR(8)"), std::string::npos) << page;
  EXPECT_NE(page.find("\\fB\\-C\\fR \\fIDIR\\fR"), std::string::npos) << page;
}

TEST(ManPageTest, WritesOnePagePerCommandAtEveryDepth) {
  Tool t;
  const auto dir =
      std::filesystem::temp_directory_path() / ("cairn-man-test-" + std::to_string(::getpid()));
  auto written = write_pages(t.app, kSet, dir.string());
  ASSERT_TRUE(written.has_value()) << written.error().message();
  std::vector<std::string> names;
  for (const auto& file : *written) names.push_back(std::filesystem::path(file).filename());
  EXPECT_EQ(names,
            (std::vector<std::string>{"tool.8", "tool-run.8", "tool-user.8", "tool-user-add.8"}));
  std::ifstream in(dir / "tool-user-add.8");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("tool\\-user\\-add \\- Add an account"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(ManPageTest, AFolderThatCannotBeMadeIsAnError) {
  Tool t;
  auto written = write_pages(t.app, kSet, "/proc/cairn-no-such-place/man");
  ASSERT_FALSE(written.has_value());
  EXPECT_NE(written.error().message().find("/proc/cairn-no-such-place"), std::string::npos);
}

TEST(ManPageTest, OnlyTheExactArgumentsWritePages) {
  Tool t;
  char prog[] = "tool";
  char flag[] = "--write-man-pages";
  char other[] = "run";
  char* asked[] = {prog, flag, other};
  char* not_asked[] = {prog, other, flag};
  EXPECT_EQ(write_pages_if_asked(3, not_asked, t.app, kSet), -1);
  EXPECT_EQ(write_pages_if_asked(2, asked, t.app, kSet), -1);
  const auto dir =
      std::filesystem::temp_directory_path() / ("cairn-man-asked-" + std::to_string(::getpid()));
  std::string folder = dir.string();
  char* asked_here[] = {prog, flag, folder.data()};
  EXPECT_EQ(write_pages_if_asked(3, asked_here, t.app, kSet), 0);
  EXPECT_TRUE(std::filesystem::exists(dir / "tool-user-add.8"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cairn::man
