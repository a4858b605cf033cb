// codec-bench report page: the image viewer (bench/report/viewer.py wrote its images into viewer/*.js).
// A | B with a draggable split (or A | original | B side by side), "f" flips A and B to the original,
// zoom 1:1 to 8:1 without smoothing, drag to pan (every panel in step), error maps |X - original| amplified.
"use strict";
const VIEWER = DATA.viewer || null;
const ZOOMS = [1, 2, 4, 8];
const AMPLIFY = [1, 4, 16];
const view = { img: "", a: "", b: "", bpp: null, zoom: 1, x: 0, y: 0, split: 0.5, layout: "split", show: "decoded", amp: 4, flip: false };
const loadedImages = new Map(); // key -> HTMLImageElement (decoded)
const waiting = new Map(); // key -> [callbacks]
const pixelCache = new Map(); // key -> Uint8ClampedArray (RGBA)
const errorCache = new Map(); // key + amp -> canvas

// Called by each viewer/<key>.js with its lossless image as a data URI.
function benchViewerImage(key, uri) {
  const image = new Image();
  image.onload = () => {
    loadedImages.set(key, image);
    for (const done of waiting.get(key) || []) done();
    waiting.delete(key);
  };
  image.src = uri;
}

function loadImage(key, done) {
  if (loadedImages.has(key)) return done();
  if (waiting.has(key)) return waiting.get(key).push(done);
  waiting.set(key, [done]);
  const script = document.createElement("script");
  script.src = `${VIEWER.folder}/${encodeURIComponent(key)}.js`;
  script.onerror = () => { document.getElementById("v-status").textContent = `could not load ${script.src}`; };
  document.head.appendChild(script);
}

function viewerEntries(image, curve) {
  return VIEWER.entries.filter((e) => e.image === image && (curve === undefined || e.curve === curve));
}

function entryAt(curve, target) {
  const entries = viewerEntries(view.img, curve);
  if (!entries.length) return null;
  return entries.find((e) => e.targets.includes(target)) ||
    entries.reduce((best, e) => (Math.abs(e.bpp - target) < Math.abs(best.bpp - target) ? e : best));
}

function readViewerHash(params) {
  if (!VIEWER) return;
  const names = VIEWER.images.map((i) => i.name);
  view.img = names.includes(params.get("img")) ? params.get("img") : names[0];
  const curves = [...new Set(viewerEntries(view.img).map((e) => e.curve))];
  view.a = curves.includes(params.get("a")) ? params.get("a") : (curves.includes(DATA.anchor) ? DATA.anchor : curves[0]);
  const others = curves.filter((c) => c !== view.a);
  view.b = curves.includes(params.get("b")) ? params.get("b") : (others[others.length - 1] || view.a);
  const bpp = parseFloat(params.get("bpp"));
  view.bpp = VIEWER.targets.includes(bpp) ? bpp : VIEWER.targets[Math.floor(VIEWER.targets.length / 2)];
  const zoom = parseInt(params.get("zoom"), 10);
  view.zoom = ZOOMS.includes(zoom) ? zoom : 1;
  view.x = Math.max(0, parseInt(params.get("px"), 10) || 0); // pan: the image pixel at the view's top left
  view.y = Math.max(0, parseInt(params.get("py"), 10) || 0);
  const split = parseFloat(params.get("split"));
  view.split = split >= 0 && split <= 1 ? split : 0.5;
  view.layout = params.get("layout") === "side" ? "side" : "split";
  view.show = params.get("show") === "error" ? "error" : "decoded";
  const amp = parseInt(params.get("amp"), 10);
  view.amp = AMPLIFY.includes(amp) ? amp : 4;
}

function writeViewerHash(params) {
  if (!VIEWER || !view.img) return;
  params.set("img", view.img);
  params.set("a", view.a);
  params.set("b", view.b);
  params.set("bpp", String(view.bpp));
  params.set("zoom", String(view.zoom));
  params.set("px", String(view.x));
  params.set("py", String(view.y));
  params.set("split", view.split.toFixed(3));
  params.set("layout", view.layout);
  params.set("show", view.show);
  if (view.show === "error") params.set("amp", String(view.amp));
}

function fillSelect(id, values, labelOf, chosen) {
  const select = document.getElementById(id);
  select.innerHTML = "";
  for (const value of values) {
    const option = document.createElement("option");
    option.value = String(value);
    option.textContent = labelOf(value);
    select.appendChild(option);
  }
  select.value = String(chosen);
}

function syncControls() {
  const curves = [...new Set(viewerEntries(view.img).map((e) => e.curve))];
  fillSelect("v-image", VIEWER.images.map((i) => i.name), (n) => n, view.img);
  fillSelect("v-a", curves, (c) => c, view.a);
  fillSelect("v-b", curves, (c) => c, view.b);
  fillSelect("v-bpp", VIEWER.targets, (t) => `${t} bpp`, view.bpp);
  fillSelect("v-zoom", ZOOMS, (z) => `${z}:1`, view.zoom);
  fillSelect("v-layout", ["split", "side"], (l) => (l === "split" ? "A | B, draggable split" : "A | original | B"), view.layout);
  fillSelect("v-show", ["decoded", "error"], (s) => (s === "decoded" ? "decoded images" : "error maps"), view.show);
  fillSelect("v-amp", AMPLIFY, (a) => `\u00d7${a}`, view.amp);
  document.getElementById("v-amp").disabled = view.show !== "error";
}

