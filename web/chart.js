// A small live chart of the stats the server sends once a second: frames out per second and the
// glass-to-glass latency (p50) over the last minute, drawn on a <canvas> (no chart library).

const WINDOW_MS = 60_000;
const FPS_COLOR = "#4fd1a5";
const LATENCY_COLOR = "#ffb454";

/** The smallest of 1, 2, 3 or 5 times a power of ten that is at least `value` (an axis top). */
function axisTop(value, floor) {
  const wanted = Math.max(value, floor);
  const power = 10 ** Math.floor(Math.log10(wanted));
  return [1, 2, 3, 5, 10].map((step) => step * power).find((top) => top >= wanted);
}

export class StatsChart {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    this.points = [];
    if (window.ResizeObserver) new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** Add one stats record (fps_out, latency_ms_p50) received at `now` and redraw. */
  add(stats, now = performance.now()) {
    this.points.push({ t: now, fps: stats.fps_out, latency: stats.latency_ms_p50 });
    while (this.points.length && now - this.points[0].t > WINDOW_MS) this.points.shift();
    const last = this.points[this.points.length - 1];
    this.canvas.setAttribute(
      "aria-label",
      `last minute: ${last.fps ?? "?"} frames per second, latency ${last.latency ?? "?"} ms`,
    );
    this.draw();
  }

  clear() {
    this.points = [];
    this.draw();
  }

  draw() {
    const { canvas, points } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const top = 16;
    const bottom = height - 14;
    g.font = "11px system-ui, sans-serif";
    g.strokeStyle = "rgba(255, 255, 255, 0.12)";
    g.lineWidth = 1;
    for (const fraction of [0, 0.5, 1]) {
      const y = Math.round(top + (bottom - top) * fraction) + 0.5;
      g.beginPath();
      g.moveTo(0, y);
      g.lineTo(width, y);
      g.stroke();
    }
    g.fillStyle = "rgba(255, 255, 255, 0.45)";
    g.textBaseline = "bottom";
    g.textAlign = "left";
    g.fillText("60 s ago", 2, height);
    g.textAlign = "right";
    g.fillText("now", width - 2, height);
    if (!points.length) return;

    const now = points[points.length - 1].t;
    const x = (t) => width - ((now - t) / WINDOW_MS) * width;
    const series = [
      { key: "fps", color: FPS_COLOR, top: axisTop(Math.max(...points.map((p) => p.fps ?? 0)), 30), unit: "fps" },
      {
        key: "latency",
        color: LATENCY_COLOR,
        top: axisTop(Math.max(...points.map((p) => p.latency ?? 0)), 100),
        unit: "ms",
      },
    ];
    for (const { key, color, top: max } of series) {
      g.strokeStyle = color;
      g.lineWidth = 2;
      g.lineJoin = "round";
      g.beginPath();
      let drawing = false;
      let last = null;
      for (const point of points) {
        const value = point[key];
        if (value === null || value === undefined) {
          drawing = false; // a gap: no value that second
          continue;
        }
        last = [x(point.t), bottom - (Math.min(value, max) / max) * (bottom - top)];
        if (drawing) g.lineTo(...last);
        else g.moveTo(...last);
        drawing = true;
      }
      g.stroke();
      if (last) {
        g.fillStyle = color; // the latest value, also when it is the only one
        g.beginPath();
        g.arc(last[0] - 3, last[1], 3, 0, 2 * Math.PI);
        g.fill();
      }
    }
    g.textBaseline = "top";
    g.textAlign = "left";
    g.fillStyle = FPS_COLOR;
    g.fillText(`${series[0].top} fps`, 2, 1);
    g.textAlign = "right";
    g.fillStyle = LATENCY_COLOR;
    g.fillText(`${series[1].top} ms`, width - 2, 1);
  }
}
