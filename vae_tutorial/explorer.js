// The no-kernel latent explorer of vae_tutorial.explorer: a VAE decoder run in plain JavaScript.
//
// explorer_html() wraps this file in a function scope and calls vaeExplorer(root), where root is
// the explorer's own <div> (unique id). Nothing is global and nothing is fetched: the decoder's
// weights (float16, base64) and the latent means of test digits come in a JSON <script> inside
// root. The forward pass is h = act(W h + b) per layer, then sigmoid: pixel probabilities.
// root.vaeExplorer exposes decode(z), setPoint(z1, z2) and timeRedraw(n) for the tests.

function vaeExplorer(root) {
  "use strict";
  if (!root || root.vaeExplorer) return;
  try {
    startExplorer(root);
  } catch (error) {
    // Bad data must not leave a blank canvas with a console message only: say so on the page.
    const note = document.createElement("p");
    note.className = "vae-explorer-error";
    note.setAttribute("role", "alert");
    note.textContent = "This explorer cannot draw: " + error.message;
    root.prepend(note);
    root.vaeExplorer = { error: error.message };
    console.error("vae explorer:", error.message);
  }
}

function startExplorer(root) {
  "use strict";
  let spec;
  try {
    spec = JSON.parse(root.querySelector("script[data-role=spec]").textContent);
  } catch (error) {
    throw new Error("its data is not valid JSON (" + error.message + ").");
  }
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];  // tab10

  // IEEE 754 half precision (1 sign, 5 exponent, 10 mantissa bits) to a JS number, exactly.
  function halfToNumber(h) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) return sign * mantissa * Math.pow(2, -24);
    if (exponent === 31) return mantissa ? NaN : sign * Infinity;
    return sign * (1 + mantissa / 1024) * Math.pow(2, exponent - 15);
  }

  // `count` float16 numbers from base64, each finite, or an Error that says what is wrong.
  function readHalfs(base64, count, what) {
    let bytes;
    try {
      bytes = atob(base64);
    } catch (error) {
      throw new Error(what + " is not valid base64.");
    }
    if (bytes.length !== 2 * count) {
      throw new Error(what + " holds " + bytes.length / 2 + " numbers; its size needs " + count + ".");
    }
    const values = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      values[i] = halfToNumber(bytes.charCodeAt(2 * i) | (bytes.charCodeAt(2 * i + 1) << 8));
      if (!Number.isFinite(values[i])) throw new Error(what + " holds NaN or infinite values.");
    }
    return values;
  }

  const ACTIVATIONS = {
    relu: (v) => (v > 0 ? v : 0),
    tanh: Math.tanh,
    elu: (v) => (v > 0 ? v : Math.expm1(v)),
    sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  };
  // The decoder must run z (2 numbers) -> ... -> 784 probabilities, each layer feeding the next.
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) {
    throw new Error("its data has no decoder layers.");
  }
  const layers = spec.layers.map((layer, k) => {
    const what = "decoder layer " + k;
    const size = (n) => Number.isInteger(n) && n > 0;
    if (!size(layer.in) || !size(layer.out)) throw new Error(what + " has no valid size.");
    const expectedIn = k === 0 ? 2 : spec.layers[k - 1].out;
    if (layer.in !== expectedIn) {
      throw new Error(what + " takes " + layer.in + " inputs, but receives " + expectedIn + ".");
    }
    if (!(layer.activation in ACTIVATIONS)) {
      throw new Error(what + " has an unknown activation, " + JSON.stringify(layer.activation) + ".");
    }
    return {
      rows: layer.out, cols: layer.in,
      weight: readHalfs(layer.weight, layer.in * layer.out, what + "'s weights"),
      bias: readHalfs(layer.bias, layer.out, what + "'s biases"),
      act: ACTIVATIONS[layer.activation],
    };
  });
  const last = spec.layers[spec.layers.length - 1];
  if (last.out !== 784 || last.activation !== "sigmoid") {
    throw new Error("the decoder must end in 784 sigmoid outputs (a 28 x 28 digit).");
  }
  const points = spec.points, labels = spec.labels;
  if (!Array.isArray(points) || !points.every(Number.isFinite) || typeof labels !== "string" ||
      points.length !== 2 * labels.length || !/^[0-9]*$/.test(labels) ||
      !(Number.isFinite(spec.extent) && spec.extent > 0)) {
    throw new Error("its latent points, labels or extent are malformed.");
  }
  const buffers = layers.map((layer) => new Float64Array(layer.rows));

  // The decoder: z (length d) -> 784 pixel probabilities, in float64 arithmetic.
  function decode(z) {
    let h = Float64Array.from(z);
    layers.forEach((layer, k) => {
      const out = buffers[k], W = layer.weight, n = layer.cols;
      for (let r = 0; r < layer.rows; r++) {
        let s = layer.bias[r];
        for (let c = 0, o = r * n; c < n; c++) s += W[o + c] * h[c];
        out[r] = layer.act(s);
      }
      h = out;
    });
    return h;
  }

  const pad = root.querySelector("canvas[data-role=pad]");
  const digit = root.querySelector("canvas[data-role=digit]");
  const readout = root.querySelector("[data-role=readout]");
  root.querySelector("[data-role=legend]").innerHTML = COLORS.map(
    (color, c) => `<span><i style="background:${color}"></i>${c}</span>`).join("");
  const E = spec.extent, W = pad.width, H = pad.height;
  const toPixel = (z1, z2) => [((z1 + E) / (2 * E)) * W, ((E - z2) / (2 * E)) * H];
  const toLatent = (x, y) => [(x / W) * 2 * E - E, E - (y / H) * 2 * E];

  // The pad's background (prior contours and the test digits' latent means), drawn once.
  const background = document.createElement("canvas");
  background.width = W;
  background.height = H;
  (function drawBackground(g) {
    g.fillStyle = "#ffffff";
    g.fillRect(0, 0, W, H);
    g.strokeStyle = "#bbbbbb";
    g.lineWidth = 1;
    g.setLineDash([4, 4]);
    const [cx, cy] = toPixel(0, 0);
    for (const r of [1, 2, 3]) {
      g.beginPath();
      g.arc(cx, cy, (r / (2 * E)) * W, 0, 2 * Math.PI);
      g.stroke();
    }
    g.setLineDash([]);
    g.globalAlpha = 0.7;
    for (let i = 0; i < spec.labels.length; i++) {
      const [x, y] = toPixel(spec.points[2 * i], spec.points[2 * i + 1]);
      g.fillStyle = COLORS[+spec.labels[i]];
      g.fillRect(x - 1.5, y - 1.5, 3, 3);
    }
    g.globalAlpha = 1;
  })(background.getContext("2d"));

  const pixels = document.createElement("canvas");
  pixels.width = 28;
  pixels.height = 28;
  const pixelContext = pixels.getContext("2d");
  const image = pixelContext.createImageData(28, 28);
  const padContext = pad.getContext("2d");
  const digitContext = digit.getContext("2d");
  digitContext.imageSmoothingEnabled = false;
  let point = spec.start.slice();

  // One redraw: decode the point, paint the 28x28 digit (ink dark on white), mark the pad.
  function redraw() {
    const p = decode(point);
    for (let i = 0; i < 784; i++) {
      const v = Math.round(255 * (1 - p[i]));
      image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = v;
      image.data[4 * i + 3] = 255;
    }
    pixelContext.putImageData(image, 0, 0);
    digitContext.drawImage(pixels, 0, 0, digit.width, digit.height);
    padContext.drawImage(background, 0, 0);
    const [x, y] = toPixel(point[0], point[1]);
    padContext.lineWidth = 3;
    padContext.strokeStyle = "#ffffff";
    padContext.beginPath();
    padContext.arc(x, y, 7, 0, 2 * Math.PI);
    padContext.stroke();
    padContext.lineWidth = 1.5;
    padContext.strokeStyle = "#000000";
    padContext.stroke();
    padContext.beginPath();
    padContext.moveTo(x - 11, y); padContext.lineTo(x + 11, y);
    padContext.moveTo(x, y - 11); padContext.lineTo(x, y + 11);
    padContext.stroke();
    const norm = Math.hypot(point[0], point[1]);
    readout.textContent =
      `z = (${point[0].toFixed(2)}, ${point[1].toFixed(2)}),  \u2016z\u2016 = ${norm.toFixed(2)}`;
  }

  function setPoint(z1, z2) {
    point = [Math.max(-E, Math.min(E, z1)), Math.max(-E, Math.min(E, z2))];
    redraw();
  }

  function fromEvent(event) {
    const box = pad.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * W;
    const y = ((event.clientY - box.top) / box.height) * H;
    setPoint(...toLatent(x, y));
  }

  pad.addEventListener("pointerdown", (event) => {
    pad.setPointerCapture(event.pointerId);
    fromEvent(event);
    event.preventDefault();
  });
  pad.addEventListener("pointermove", (event) => {
    if (event.buttons & 1) fromEvent(event);
  });
  pad.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? 0.5 : 0.05;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0],
                    ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (!(event.key in moves)) return;
    setPoint(point[0] + moves[event.key][0], point[1] + moves[event.key][1]);
    event.preventDefault();
  });

  // Milliseconds per redraw, averaged over n redraws along a small circle.
  function timeRedraw(n) {
    const saved = point.slice();
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      point = [saved[0] + 0.5 * Math.cos(i), saved[1] + 0.5 * Math.sin(i)];
      redraw();
    }
    const ms = (performance.now() - start) / n;
    setPoint(saved[0], saved[1]);
    return ms;
  }

  root.vaeExplorer = { decode: (z) => Array.from(decode(z)), setPoint, timeRedraw,
                       point: () => point.slice() };
  redraw();
}
