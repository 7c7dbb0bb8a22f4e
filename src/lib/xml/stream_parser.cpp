// SPDX-License-Identifier: MIT
#include "xml/stream_parser.hpp"

#include <expat.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <unordered_map>

namespace xnet::xml {

namespace {
constexpr std::string_view kXmlNs = "http://www.w3.org/XML/1998/namespace";

// Dormant streams that declare the same root namespaces (every client of one server, nearly)
// share one copy of the root tag; the last stream to let go of it removes it from the pool.
std::shared_ptr<const std::string> intern_head(std::string head) {
  // Never destroyed: a head may outlive every other static at exit.
  static auto& mu = *new std::mutex;
  static auto& pool = *new std::unordered_map<std::string_view, std::weak_ptr<const std::string>>;
  std::lock_guard lock(mu);
  if (auto it = pool.find(head); it != pool.end()) {
    if (auto shared = it->second.lock()) return shared;
    pool.erase(it);  // its last holder is going away right now
  }
  std::shared_ptr<const std::string> shared(new std::string(std::move(head)), [](const std::string* s) {
    {
      std::lock_guard relock(mu);
      auto it = pool.find(*s);
      if (it != pool.end() && it->first.data() == s->data()) pool.erase(it);
    }
    delete s;
  });
  pool.emplace(*shared, shared);
  return shared;
}
}  // namespace

struct StreamParser::Impl {
  StreamHandler& handler;
  StreamLimits limits;
  XML_Parser parser = nullptr;
  // Namespace scope per open element: prefix ("" = default) → URI.
  std::vector<std::map<std::string, std::string>> scopes;
  std::vector<Element> stack;  // elements under construction (depth >= 1, or root in document mode)
  std::size_t depth = 0;
  XML_Index stanza_start = -1;
  XML_Index fed = 0;         // bytes handed to expat so far
  XML_Index last_event = 0;  // byte index of the last callback
  XML_Index rest = -1;       // end of the last complete top-level item (root tag, stanza, whitespace)
  bool waking = false;       // feeding the synthetic root after hibernation
  std::string root_qname;    // the root's tag as sent (the synthetic root repeats it)
  std::size_t event_end = 0;  // just past the element whose end callback runs
  std::size_t start_end = 0;  // just past the last start tag
  bool failed = false;
  bool is_open = false;
  std::string condition;
  std::string message;

  Impl(StreamHandler& h, StreamLimits l) : handler(h), limits(l) {}
  ~Impl() {
    if (parser) XML_ParserFree(parser);
  }

  void create() {
    make_parser();
    scopes.clear();
    stack.clear();
    depth = 0;
    stanza_start = -1;
    fed = 0;
    last_event = 0;
    event_end = 0;
    rest = -1;
    failed = false;
    is_open = false;
    condition.clear();
    message.clear();
  }

  // The root open tag with the root's namespace declarations: what a dormant parser
  // (hibernate()) keeps instead of this object, and feeds a new expat parser when it comes back.
  std::string root_head() const {
    std::string head = "<" + (root_qname.empty() ? std::string("r") : root_qname);
    if (!scopes.empty())
      for (const auto& [prefix, uri] : scopes.front())
        head += (prefix.empty() ? std::string(" xmlns") : " xmlns:" + prefix) + "='" + escape_attr(uri) + "'";
    head += ">";
    return head;
  }

  // A dormant parser comes back: a new expat parser is fed the saved root open tag, without
  // telling the handler (the scopes are rebuilt from it).
  void wake(const std::string& head) {
    make_parser();
    waking = true;
    XML_Parse(parser, head.data(), static_cast<int>(head.size()), XML_FALSE);
    waking = false;
    is_open = true;
    fed = static_cast<XML_Index>(head.size());
    last_event = fed;
    rest = fed;
  }

  void make_parser() {
    if (parser) XML_ParserFree(parser);
    parser = XML_ParserCreate("UTF-8");
    XML_SetUserData(parser, this);
    XML_SetElementHandler(parser, &Impl::start_cb, &Impl::end_cb);
    XML_SetCharacterDataHandler(parser, &Impl::text_cb);
    XML_SetStartDoctypeDeclHandler(parser, &Impl::doctype_cb);
    XML_SetEntityDeclHandler(parser, &Impl::entity_cb);
    XML_SetProcessingInstructionHandler(parser, &Impl::pi_cb);
    XML_SetCommentHandler(parser, &Impl::comment_cb);
    XML_SetXmlDeclHandler(parser, &Impl::decl_cb);
    // Never load external entities or DTD subsets.
    XML_SetParamEntityParsing(parser, XML_PARAM_ENTITY_PARSING_NEVER);
  }

  void stop(std::string cond, std::string msg) {
    if (failed) return;
    failed = true;
    condition = std::move(cond);
    message = std::move(msg);
    XML_StopParser(parser, XML_FALSE);
  }

