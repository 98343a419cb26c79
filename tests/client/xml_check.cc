#include "tests/client/xml_check.h"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <vector>

namespace ablate::client::testing {
namespace {

bool NameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' ||
         c == '.';
}

// Checks entity references in character data or attribute values.
std::string CheckText(const std::string& s, size_t at) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<') return "raw '<' in text at " + std::to_string(at + i);
    if (s[i] != '&') continue;
    const size_t semi = s.find(';', i);
    if (semi == std::string::npos) return "unterminated entity at " + std::to_string(at + i);
    const std::string ent = s.substr(i + 1, semi - i - 1);
    if (ent != "amp" && ent != "lt" && ent != "gt" && ent != "quot" && ent != "apos" &&
        ent.rfind("#", 0) != 0) {
      return "unknown entity &" + ent + "; at " + std::to_string(at + i);
    }
  }
  return "";
}

// Parses attributes in `s` (the inside of a tag after its name).
std::string CheckAttrs(const std::string& s, size_t at) {
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i >= s.size()) break;
    const size_t start = i;
    while (i < s.size() && NameChar(s[i])) ++i;
    if (i == start || i >= s.size() || s[i] != '=') return "bad attribute at " + std::to_string(at + start);
    ++i;
    if (i >= s.size() || (s[i] != '"' && s[i] != '\'')) {
      return "unquoted attribute at " + std::to_string(at + i);
    }
    const size_t end = s.find(s[i], i + 1);
    if (end == std::string::npos) return "unterminated attribute at " + std::to_string(at + i);
    if (std::string e = CheckText(s.substr(i + 1, end - i - 1), at + i); !e.empty()) return e;
    i = end + 1;
  }
  return "";
}

}  // namespace

std::string XmlProblem(const std::string& xml) {
  std::vector<std::string> stack;
  int roots = 0;
  size_t i = 0;
  while (i < xml.size()) {
    if (xml[i] != '<') {
      const size_t next = xml.find('<', i);
      const std::string text = xml.substr(i, next - i);
      if (stack.empty() && text.find_first_not_of(" \t\r\n") != std::string::npos) {
        return "text outside the root at " + std::to_string(i);
      }
      if (std::string e = CheckText(text, i); !e.empty()) return e;
      if (next == std::string::npos) break;
      i = next;
      continue;
    }
    const size_t close = xml.find('>', i);
    if (close == std::string::npos) return "unterminated tag at " + std::to_string(i);
    std::string tag = xml.substr(i + 1, close - i - 1);
    if (tag.rfind("?", 0) == 0) {
      if (i != 0 || tag.back() != '?') return "misplaced declaration at " + std::to_string(i);
    } else if (tag.rfind("/", 0) == 0) {
      if (stack.empty() || stack.back() != tag.substr(1)) return "mismatched </" + tag.substr(1) + ">";
      stack.pop_back();
    } else {
      const bool empty = !tag.empty() && tag.back() == '/';
      if (empty) tag.pop_back();
      size_t n = 0;
      while (n < tag.size() && NameChar(tag[n])) ++n;
      if (n == 0) return "bad tag at " + std::to_string(i);
      if (std::string e = CheckAttrs(tag.substr(n), i + 1 + n); !e.empty()) return e;
      if (stack.empty() && ++roots > 1) return "more than one root element";
      if (!empty) stack.push_back(tag.substr(0, n));
    }
    i = close + 1;
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  return roots == 1 ? "" : "no root element";
}

std::string XmllintProblem(const std::string& xml) {
  const std::string tool = ABLATE_XMLLINT;
  if (tool.empty() || access(tool.c_str(), X_OK) != 0) return "";
  char name[] = "/tmp/ablate_svg_XXXXXX";
  const int fd = mkstemp(name);
  if (fd < 0) return "mkstemp failed";
  close(fd);
  std::ofstream(name) << xml;
  const std::string cmd = tool + " --noout " + name + " 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (fgets(buf, sizeof(buf), p)) out += buf;
    if (pclose(p) != 0 && out.empty()) out = "xmllint failed";
  }
  unlink(name);
  return out;
}

int Count(const std::string& hay, const std::string& needle) {
  int n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace ablate::client::testing
