#include "lib/man/man_page.h"

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "common/file_io.h"

namespace cairn::man {
namespace {

// Text made safe for roff: backslashes escaped, a leading '.' or '\'' not read as a request,
// hyphens kept as hyphens (so that option names copy and search correctly).
std::string escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

std::string upper(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return text;
}

std::string join(const std::vector<std::string>& words, std::string_view between) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += between;
    out += w;
  }
  return out;
}

// A CLI11 description as roff: blank lines start paragraphs, indented lines (examples) are kept
// as they are, everything else is filled.
std::string paragraphs(std::string_view text) {
  std::string out;
  bool in_example = false;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(begin, end - begin);
    const bool example = line.starts_with("  ");
    if (example != in_example) {
      out += example ? ".PP\n.RS 4\n.nf\n" : ".fi\n.RE\n";
      in_example = example;
    }
    if (line.empty()) {
      if (!in_example) out += ".PP\n";
    } else {
      out += escape(example ? line.substr(2) : line) + "\n";
    }
    begin = end + 1;
  }
  if (in_example) out += ".fi\n.RE\n";
  return out;
}

// The page name of a command: "cairnd" + {"user", "add"} -> "cairnd-user-add".
std::string page_name(const PageSet& set, const std::vector<std::string>& words) {
  return words.empty() ? set.program : set.program + "-" + join(words, "-");
}

// What NAME says after the dash: the description's first line, without a leading "prog - ".
std::string summary(const CLI::App& app, const PageSet& set) {
  std::string first = app.get_description().substr(0, app.get_description().find('\n'));
  if (first.starts_with(set.program + " - ")) first = first.substr(set.program.size() + 3);
  if (const size_t stop = first.find(". "); stop != std::string::npos) first.resize(stop);
  if (!first.empty() && first.back() == '.') first.pop_back();
  return first;
}

bool visible(const CLI::Option* o) { return !o->get_group().empty(); }
bool visible_command(const CLI::App* a) {
  return !a->get_group().empty() && !a->get_name().empty();
}

// What an option's value is, from CLI11's type name: "TEXT:FILE" -> "FILE", "INT:INT in [1 -
// 256]" -> "INT in [1 - 256]", "" for a flag.
std::string value_kind(const CLI::Option* o) {
  if (o->get_type_size() == 0) return "";
  const std::string full = o->get_type_name();
  const size_t colon = full.find(':');
  if (colon == std::string::npos) return full;
  const std::string base = full.substr(0, colon);
  const std::string checked = full.substr(colon + 1);
  const bool word = !checked.empty() &&
                    checked.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string::npos;
  return word || checked.starts_with(base) ? checked : base;
}

std::string argument_name(const CLI::Option* o) {
  const std::string name = o->get_name(true, false);
  return upper(name.empty() ? value_kind(o) : name);
}

std::string synopsis(const CLI::App& app, const std::vector<std::string>& words,
                     const PageSet& set) {
  std::string out = ".SY " + escape(set.program) + "\n";
  if (!words.empty()) out += escape(join(words, " ")) + "\n";
  out += "[\\fIOPTIONS\\fR]\n";
  for (const CLI::Option* o : app.get_options(visible)) {
    if (!o->get_positional()) continue;
    std::string arg = "\\fI" + escape(argument_name(o)) + "\\fR";
    if (o->get_expected_max() > 1 && arg.find("...") == std::string::npos) arg += "\\&...";
    out += o->get_required() ? arg + "\n" : "[" + arg + "]\n";
  }
  if (!app.get_subcommands(visible_command).empty()) out += "\\fICOMMAND\\fR\n";
  return out + ".YS\n";
}

// "-h, --help", "--data \fIDIR\fR": an option's names in bold, its value's kind in italics.
std::string option_head(const CLI::Option* o) {
  std::vector<std::string> names;
  for (const auto& s : o->get_snames()) names.push_back("\\fB\\-" + escape(s) + "\\fR");
  for (const auto& l : o->get_lnames()) names.push_back("\\fB\\-\\-" + escape(l) + "\\fR");
  std::string head = join(names, ", ");
  if (const std::string type = value_kind(o); !type.empty()) {
    head += " \\fI" + escape(type) + "\\fR";
  }
  return head;
}