  std::string lookup(const std::string& prefix) const {
    if (prefix == "xml") return std::string(kXmlNs);
    for (auto it = scopes.rbegin(); it != scopes.rend(); ++it) {
      auto f = it->find(prefix);
      if (f != it->end()) return f->second;
    }
    return {};
  }

  bool stanza_mode_root() const { return !limits.document_mode && depth == 1; }

  // Called inside callbacks: the current index is where expat is.
  void check_size() {
    auto now = XML_GetCurrentByteIndex(parser);
    if (now >= 0) last_event = now;
    if (stanza_start < 0) return;
    if (now >= 0 && static_cast<std::size_t>(now - stanza_start) > limits.max_stanza_bytes)
      stop("policy-violation", "stanza larger than " + std::to_string(limits.max_stanza_bytes) + " bytes");
  }

  // Called between chunks: bytes expat holds without an event (a huge start tag) or the
  // bytes of an unfinished stanza must stay under the limit too.
  void check_buffered() {
    auto since = static_cast<std::size_t>(fed - (stanza_start >= 0 ? stanza_start : last_event));
    if (since > limits.max_stanza_bytes + 1)
      stop("policy-violation", "stanza larger than " + std::to_string(limits.max_stanza_bytes) + " bytes");
  }

  static void start_cb(void* ud, const XML_Char* name, const XML_Char** atts) {
    static_cast<Impl*>(ud)->start(name, atts);
  }
  static void end_cb(void* ud, const XML_Char*) { static_cast<Impl*>(ud)->end(); }
  static void text_cb(void* ud, const XML_Char* s, int len) { static_cast<Impl*>(ud)->chars(s, len); }
  static void doctype_cb(void* ud, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    static_cast<Impl*>(ud)->stop("restricted-xml", "DTDs are not allowed");
  }
  static void entity_cb(void* ud, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                        const XML_Char*, const XML_Char*, const XML_Char*) {
    static_cast<Impl*>(ud)->stop("restricted-xml", "entity declarations are not allowed");
  }
  static void pi_cb(void* ud, const XML_Char*, const XML_Char*) {
    static_cast<Impl*>(ud)->stop("restricted-xml", "processing instructions are not allowed");
  }
  // RFC 6120 §11.6: UTF-8 only.
  static void decl_cb(void* ud, const XML_Char*, const XML_Char* encoding, int) {
    if (!encoding) return;
    std::string e(encoding);
    for (auto& ch : e) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (e != "UTF-8" && e != "UTF8")
      static_cast<Impl*>(ud)->stop("unsupported-encoding", "only UTF-8 streams are accepted");
  }
  static void comment_cb(void* ud, const XML_Char*) {
    static_cast<Impl*>(ud)->stop("restricted-xml", "comments are not allowed");
  }

  void start(const XML_Char* qname, const XML_Char** atts) {
    if (failed) return;
    ++depth;
    check_size();
    if (auto i = XML_GetCurrentByteIndex(parser); i >= 0)
      start_end = static_cast<std::size_t>(i + XML_GetCurrentByteCount(parser));
    if (depth > limits.max_depth) {
      stop("policy-violation", "XML nested deeper than " + std::to_string(limits.max_depth));
      return;
    }
    std::map<std::string, std::string> scope;
    std::vector<std::pair<std::string, std::string>> plain;
    std::vector<std::pair<std::string, std::string>> decls;
    for (int i = 0; atts[i]; i += 2) {
      std::string_view k = atts[i];
      if (k == "xmlns") {
        scope[""] = atts[i + 1];
        decls.emplace_back(k, atts[i + 1]);
      } else if (k.starts_with("xmlns:")) {
        scope[std::string(k.substr(6))] = atts[i + 1];
        decls.emplace_back(k, atts[i + 1]);
      } else {
        plain.emplace_back(k, atts[i + 1]);
      }
    }
    scopes.push_back(std::move(scope));
    std::string_view q = qname;
    std::string prefix, local;
    if (auto c = q.find(':'); c != std::string_view::npos) {
      prefix = std::string(q.substr(0, c));
      local = std::string(q.substr(c + 1));
    } else {
      local = std::string(q);
    }
    std::string uri = lookup(prefix);
    if (!prefix.empty() && uri.empty()) {
      stop("invalid-namespace", "undeclared namespace prefix '" + prefix + "'");
      return;
    }
    for (const auto& [k, v] : plain) {
      if (auto c = k.find(':'); c != std::string::npos) {
        auto p = k.substr(0, c);
        if (lookup(p).empty()) {
          stop("invalid-namespace", "undeclared attribute prefix '" + p + "'");
          return;
        }
      }
    }
    Element e(std::move(local), std::move(uri));
    e.attrs = std::move(plain);
    if (!limits.document_mode && depth == 1) {
      rest = static_cast<XML_Index>(start_end);
      if (waking) return;
      root_qname = std::string(q);
      for (auto& d : decls) e.attrs.push_back(std::move(d));
      is_open = true;
      handler.on_open(e);
      return;
    }
    if (stack.empty()) stanza_start = XML_GetCurrentByteIndex(parser);
    stack.push_back(std::move(e));
    check_size();
  }