function pixelsOf(key) {
  if (!pixelCache.has(key)) {
    const image = loadedImages.get(key);
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(image, 0, 0);
    pixelCache.set(key, context.getImageData(0, 0, canvas.width, canvas.height).data);
  }
  return pixelCache.get(key);
}

// |decoded - original| per pixel, the mean over R, G and B, times view.amp, clipped to 255 (grey levels).
function errorCanvas(key, originalKey) {
  const cacheKey = `${key}\u0000${view.amp}`;
  if (!errorCache.has(cacheKey)) {
    const decoded = pixelsOf(key), original = pixelsOf(originalKey);
    const image = loadedImages.get(key);
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d");
    const out = context.createImageData(canvas.width, canvas.height);
    for (let i = 0; i < decoded.length; i += 4) {
      const error = (Math.abs(decoded[i] - original[i]) + Math.abs(decoded[i + 1] - original[i + 1]) + Math.abs(decoded[i + 2] - original[i + 2])) / 3;
      const level = Math.min(255, Math.round(error * view.amp));
      out.data[i] = out.data[i + 1] = out.data[i + 2] = level;
      out.data[i + 3] = 255;
    }
    context.putImageData(out, 0, 0);
    errorCache.set(cacheKey, canvas);
  }
  return errorCache.get(cacheKey);
}

function panelSource(entry, original) {
  if (view.flip || !entry) return loadedImages.get(original.key);
  return view.show === "error" ? errorCanvas(entry.key, original.key) : loadedImages.get(entry.key);
}

function describe(entry, role) {
  if (!entry) return `${role}: no decode of this image`;
  const values = COLUMNS.map((c) => `${c.label} ${entry.values[c.name] === null ? "n/a" : entry.values[c.name].toFixed(c.unit === "dB" ? 2 : 4)}`);
  return `${role}: ${entry.curve}, knob ${entry.quality}, ${entry.bpp.toFixed(4)} bpp (${entry.bytes} bytes), ${values.join(", ")}${view.flip ? " [showing the original]" : ""}`;
}

// The size of each panel's canvas (screen pixels), with the pan kept inside the image.
function clampPan(image) {
  const stage = document.getElementById("v-stage").clientWidth || 1000;
  const width = Math.min(image.width * view.zoom, view.layout === "split" ? stage : Math.floor(stage / 3) - 8);
  const height = Math.min(image.height * view.zoom, 600);
  view.x = Math.max(0, Math.min(view.x, Math.max(0, image.width - Math.floor(width / view.zoom))));
  view.y = Math.max(0, Math.min(view.y, Math.max(0, image.height - Math.floor(height / view.zoom))));
  return { width, height };
}

// Draw source's region from (view.x, view.y), scaled by view.zoom, into canvas columns x0 to x1 (clipped, so
// that both sides of the split keep one pixel grid).
function drawRegion(context, source, x0, x1) {
  const { width, height } = context.canvas;
  context.save();
  context.beginPath();
  context.rect(x0, 0, x1 - x0, height);
  context.clip();
  context.drawImage(source, view.x, view.y, width / view.zoom, height / view.zoom, 0, 0, width, height);
  context.restore();
}

function drawViewer() {
  if (!VIEWER || !VIEWER.images.length) return;
  const original = VIEWER.images.find((i) => i.name === view.img);
  const entryA = entryAt(view.a, view.bpp), entryB = entryAt(view.b, view.bpp);
  const keys = [original.key, ...[entryA, entryB].filter(Boolean).map((e) => e.key)];
  const pending = keys.filter((k) => !loadedImages.has(k));
  document.getElementById("v-status").textContent = pending.length ? `loading ${pending.length} image(s) ...` : "";
  if (pending.length) {
    for (const key of pending) loadImage(key, () => { if (keys.every((k) => loadedImages.has(k))) drawViewer(); });
    return;
  }
  const stage = document.getElementById("v-stage");
  const panels = view.layout === "split" ? ["split"] : ["a", "original", "b"];
  const { width, height } = clampPan(original);
  const shape = `${view.layout}:${Math.floor(width)}x${Math.floor(height)}`;
  if (stage.dataset.shape !== shape) { // new canvases only when the layout or size changes (not while dragging)
    stage.innerHTML = "";
    stage.dataset.shape = shape;
    for (const panel of panels) {
      const canvas = document.createElement("canvas");
      canvas.width = Math.floor(width);
      canvas.height = Math.floor(height);
      canvas.id = `v-canvas-${panel}`;
      canvas.className = "viewer-canvas";
      stage.appendChild(canvas);
      attachDrag(canvas);
    }
  }
  for (const panel of panels) {
    const canvas = document.getElementById(`v-canvas-${panel}`);
    const context = canvas.getContext("2d");
    context.imageSmoothingEnabled = false;
    context.clearRect(0, 0, canvas.width, canvas.height);
    if (panel === "split") {
      const at = Math.round(view.split * canvas.width);
      drawRegion(context, panelSource(entryA, original), 0, at);
      drawRegion(context, panelSource(entryB, original), at, canvas.width);
      context.fillStyle = "#ffcc00";
      context.fillRect(at - 1, 0, 2, canvas.height);
    } else {
      const source = panel === "original" ? loadedImages.get(original.key) : panelSource(panel === "a" ? entryA : entryB, original);
      drawRegion(context, source, 0, canvas.width);
    }
  }
  document.getElementById("v-label-a").textContent = describe(entryA, "A (left)");
  document.getElementById("v-label-b").textContent = describe(entryB, "B (right)");
  document.getElementById("v-label-original").textContent =
    `original: ${original.name}, ${original.width}x${original.height}; showing ${Math.floor(width / view.zoom)}x${Math.floor(height / view.zoom)} pixels from (${view.x}, ${view.y}) at ${view.zoom}:1`;
  const scale = document.getElementById("v-scale");
  scale.hidden = view.show !== "error";
  document.getElementById("v-scale-high").textContent = `${(255 / view.amp).toFixed(view.amp > 1 ? 1 : 0)}`;
  document.getElementById("v-source").textContent =
    `A from ${entryA ? entryA.source : "-"}; B from ${entryB ? entryB.source : "-"}.`;
}

