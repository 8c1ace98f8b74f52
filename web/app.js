// streamer's page: camera -> server (WebRTC) -> stylized video back (mirror) or from the other
// person in a call room. Stats, controls and the other person's comings and goings travel on a
// DataChannel. A plain ES module: no build step.

import { StatsChart } from "./chart.js";

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const state = { pc: null, channel: null, stream: null, room: params.get("room"), starting: false };
const chart = new StatsChart($("chart"));

// The camera and picture size last picked, used on the next start (kept in this browser only).
const KEYS = { camera: "streamer.camera", resolution: "streamer.resolution" };
const store = {
  get: (key) => { try { return localStorage.getItem(key); } catch { return null; } },
  set: (key, value) => {
    try { value ? localStorage.setItem(key, value) : localStorage.removeItem(key); } catch { /* private mode */ }
  },
};

// getUserMedia's errors by name: what happened and what to do.
const DENIED = ["Camera access was denied.",
  "Allow the camera for this page (the camera icon in the address bar, or the site settings), then press Start again."];
const BUSY = ["The camera is busy.",
  "Another app or tab is using it (a video call, OBS, another browser): close it or pick another camera, then press Start again."];
const ABSENT = ["No camera was found.",
  "Plug one in (or pick another camera in the list), then press Start again."];
const CAMERA_ERRORS = {
  NotAllowedError: DENIED, PermissionDeniedError: DENIED, SecurityError: DENIED,
  NotReadableError: BUSY, TrackStartError: BUSY, AbortError: BUSY,
  NotFoundError: ABSENT, DevicesNotFoundError: ABSENT,
  OverconstrainedError: ["This camera cannot give that picture size.", "Pick a smaller size, then press Start again."],
  InsecureContext: ["The browser hides the camera on this page.",
    "Cameras need https or localhost: open the page on this machine at 127.0.0.1, or serve it with --cert and --key."],
};

const PEER_TEXT = {
  idle: "Press Start to join, and send the link to the other person.",
  waiting: "Waiting for the other person to open the link ...",
  connected: "The other person is connected.",
  left: "The other person left; the room stays open for them to come back.",
};

function status(text) { $("status").textContent = text; }

function showMessage([title, text]) {
  $("message-title").textContent = title;
  $("message-text").textContent = text;
  $("message").hidden = false;
}

function clearMessage() { $("message").hidden = true; }

function setPeer(peer) {
  $("peer").dataset.state = peer;
  $("peer").textContent = PEER_TEXT[peer];
}

function showStats(s) {
  $("stats").textContent =
    `in ${s.fps_in} fps · out ${s.fps_out} fps · latency p50 ${s.latency_ms_p50} ms ` +
    `p99 ${s.latency_ms_p99} ms · ${s.rung ?? `level ${s.level}`} · faces ${s.faces} · dropped ${s.dropped}` +
    (s.engine_failures ? ` · engine failed ${s.engine_failures}× (${s.passthrough_frames} frames as captured)` : "");
  chart.add(s);
  window.lastStats = s;
}

function send(message) {
  if (state.channel && state.channel.readyState === "open") state.channel.send(JSON.stringify(message));
}

function controls() {
  return { style: $("style").value, strength: Number($("strength").value), background: $("background").checked };
}

async function loadStyles() {
  const response = await fetch("/api/styles");
  const { styles, default: fallback } = await response.json();
  const wanted = params.get("style") || fallback;
  for (const name of styles) $("style").add(new Option(name, name, false, name === wanted));
}

/** Fill the camera picker; names come once the camera is allowed (before that, only the default). */
async function listCameras() {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices();
  const cameras = devices.filter((device) => device.kind === "videoinput" && device.deviceId);
  const select = $("camera");
  const saved = store.get(KEYS.camera) || "";
  const allowed = cameras.some((camera) => camera.label);
  select.replaceChildren(new Option("default camera", ""));
  cameras.forEach((camera, i) => select.add(new Option(camera.label || `camera ${i + 1}`, camera.deviceId)));
  if (saved && !allowed && !cameras.some((camera) => camera.deviceId === saved)) {
    select.add(new Option("the camera used last time", saved)); // unnamed until the camera is allowed
  }
  select.value = [...select.options].some((option) => option.value === saved) ? saved : "";
}

