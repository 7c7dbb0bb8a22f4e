// SPDX-License-Identifier: MIT
#include "mdns/ll_stream.hpp"

namespace xnet::mdns {

using xep0174::StreamHeader;

LinkLocalStream::LinkLocalStream(StreamConfig config) : cfg_(std::move(config)) {
  xml::StreamLimits limits;
  limits.max_stanza_bytes = cfg_.max_stanza_bytes;
  parser_ = std::make_unique<xml::StreamParser>(*this, limits);
}

LinkLocalStream::~LinkLocalStream() = default;

void LinkLocalStream::start() {
  if (!cfg_.initiator || header_sent_) return;
  StreamHeader h;
  h.from = cfg_.local_name;
  h.to = cfg_.peer_name;
  if (cfg_.send_version) h.version = "1.0";
  out_ += xep0174::open_stream(h);
  header_sent_ = true;
}

void LinkLocalStream::feed(std::string_view bytes) {
  if (failed_ || peer_closed_) return;
  auto r = parser_->feed(bytes);
  if (!r && !failed_) {
    std::string cond = parser_->error_condition();
    error(cond.empty() ? "not-well-formed" : cond, r.error().message);
  }
}

void LinkLocalStream::peer_eof() {
  if (failed_ || peer_closed_) return;
  failed_ = true;
  events_.push_back({StreamEvent::Kind::Error, {}, {}, "the peer closed the connection without closing the stream"});
}

void LinkLocalStream::send(const xep0174::Message& m) {
  if (we_closed_ || failed_) return;
  out_ += xep0174::build_message(m).str(xep0174::kClientNs);
}

void LinkLocalStream::close() {
  if (we_closed_ || failed_) return;
  if (!header_sent_) {
    // RFC 6120 §4.4: a close needs an open stream; answer first if the peer's header is pending.
    out_ += xep0174::open_stream(xep0174::answer_header(peer_header_, cfg_.local_name));
    header_sent_ = true;
  }
  out_ += xep0174::close_stream();
  we_closed_ = true;
}

std::string LinkLocalStream::take_output() { return std::exchange(out_, {}); }

std::vector<StreamEvent> LinkLocalStream::take_events() { return std::exchange(events_, {}); }

std::string LinkLocalStream::peer_name() const {
  if (peer_header_.from && !peer_header_.from->empty()) return *peer_header_.from;
  return {};
}

void LinkLocalStream::error(std::string_view condition, std::string text) {
  if (failed_) return;
  if (!we_closed_) {
    if (!header_sent_) {
      out_ += xep0174::open_stream(xep0174::answer_header(peer_header_, cfg_.local_name));
      header_sent_ = true;
    }
    out_ += xep0174::stream_error(condition);
    out_ += xep0174::close_stream();
    we_closed_ = true;
  }
  failed_ = true;
  events_.push_back({StreamEvent::Kind::Error, {}, {}, std::string(condition) + ": " + text});
}

void LinkLocalStream::on_open(const xml::Element& root) {
  auto h = xep0174::parse_stream_header(root);
  if (!h) {
    bool ns = root.name == "stream" && root.ns == xep0174::kStreamNs;
    error(ns ? "invalid-namespace" : "invalid-namespace", h.error().message);
    return;
  }
  peer_header_ = *h;
  opened_ = true;
  if (!cfg_.initiator && !header_sent_) {
    auto ours = xep0174::answer_header(peer_header_, cfg_.local_name);
    out_ += xep0174::open_stream(ours);
    header_sent_ = true;
    // XEP-0174 §4 / RFC 6120 §4.3.2: features only when both sides sent version 1.0.
    if (xep0174::features_expected(ours, peer_header_)) out_ += xep0174::stream_features(cfg_.identity);
  }
  events_.push_back({StreamEvent::Kind::Opened, peer_header_, {}, {}});
}

void LinkLocalStream::on_stanza(xml::Element st) {
  if (failed_) return;
  if (++stanzas_ > cfg_.max_stanzas) {
    error("policy-violation", "more than " + std::to_string(cfg_.max_stanzas) + " stanzas on one stream");
    return;
  }
  if (st.ns == xep0174::kStreamNs) {
    if (st.name == "error") {
      std::string cond = xep0174::stream_error_condition(st);
      failed_ = true;
      events_.push_back({StreamEvent::Kind::Error, {}, {}, "the peer sent a stream error: " + cond});
      if (!we_closed_) {
        out_ += xep0174::close_stream();
        we_closed_ = true;
      }
      return;
    }
    if (st.name == "features" && xep0174::starttls_required(st)) {
      error("policy-violation", "the peer requires STARTTLS, which xnet's link-local streams do not offer");
      return;
    }
    return;  // features (informational), anything else in the streams namespace: ignore
  }
  if (st.name == "message") {
    auto m = xep0174::parse_message(st);
    if (!m) return;
    if (m->from.empty()) m->from = peer_name();
    events_.push_back({StreamEvent::Kind::Message, {}, std::move(*m), {}});
    return;
  }
  if (st.name == "iq") {
    if (auto reply = xep0174::answer_iq(st, cfg_.identity, cfg_.local_name); reply && !we_closed_) {
      out_ += reply->str(xep0174::kClientNs);
      const auto* p = st.first_child();
      events_.push_back({StreamEvent::Kind::Iq, {}, {}, p ? p->ns : std::string()});
    }
    return;
  }
  // presence and unknown stanzas: XEP-0174 carries presence in TXT; ignore.
}

void LinkLocalStream::on_close() {
  peer_closed_ = true;
  // XEP-0174 §4.2 / RFC 6120 §4.4: answer the close with our own.
  if (!we_closed_) close();
  events_.push_back({StreamEvent::Kind::Closed, {}, {}, {}});
}

}  // namespace xnet::mdns