function attachDrag(canvas) {
  canvas.addEventListener("mousedown", (down) => {
    const rect = canvas.getBoundingClientRect();
    const onSplit = view.layout === "split" && Math.abs(down.clientX - rect.left - view.split * rect.width) < 8;
    const start = { x: view.x, y: view.y, cx: down.clientX, cy: down.clientY };
    const move = (event) => {
      if (onSplit) {
        view.split = Math.max(0, Math.min(1, (event.clientX - rect.left) / rect.width));
      } else {
        view.x = Math.round(start.x - (event.clientX - start.cx) / view.zoom);
        view.y = Math.round(start.y - (event.clientY - start.cy) / view.zoom);
      }
      drawViewer();
    };
    const up = () => {
      window.removeEventListener("mousemove", move);
      window.removeEventListener("mouseup", up);
      writeHash();
    };
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
    down.preventDefault();
  });
}

// The drill-down's image row clicked: that image, anchor | codec, in the viewer.
function showInViewer(image, a, b) {
  view.img = image;
  const curves = new Set(viewerEntries(image).map((e) => e.curve));
  if (curves.has(a)) view.a = a;
  if (curves.has(b)) view.b = b;
  viewerChanged();
  document.getElementById("viewer-section").scrollIntoView();
}

function viewerChanged() {
  clampPan(VIEWER.images.find((i) => i.name === view.img));
  syncControls();
  writeHash();
  drawViewer();
}

function setUpViewer() {
  const section = document.getElementById("viewer-section");
  if (!VIEWER) {
    section.hidden = true;
    return;
  }
  const refused = VIEWER.refused.length ? ` Not shown (${VIEWER.refused.length}): ${VIEWER.refused.join("; ")}.` : "";
  if (!VIEWER.images.length) {
    for (const element of section.querySelectorAll("nav, #v-stage")) element.hidden = true;
    document.getElementById("v-note").textContent = `No decoded image to show.${refused}`;
    return;
  }
  const bind = (id, apply) => document.getElementById(id).addEventListener("change", (e) => { apply(e.target.value); viewerChanged(); });
  bind("v-image", (v) => { view.img = v; });
  bind("v-a", (v) => { view.a = v; });
  bind("v-b", (v) => { view.b = v; });
  bind("v-bpp", (v) => { view.bpp = parseFloat(v); });
  bind("v-zoom", (v) => {
    // keep the region's centre where it was
    const zoom = parseInt(v, 10), stage = document.getElementById("v-stage").clientWidth || 1000;
    const centre = [view.x + stage / 2 / view.zoom, view.y + 300 / view.zoom];
    view.zoom = zoom;
    view.x = Math.round(centre[0] - stage / 2 / zoom);
    view.y = Math.round(centre[1] - 300 / zoom);
  });
  bind("v-layout", (v) => { view.layout = v; });
  bind("v-show", (v) => { view.show = v; });
  bind("v-amp", (v) => { view.amp = parseInt(v, 10); });
  window.addEventListener("keydown", (event) => {
    if (event.key !== "f" || event.target.tagName === "SELECT" || event.target.tagName === "INPUT") return;
    view.flip = !view.flip;
    drawViewer();
  });
  document.getElementById("v-note").textContent =
    `${VIEWER.entries.length} decodes of ${VIEWER.images.length} image(s), ${(VIEWER.bytes / 1e6).toFixed(1)} MB in ${VIEWER.folder}/ (lossless WebP). ` +
    "For each codec, its decode of the image nearest the chosen rate. Drag to pan, drag the yellow line to move the split, press f to flip A and B to the original and back." + refused;
  syncControls();
}
