#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A third-party XMPP client (Debian's python3-slixmpp) for the `xnet serve` integration tests.

Logs in (SCRAM over STARTTLS or direct TLS), asks sic:1, extdisco:2 (list and credentials)
and pings the server, then prints one JSON object with what it got. DNS is never used: the
connection goes to --host/--port whatever the JID's domain is.
"""
import argparse
import asyncio
import json
import logging
import ssl
import sys
from pathlib import Path

import slixmpp
from slixmpp.xmlstream import ET

SIC1 = "urn:xmpp:sic:1"
EXT2 = "urn:xmpp:extdisco:2"


class Client(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(args.jid, args.password, sasl_mech=args.mech)
        self.args = args
        self.results = {"authenticated": False}
        self.register_plugin("xep_0199")
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_all_auth", self.auth_failed)
        self.add_event_handler("auth_success", self.auth_ok)
        if args.cafile:
            self.ca_certs = Path(args.cafile)
        else:
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE

    async def _pick_dns_answer(self, domain, port=None):
        # Never resolve anything: the test server is on loopback.
        return (domain, self.args.host, self.args.port)

    def auth_ok(self, _):
        self.results["authenticated"] = True

    def auth_failed(self, _):
        self.results["auth_error"] = "failed"
        self.disconnect()

    async def query(self, payload, to=None):
        iq = self.Iq()
        iq["type"] = "get"
        if to:
            iq["to"] = to
        iq.append(payload)
        return await iq.send(timeout=10)

    async def start(self, _):
        try:
            self.results["bound_jid"] = str(self.boundjid)
            self.results["mechanism"] = getattr(self["feature_mechanisms"], "mech", None) and self["feature_mechanisms"].mech.name
            target = self.args.to or None
            if target:
                # Component mode: disco#info of the component JID through the router.
                r = await self.query(ET.Element("{http://jabber.org/protocol/disco#info}query"), target)
                q = r.xml.find("{http://jabber.org/protocol/disco#info}query")
                ident = q.find("{http://jabber.org/protocol/disco#info}identity")
                self.results["disco_identity"] = "%s/%s" % (ident.get("category"), ident.get("type"))
                self.results["disco_features"] = [
                    f.get("var") for f in q.findall("{http://jabber.org/protocol/disco#info}feature")
                ]
            else:
                r = await self.query(ET.Element("{%s}address" % SIC1))
                addr = r.xml.find("{%s}address" % SIC1)
                self.results["sic1"] = {
                    "ip": addr.findtext("{%s}ip" % SIC1),
                    "port": int(addr.findtext("{%s}port" % SIC1) or 0),
                }
            r = await self.query(ET.Element("{%s}services" % EXT2), target)
            services = []
            for s in r.xml.find("{%s}services" % EXT2).findall("{%s}service" % EXT2):
                services.append(dict(s.attrib))
            self.results["extdisco2"] = services
            restricted = [s for s in services if s.get("restricted") in ("1", "true")]
            if restricted:
                req = ET.Element("{%s}credentials" % EXT2)
                ET.SubElement(req, "{%s}service" % EXT2, {"type": restricted[0]["type"], "host": restricted[0]["host"]})
                r = await self.query(req, target)
                self.results["credentials"] = [
                    dict(s.attrib) for s in r.xml.find("{%s}credentials" % EXT2).findall("{%s}service" % EXT2)
                ]
            rtt = await self["xep_0199"].ping(jid=target or self.boundjid.domain, timeout=10)
            self.results["ping_ok"] = rtt is not None
        except Exception as e:  # noqa: BLE001 - reported to the test as data
            self.results["error"] = "%s: %s" % (type(e).__name__, e)
        finally:
            self.disconnect()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--jid", required=True)
    p.add_argument("--password", default="")
    p.add_argument("--password-file")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--direct-tls", action="store_true")
    p.add_argument("--cafile")
    p.add_argument("--mech")
    p.add_argument("--to", help="send the queries to this JID (a component) instead of the server")
    p.add_argument("--timeout", type=float, default=20)
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    if args.password_file:
        args.password = Path(args.password_file).read_text().splitlines()[0]
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.CRITICAL, stream=sys.stderr)
    c = Client(args)
    if args.direct_tls:
        c.connect(use_ssl=True, disable_starttls=True)
    else:
        c.connect(force_starttls=True)
    try:
        c.loop.run_until_complete(asyncio.wait_for(c.disconnected, args.timeout))
    except asyncio.TimeoutError:
        c.results["error"] = "timeout"
    print(json.dumps(c.results), flush=True)
    return 0 if c.results.get("authenticated") and "error" not in c.results else 1


if __name__ == "__main__":
    sys.exit(main())
