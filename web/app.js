// streamer's page: camera -> server (WebRTC) -> stylized video back (mirror) or from the other
// person in a call room. Stats and controls travel on a DataChannel.
"use strict";

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const state = { pc: null, channel: null, room: params.get("room") };

function status(text) { $("status").textContent = text; }

function showStats(s) {
  $("stats").textContent =
    `in ${s.fps_in} fps · out ${s.fps_out} fps · latency p50 ${s.latency_ms_p50} ms ` +
    `p99 ${s.latency_ms_p99} ms · ${s.rung ?? `level ${s.level}`} · faces ${s.faces} · dropped ${s.dropped}`;
  window.lastStats = s;
}

function send(message) {
  if (state.channel && state.channel.readyState === "open") state.channel.send(JSON.stringify(message));
}

async function loadStyles() {
  const response = await fetch("/api/styles");
  const { styles, default: fallback } = await response.json();
  const wanted = params.get("style") || fallback;
  for (const name of styles) {
    const option = new Option(name, name, false, name === wanted);
    $("style").add(option);
  }
}

async function start() {
  $("start").disabled = true;
  const mode = state.room ? "room" : "mirror";
  status("asking for the camera ...");
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: 640, height: 480 }, audio: mode === "room",
  });
  $("local").srcObject = stream;
  const pc = new RTCPeerConnection({ iceServers: [] });
  state.pc = pc;
  state.channel = pc.createDataChannel("control");
  state.channel.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.stats) showStats(message.stats);
    if (message.status) status(message.status);
    if (message.event === "peer-left") status("the other person left; the room stays open for them");
    if (message.event === "peer-joined") status("the other person joined");
  };
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  if (mode === "room" && !stream.getAudioTracks().length) pc.addTransceiver("audio", { direction: "recvonly" });
  pc.ontrack = (event) => {
    if (event.track.kind === "video") $("remote").srcObject = new MediaStream([event.track]);
    if (event.track.kind === "audio") {
      const audio = new Audio();
      audio.srcObject = new MediaStream([event.track]);
      audio.play();
    }
  };
  pc.onconnectionstatechange = () => status(`connection ${pc.connectionState}`);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
  });
  const response = await fetch("/api/offer", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      sdp: pc.localDescription.sdp, type: "offer", mode, room: state.room, style: $("style").value,
    }),
  });
  const answer = await response.json();
  if (!response.ok) {
    status(answer.error || `the server refused (${response.status})`);
    $("start").disabled = false;
    return;
  }
  await pc.setRemoteDescription(answer);
  status(mode === "room" ? "in the room; waiting for the other person" : "connected");
}

async function newRoom() {
  const { room } = await (await fetch("/api/rooms", { method: "POST" })).json();
  const link = `${location.origin}/?room=${room}`;
  $("room-link").innerHTML = "";
  const a = document.createElement("a");
  a.href = link;
  a.textContent = link;
  $("room-link").append("share: ", a);
  state.room = room;
}

$("start").onclick = () => start().catch((error) => { status(String(error)); $("start").disabled = false; });
$("new-room").onclick = () => newRoom().catch((error) => status(String(error)));
$("style").onchange = () => send({ style: $("style").value });
$("strength").oninput = () => send({ strength: Number($("strength").value) });
$("background").onchange = () => send({ background: $("background").checked });

loadStyles().then(() => {
  if (params.get("autostart") === "1") {
    document.body.classList.add("obs");
    start().catch((error) => status(String(error)));
  }
});
