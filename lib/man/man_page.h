#pragma once

// Manual pages written from a program's CLI11 definitions, so that `man cairn-push` and
// `cairn push --help` come from one source and never drift. One page for the program and one per
// subcommand (at any depth): NAME, SYNOPSIS, DESCRIPTION, OPTIONS, COMMANDS, the footer's text
// under NOTES, and SEE ALSO. Hidden options and commands (empty group) are left out.

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common/error.h"

namespace cairn::man {

struct PageSet {
  std::string program;  // "cairn": pages are cairn.SECTION, cairn-push.SECTION, ...
  int section = 1;
  std::string version;  // Shown in the page footer, e.g. "cairn 0.1.0".
};

// The roff text of the page for `app`, a subcommand of `set.program` (or the program itself),
// named by its words ("cairnd user add" -> {"user", "add"}).
std::string render(const CLI::App& app, const std::vector<std::string>& words, const PageSet& set);

// Writes every page into `folder` (created if missing) and returns the files written.
Result<std::vector<std::string>> write_pages(const CLI::App& app, const PageSet& set,
                                             const std::string& folder);

// For a program's main(): when argv is `PROGRAM --write-man-pages FOLDER`, writes the pages and
// returns the exit code (0, or 1 with the error on stderr); otherwise returns -1 and the program
// goes on. The build runs this to make the pages it installs.
int write_pages_if_asked(int argc, char** argv, const CLI::App& app, const PageSet& set);

}  // namespace cairn::man