function videoConstraints(deviceId) {
  const [width, height] = $("resolution").value.split("x").map(Number);
  return { width: { ideal: width }, height: { ideal: height }, ...(deviceId ? { deviceId: { exact: deviceId } } : {}) };
}

/** The picked camera at the picked size (and the microphone in a room, when there is one). */
async function openCamera(audio) {
  if (!navigator.mediaDevices?.getUserMedia) throw Object.assign(new Error("no camera API"), { name: "InsecureContext" });
  const open = (deviceId, withAudio) =>
    navigator.mediaDevices.getUserMedia({ video: videoConstraints(deviceId), audio: withAudio });
  const deviceId = $("camera").value;
  try {
    return await open(deviceId, audio);
  } catch (error) {
    if (error.name === "NotFoundError" && audio) return open(deviceId, false); // a camera, no microphone
    if (!deviceId || !["OverconstrainedError", "NotFoundError"].includes(error.name)) throw error;
    status("the camera picked last time is not connected; using the default one");
    return open("", audio);
  }
}

function setRunning(running) {
  $("start").textContent = running ? "Stop" : "Start";
  $("start").classList.toggle("primary", !running);
  $("start").disabled = false;
}

async function start() {
  if (state.starting) return;
  state.starting = true;
  $("start").disabled = true;
  $("start").textContent = "Starting ...";
  clearMessage();
  try {
    await connect();
  } catch (error) {
    stop();
    if (CAMERA_ERRORS[error.name]) showMessage(CAMERA_ERRORS[error.name]);
    else showMessage(["Something went wrong.", String(error.message || error)]);
    status("stopped");
  } finally {
    state.starting = false;
  }
}

async function connect() {
  const mode = state.room ? "room" : "mirror";
  status("asking for the camera ...");
  const stream = await openCamera(mode === "room");
  state.stream = stream;
  $("local").srcObject = stream;
  document.body.classList.add("camera");
  listCameras().catch(() => {}); // now with names
  const pc = new RTCPeerConnection({ iceServers: [] });
  state.pc = pc;
  const channel = state.channel = pc.createDataChannel("control");
  const { style, ...settings } = controls();
  channel.onopen = () => send($("style").value === style ? settings : controls()); // set before starting
  channel.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.stats) showStats(message.stats);
    if (message.status) status(message.status);
    if (message.event === "peer-joined") setPeer("connected");
    if (message.event === "peer-left") setPeer("left");
  };
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  if (mode === "room" && !stream.getAudioTracks().length) pc.addTransceiver("audio", { direction: "recvonly" });
  pc.ontrack = (event) => {
    if (event.track.kind === "video") $("remote").srcObject = new MediaStream([event.track]);
    if (event.track.kind === "audio") {
      const audio = new Audio();
      audio.srcObject = new MediaStream([event.track]);
      audio.play().catch(() => status("click the page to hear the other person"));
    }
  };
  pc.onconnectionstatechange = () => {
    if (state.pc !== pc) return;
    status(`connection ${pc.connectionState}`);
    if (pc.connectionState === "failed") {
      showMessage(["The connection to the server failed.",
        "A firewall may block it: on another network, give streamer serve a --stun or --turn server. Press Start to try again."]);
      stop();
    }
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    setTimeout(resolve, 5000); // send the candidates gathered so far rather than wait forever
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
  });
  const response = await fetch("/api/offer", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", mode, room: state.room, style: $("style").value }),
  });
  const answer = await response.json();
  if (state.pc !== pc) return; // stopped meanwhile
  if (!response.ok) {
    stop();
    showMessage(["The server said no.", answer.error || `(HTTP ${response.status})`]);
    return;
  }
  await pc.setRemoteDescription(answer);
  setRunning(true);
  if (mode === "room") {
    if ($("peer").dataset.state === "idle") setPeer("waiting");
    status("in the room");
  } else status("connected");
}

