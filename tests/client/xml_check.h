// Test helpers for SVG output: a small XML well-formedness check (tags balanced, attributes
// quoted, entities known, one root) and xmllint when it is installed.
#ifndef ABLATE_TESTS_CLIENT_XML_CHECK_H_
#define ABLATE_TESTS_CLIENT_XML_CHECK_H_

#include <string>

namespace ablate::client::testing {

// Empty when `xml` is well-formed; else what is wrong and where.
std::string XmlProblem(const std::string& xml);

// Runs `xmllint --noout` on the text when ABLATE_XMLLINT names an executable: empty when it
// passes or xmllint is missing, else xmllint's complaint.
std::string XmllintProblem(const std::string& xml);

// Occurrences of `needle` in `hay`.
int Count(const std::string& hay, const std::string& needle);

}  // namespace ablate::client::testing

#endif  // ABLATE_TESTS_CLIENT_XML_CHECK_H_