  void end() {
    if (failed) return;
    check_size();
    // An empty-element tag reports its end with a zero byte count: its start tag ended it.
    if (auto i = XML_GetCurrentByteIndex(parser); i >= 0) {
      auto n = XML_GetCurrentByteCount(parser);
      event_end = n > 0 ? static_cast<std::size_t>(i + n) : start_end;
    }
    scopes.pop_back();
    if (!limits.document_mode && depth == 1) {
      --depth;
      is_open = false;
      handler.on_close();
      return;
    }
    --depth;
    Element done = std::move(stack.back());
    stack.pop_back();
    if (stack.empty()) {
      check_size();
      if (failed) return;
      stanza_start = -1;
      rest = static_cast<XML_Index>(event_end);
      handler.on_stanza(std::move(done));
    } else {
      stack.back().children.push_back(std::move(done));
    }
  }

  void chars(const XML_Char* s, int len) {
    if (failed) return;
    if (stack.empty()) {
      // Whitespace between stanzas is keepalive; anything else at stream level is invalid.
      for (int i = 0; i < len; ++i) {
        char c = s[i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
          stop("not-well-formed", "text outside a stanza");
          return;
        }
      }
      // Keepalive whitespace is consumed: it does not count toward the next stanza's size.
      if (auto now = XML_GetCurrentByteIndex(parser); now >= 0) last_event = rest = now + len;
      return;
    }
    stack.back().text.append(s, static_cast<std::size_t>(len));
    if (stack.back().text.size() > limits.max_stanza_bytes) check_size();
  }
};

StreamParser::StreamParser(StreamHandler& handler, StreamLimits limits)
    : impl_(std::make_unique<Impl>(handler, limits)), handler_(&handler), limits_(limits) {
  impl_->create();
}

StreamParser::~StreamParser() = default;

Result<void> StreamParser::feed(std::string_view data, bool is_final) {
  if (!impl_) {
    impl_ = std::make_unique<Impl>(*handler_, limits_);
    impl_->wake(*head_);
  }
  auto& m = *impl_;
  if (m.failed) return fail(Category::Protocol, "XML stream: " + m.message);
  // A UTF-16/32 stream (byte order mark, or NUL bytes in the first characters) is refused
  // before expat would decode it (RFC 6120 §11.6).
  for (std::size_t i = 0; i < data.size() && m.fed + static_cast<XML_Index>(i) < 4; ++i) {
    auto b = static_cast<unsigned char>(data[i]);
    if (b == 0x00 || b == 0xfe || b == 0xff) {
      m.failed = true;
      m.condition = "unsupported-encoding";
      m.message = "only UTF-8 streams are accepted";
      return fail(Category::Protocol, "XML stream: " + m.message);
    }
  }
  // Feed in bounded chunks so a stanza-size violation is caught early in a large buffer.
  constexpr std::size_t kChunk = 16 * 1024;
  std::size_t off = 0;
  do {
    std::size_t n = std::min(kChunk, data.size() - off);
    bool last = is_final && off + n == data.size();
    auto st = XML_Parse(m.parser, data.data() + off, static_cast<int>(n), last ? XML_TRUE : XML_FALSE);
    if (!m.failed && st == XML_STATUS_ERROR) {
      auto code = XML_GetErrorCode(m.parser);
      m.failed = true;
      m.condition = code == XML_ERROR_UNDEFINED_ENTITY ? "restricted-xml" : "not-well-formed";
      m.message = std::string(XML_ErrorString(code)) + " at line " +
                  std::to_string(XML_GetCurrentLineNumber(m.parser)) + ", column " +
                  std::to_string(XML_GetCurrentColumnNumber(m.parser));
    }
    m.fed += static_cast<XML_Index>(n);
    if (!m.failed) m.check_buffered();
    if (m.failed) return fail(Category::Protocol, "XML stream: " + m.message);
    off += n;
  } while (off < data.size());
  return {};
}

void StreamParser::reset() {
  head_.reset();
  if (!impl_) impl_ = std::make_unique<Impl>(*handler_, limits_);
  impl_->create();
}

const std::string& StreamParser::error_condition() const {
  static const std::string kNone;
  return impl_ ? impl_->condition : kNone;
}

bool StreamParser::open() const { return !impl_ || impl_->is_open; }

bool StreamParser::at_rest() const {
  if (!impl_) return true;
  const auto& m = *impl_;
  return m.is_open && !m.failed && !m.limits.document_mode && m.depth == 1 && m.stack.empty() && m.rest == m.fed;
}

bool StreamParser::hibernate() {
  if (!impl_) return true;
  if (!at_rest()) return false;
  // A dormant stream keeps only the (shared) root tag: no expat parser, no scope maps.
  if (!head_) head_ = intern_head(impl_->root_head());
  impl_.reset();
  return true;
}

std::size_t StreamParser::event_end() const { return impl_ ? impl_->event_end : 0; }

}  // namespace xnet::xml