std::string option_text(const CLI::Option* o) {
  std::string text = o->get_description();
  if (!o->get_default_str().empty()) text += " (default: " + o->get_default_str() + ")";
  if (!o->get_envname().empty()) text += " (environment: " + o->get_envname() + ")";
  return paragraphs(text);
}

std::string options(const CLI::App& app) {
  std::string positional;
  std::string named;
  for (const CLI::Option* o : app.get_options(visible)) {
    if (o->get_positional()) {
      positional += ".TP\n\\fI" + escape(argument_name(o)) + "\\fR\n" + option_text(o);
    } else {
      named += ".TP\n" + option_head(o) + "\n" + option_text(o);
    }
  }
  std::string out;
  if (!positional.empty()) out += ".SH ARGUMENTS\n" + positional;
  if (!named.empty()) out += ".SH OPTIONS\n" + named;
  return out;
}

std::string see_also(const CLI::App& app, const std::vector<std::string>& words,
                     const PageSet& set) {
  std::vector<std::string> refs;
  const auto ref = [&set](const std::vector<std::string>& w) {
    return "\\fB" + escape(page_name(set, w)) + "\\fR(" + std::to_string(set.section) + ")";
  };
  if (!words.empty()) {
    refs.push_back(ref({words.begin(), words.end() - 1}));
  }
  for (const CLI::App* sub : app.get_subcommands(visible_command)) {
    auto w = words;
    w.push_back(sub->get_name());
    refs.push_back(ref(w));
  }
  return refs.empty() ? "" : ".SH SEE ALSO\n" + join(refs, ",\n") + "\n";
}

void collect(const CLI::App& app, std::vector<std::string>& words, const PageSet& set,
             std::vector<std::pair<std::string, std::string>>& pages) {
  pages.emplace_back(page_name(set, words), render(app, words, set));
  for (const CLI::App* sub : app.get_subcommands(visible_command)) {
    words.push_back(sub->get_name());
    collect(*sub, words, set, pages);
    words.pop_back();
  }
}

}  // namespace

std::string render(const CLI::App& app, const std::vector<std::string>& words, const PageSet& set) {
  const std::string name = page_name(set, words);
  std::string out = ".\\\" Written by " + set.program +
                    " --write-man-pages from its command-line definitions; do not edit.\n";
  out += ".TH \"" + escape(upper(name)) + "\" \"" + std::to_string(set.section) + "\" \"\" \"" +
         escape(set.version) + "\" \"Cairn Manual\"\n";
  out += ".SH NAME\n" + escape(name) + " \\- " + escape(summary(app, set)) + "\n";
  out += ".SH SYNOPSIS\n" + synopsis(app, words, set);
  out += ".SH DESCRIPTION\n" + paragraphs(app.get_description());
  out += options(app);
  const auto subs = app.get_subcommands(visible_command);
  if (!subs.empty()) {
    out += ".SH COMMANDS\n";
    for (const CLI::App* sub : subs) {
      out += ".TP\n\\fB" + escape(sub->get_name()) + "\\fR\n" + escape(summary(*sub, set)) + "\n";
    }
  }
  if (!app.get_footer().empty()) out += ".SH NOTES\n" + paragraphs(app.get_footer());
  if (!words.empty()) {
    out += ".PP\nOptions of \\fB" + escape(set.program) + "\\fR(" + std::to_string(set.section) +
           ") that every command takes are described there.\n";
  }
  return out + see_also(app, words, set);
}

Result<std::vector<std::string>> write_pages(const CLI::App& app, const PageSet& set,
                                             const std::string& folder) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) return make_error(ErrorCode::kIo, "cannot create " + folder + ": " + ec.message());
  std::vector<std::pair<std::string, std::string>> pages;
  std::vector<std::string> words;
  collect(app, words, set, pages);
  std::vector<std::string> written;
  for (const auto& [name, text] : pages) {
    const std::string file = folder + "/" + name + "." + std::to_string(set.section);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) return errno_error("cannot write " + file);
    written.push_back(file);
  }
  return written;
}

int write_pages_if_asked(int argc, char** argv, const CLI::App& app, const PageSet& set) {
  if (argc != 3 || std::string_view(argv[1]) != "--write-man-pages") return -1;
  auto written = write_pages(app, set, argv[2]);
  if (!written) {
    std::fprintf(stderr, "%s: %s\n", set.program.c_str(), written.error().message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace cairn::man