function stop() {
  if (state.pc) state.pc.close();
  if (state.stream) for (const track of state.stream.getTracks()) track.stop();
  Object.assign(state, { pc: null, channel: null, stream: null });
  $("local").srcObject = null;
  $("remote").srcObject = null;
  document.body.classList.remove("playing", "camera");
  if (state.room) setPeer("idle");
  chart.clear();
  setRunning(false);
  status("stopped");
}

/** Stop and start again with the new camera or size (a running session keeps its picture size). */
async function restart() {
  if (!state.pc || state.starting) return;
  stop();
  await start();
}

function roomLink() { return `${location.origin}${location.pathname}?room=${encodeURIComponent(state.room)}`; }

function obsLink() {
  const link = new URL(location.pathname, location.origin);
  link.searchParams.set("autostart", "1");
  link.searchParams.set("style", $("style").value);
  if ($("strength").value !== "1") link.searchParams.set("strength", $("strength").value);
  if (!$("background").checked) link.searchParams.set("background", "0");
  return link.href;
}

function showRoom() {
  $("room").hidden = false;
  $("room-link").value = roomLink();
  setPeer(state.pc ? "waiting" : "idle");
}

async function newRoom() {
  const response = await fetch("/api/rooms", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
  const { room, error } = await response.json();
  if (!response.ok) {
    showMessage(["No new room.", error || `(HTTP ${response.status})`]);
    return;
  }
  state.room = room;
  history.replaceState(null, "", `?room=${encodeURIComponent(room)}`);
  showRoom();
  if (state.pc) await restart(); // from the mirror into the room
  else status("room ready: press Start to join");
}

/** Copy `text`, and say so next to the button for a moment. */
async function copy(text, button, feedback) {
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch {
    const area = Object.assign(document.createElement("textarea"), { value: text });
    document.body.append(area);
    area.select();
    copied = document.execCommand("copy"); // pages that are not https or localhost
    area.remove();
  }
  feedback.textContent = copied ? "copied" : `copy it from here: ${text}`;
  button.classList.toggle("done", copied);
  clearTimeout(feedback.timer);
  feedback.timer = setTimeout(() => { feedback.textContent = ""; button.classList.remove("done"); }, copied ? 2500 : 15000);
}

function applyParams() {
  const strength = Number(params.get("strength"));
  if (params.has("strength") && strength >= 0 && strength <= 1) $("strength").value = String(strength);
  if (params.get("background") === "0") $("background").checked = false;
  const resolution = store.get(KEYS.resolution);
  if ([...$("resolution").options].some((option) => option.value === resolution)) $("resolution").value = resolution;
}

$("start").onclick = () => (state.pc ? stop() : start());
$("new-room").onclick = () => newRoom().catch((error) => showMessage(["Could not make a room.", String(error)]));
$("copy-obs").onclick = () => copy(obsLink(), $("copy-obs"), $("obs-feedback"));
$("copy-room").onclick = () => copy(roomLink(), $("copy-room"), $("room-feedback"));
$("style").onchange = () => send({ style: $("style").value });
$("strength").oninput = () => send({ strength: Number($("strength").value) });
$("background").onchange = () => send({ background: $("background").checked });
$("camera").onchange = () => { store.set(KEYS.camera, $("camera").value); restart(); };
$("resolution").onchange = () => { store.set(KEYS.resolution, $("resolution").value); restart(); };
$("room-link").onfocus = () => $("room-link").select();
$("remote").onplaying = () => document.body.classList.add("playing");
navigator.mediaDevices?.addEventListener?.("devicechange", () => listCameras());
window.addEventListener("pagehide", () => state.pc && state.pc.close()); // the other person is told at once

applyParams();
if (state.room) showRoom();
listCameras().catch(() => {});
loadStyles().then(() => {
  if (params.get("autostart") === "1") {
    document.body.classList.add("obs");
    start();
  }
});
