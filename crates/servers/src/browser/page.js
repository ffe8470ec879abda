"use strict";
// natscope browser check. Gathers candidates with the iceServers natscope
// hands over, per ICE transport policy, then connects to natscope's own
// WebRTC peer and reports every step back. The one-time link set an
// HttpOnly session cookie, which every call carries; credentials arrive
// only in the answer to /api/config and are never written to the page.
(function () {
  try { history.replaceState(null, "", "/s/"); } catch (e) { /* not fatal */ }
  const statusEl = document.getElementById("status");
  const logEl = document.getElementById("log");
  const status = (t) => { statusEl.textContent = t; };
  const log = (t) => { logEl.textContent += t + "\n"; };
  const now = () => performance.now();
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const round = (x) => Math.round(x * 1000) / 1000;

  async function api(step, body) {
    const r = await fetch("/api/" + step, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body || {}),
      cache: "no-store",
      credentials: "same-origin",
    });
    if (!r.ok) throw new Error(step + ": HTTP " + r.status);
    return r.json();
  }

  // "candidate:f 1 udp 2122260223 192.0.2.1 54321 typ host tcptype passive ..."
  function parseLine(line) {
    const p = String(line || "").replace(/^a=/, "").replace(/^candidate:/, "").split(/\s+/);
    const out = { protocol: (p[2] || "").toLowerCase(), address: p[4] || "", port: Number(p[5]) || 0, type: "", tcpType: null };
    for (let i = 6; i + 1 < p.length; i += 2) {
      if (p[i] === "typ") out.type = p[i + 1];
      if (p[i] === "tcptype") out.tcpType = p[i + 1];
    }
    return out;
  }

  function candidateOf(c, url, at) {
    const p = parseLine(c.candidate);
    const address = c.address || p.address;
    return {
      type: c.type || p.type,
      protocol: (c.protocol || p.protocol || "").toLowerCase(),
      address: address,
      mdns: /\.local\.?$/i.test(address),
      port: c.port || p.port,
      url: url || c.url || null,
      relay_protocol: c.relayProtocol || null,
      tcp_type: c.tcpType || p.tcpType || null,
      at_ms: round(at),
    };
  }

  function whenGathered(pc, limitMs) {
    return Promise.race([
      new Promise((res) => {
        const check = () => { if (pc.iceGatheringState === "complete") res(true); };
        pc.addEventListener("icegatheringstatechange", check);
        pc.addEventListener("icecandidate", (e) => { if (!e.candidate) res(true); });
        check();
      }),
      sleep(limitMs).then(() => false),
    ]);
  }

  async function gather(cfg, policy) {
    const pc = new RTCPeerConnection({ iceServers: cfg.iceServers, iceTransportPolicy: policy });
    const candidates = [];
    const errors = [];
    let start = now();
    pc.addEventListener("icecandidate", (e) => {
      if (e.candidate && e.candidate.candidate) candidates.push(candidateOf(e.candidate, e.url, now() - start));
    });
    pc.addEventListener("icecandidateerror", (e) => {
      if (errors.length < 200) {
        errors.push({ code: e.errorCode || 0, url: e.url || "", text: e.errorText || "", at_ms: round(now() - start) });
      }
    });
    pc.createDataChannel("natscope-gather");
    const offer = await pc.createOffer();
    start = now();
    await pc.setLocalDescription(offer);
    const complete = await whenGathered(pc, cfg.gatherMs);
    const total = now() - start;
    // getStats names the relay protocol and URL where the event did not.
    try {
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type !== "local-candidate") return;
        for (const c of candidates) {
          if (c.address === (s.address || s.ip) && c.port === s.port) {
            if (!c.relay_protocol && s.relayProtocol) c.relay_protocol = s.relayProtocol;
            if (!c.url && s.url) c.url = s.url;
          }
        }
      });
    } catch (e) { log("getStats: " + e); }
    pc.close();
    return { policy: policy, complete: complete, total_ms: round(total), candidates: candidates, errors: errors };
  }

  function iceConnected(pc, limitMs) {
    return Promise.race([
      new Promise((res) => {
        const check = () => {
          const s = pc.iceConnectionState;
          if (s === "connected" || s === "completed") res("connected");
          else if (s === "failed" || s === "closed") res("failed");
        };
        pc.addEventListener("iceconnectionstatechange", check);
        check();
      }),
      sleep(limitMs).then(() => "timed-out"),
    ]);
  }

  function channelOpen(dc, limitMs) {
    return Promise.race([
      new Promise((res) => {
        if (dc.readyState === "open") res(true);
        dc.addEventListener("open", () => res(true));
        dc.addEventListener("close", () => res(false));
      }),
      sleep(limitMs).then(() => false),
    ]);
  }

  async function selectedPair(pc) {
    const stats = await pc.getStats();
    const byId = new Map();
    stats.forEach((s) => byId.set(s.id, s));
    let pair = null;
    stats.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId) || pair;
    });
    if (!pair) {
      stats.forEach((s) => {
        if (s.type === "candidate-pair" && (s.selected || (s.nominated && s.state === "succeeded"))) pair = s;
      });
    }
    if (!pair) return { selected: null, stats: null };
    const l = byId.get(pair.localCandidateId) || {};
    const r = byId.get(pair.remoteCandidateId) || {};
    const num = (x) => (typeof x === "number" && isFinite(x) ? x : null);
    return {
      selected: {
        local: l.candidateType || "host",
        local_protocol: (l.protocol || "").toLowerCase(),
        relay_protocol: l.relayProtocol || null,
        remote: r.candidateType || "host",
        local_address: (l.address || l.ip || "") + ":" + (l.port || 0),
        remote_address: (r.address || r.ip || "") + ":" + (r.port || 0),
      },
      stats: {
        current_rtt_ms: num(pair.currentRoundTripTime) === null ? null : round(pair.currentRoundTripTime * 1000),
        available_outgoing_bitrate: num(pair.availableOutgoingBitrate),
        bytes_sent: num(pair.bytesSent),
        bytes_received: num(pair.bytesReceived),
      },
    };
  }

  async function connect(cfg, policy) {
    const res = {
      policy: policy, outcome: "failed", failure: null, ice_connected_ms: null, channel_open_ms: null,
      round_trip_ms: null, echoed: 0, sent: 0, selected: null, stats: null,
    };
    const pc = new RTCPeerConnection({ iceServers: cfg.iceServers, iceTransportPolicy: policy });
    try {
      const dc = pc.createDataChannel("natscope-" + policy, { ordered: true });
      const echoes = [];
      let wake = null;
      dc.addEventListener("message", (e) => { echoes.push([String(e.data), now()]); if (wake) wake(); });
      // Trickle ICE: the offer goes at once, candidates follow as the
      // browser finds them (a slow STUN server does not hold the
      // connection back).
      let answered = false;
      const queued = [];
      const trickle = (c) => api("candidate", { policy: policy, candidate: c }).catch(() => {});
      pc.addEventListener("icecandidate", (e) => {
        if (!e.candidate || !e.candidate.candidate) return;
        if (answered) trickle(e.candidate.candidate); else queued.push(e.candidate.candidate);
      });
      await pc.setLocalDescription(await pc.createOffer());
      const answer = await api("offer", { policy: policy, sdp: pc.localDescription.sdp });
      if (!answer.sdp) throw new Error("natscope refused the offer: " + (answer.error || "no answer"));
      const t0 = now();
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      answered = true;
      for (const c of queued.splice(0)) trickle(c);
      const ice = await iceConnected(pc, cfg.connectMs);
      if (ice !== "connected") {
        res.outcome = ice;
        res.failure = ice === "timed-out" ? "ICE did not connect within the limit" : "ICE failed: no candidate pair worked";
        return res;
      }
      res.ice_connected_ms = round(now() - t0);
      const left = Math.max(cfg.connectMs - (now() - t0), 500);
      if (!(await channelOpen(dc, left))) {
        res.outcome = "timed-out";
        res.failure = "ICE connected but the data channel (DTLS, SCTP) did not open";
        return res;
      }
      res.channel_open_ms = round(now() - t0);
      const rtts = [];
      for (let i = 0; i < cfg.pings; i++) {
        const msg = "natscope ping " + policy + " " + i;
        const sentAt = now();
        dc.send(msg);
        res.sent++;
        const deadline = sentAt + cfg.pingMs;
        while (now() < deadline && !echoes.some((e) => e[0] === msg)) {
          await Promise.race([new Promise((r) => { wake = r; }), sleep(Math.max(deadline - now(), 1))]);
        }
        const got = echoes.find((e) => e[0] === msg);
        if (got) { res.echoed++; rtts.push(got[1] - sentAt); }
      }
      rtts.sort((a, b) => a - b);
      if (rtts.length) res.round_trip_ms = round(rtts[Math.floor(rtts.length / 2)]);
      const sp = await selectedPair(pc);
      res.selected = sp.selected;
      res.stats = sp.stats;
      if (res.echoed === 0) {
        res.outcome = "failed";
        res.failure = "the data channel opened but no message came back";
      } else {
        res.outcome = "connected";
      }
      return res;
    } catch (e) {
      res.failure = "the page failed: " + String(e && e.message ? e.message : e);
      return res;
    } finally {
      pc.close();
    }
  }

  (async function main() {
    try {
      if (typeof RTCPeerConnection !== "function") throw new Error("this browser has no RTCPeerConnection");
      status("Asking natscope for the servers…");
      const cfg = await api("config");
      await api("hello", { user_agent: navigator.userAgent });
      for (const policy of cfg.policies) {
        status("Gathering candidates (" + policy + ")…");
        const g = await gather(cfg, policy);
        log(policy + ": " + g.candidates.length + " candidates, " + g.errors.length + " errors, " + Math.round(g.total_ms) + " ms");
        await api("gathered", g);
      }
      for (const policy of cfg.policies) {
        status("Connecting to natscope (" + policy + ")…");
        const c = await connect(cfg, policy);
        log(policy + ": " + c.outcome + (c.failure ? " — " + c.failure : ""));
        await api("connected", c);
      }
      await api("done", {});
      status("Done. natscope has the results; you can close this tab.");
    } catch (e) {
      status("Stopped: " + String(e && e.message ? e.message : e));
      try { await api("error", { text: String(e && e.message ? e.message : e) }); } catch (e2) { /* server gone */ }
    }
  })();
})();
