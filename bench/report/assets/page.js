// codec-bench report page: draws what bench/report/html.py embedded in #report-data (no network needed);
// the viewer's functions are in viewer.js, which follows this script, and setUp() runs after both.
"use strict";
const DATA = JSON.parse(document.getElementById("report-data").textContent);
const COLUMNS = DATA.columns;
const state = { anchor: DATA.anchor, agg: "mean-curve", x: "linear", codec: "" };
// how each table is sorted: the column key (null: as given) and the direction
const sorting = { bd: { key: null, desc: false }, images: { key: null, desc: false } };
const PER_IMAGE = DATA.per_image || {};

function readHash() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  if (params.has("anchor") && DATA.bd[params.get("anchor")] !== undefined) state.anchor = params.get("anchor");
  if (["mean-curve", "per-image"].includes(params.get("agg"))) state.agg = params.get("agg");
  if (["linear", "log"].includes(params.get("x"))) state.x = params.get("x");
  state.codec = PER_IMAGE[params.get("codec")] !== undefined ? params.get("codec") : "";
  readViewerHash(params);
}

function writeHash() {
  const params = new URLSearchParams({ anchor: state.anchor, agg: state.agg, x: state.x });
  if (state.codec) params.set("codec", state.codec);
  writeViewerHash(params);
  history.replaceState(null, "", "#" + params.toString());
}

function fixed(value, digits) {
  return value === null || value === undefined ? "n/a" : value.toFixed(digits);
}

function signed(value, digits) {
  return value === null || value === undefined ? "n/a" : (value > 0 ? "+" : "") + value.toFixed(digits);
}

function curveStyle(curve) {
  return {
    color: curve.color,
    symbol: curve.hollow ? curve.symbol + "-open" : curve.symbol,
    dash: curve.dash,
  };
}

// --- sortable tables ---------------------------------------------------------------------------------------
function sortEntries(entries, order, keyOf) {
  if (!order.key) return entries;
  return entries.sort((a, b) => {
    const x = keyOf(a, order.key), y = keyOf(b, order.key);
    const sign = typeof x === "string" ? x.localeCompare(y) : x - y;
    return order.desc ? -sign : sign;
  });
}

function sortableHeader(table, headers, order, rerender) {
  table.innerHTML = "";
  const head = table.createTHead().insertRow();
  for (const [key, label] of headers) {
    const th = document.createElement("th");
    th.textContent = label;
    th.dataset.key = key;
    if (order.key === key) th.className = order.desc ? "sorted-desc" : "sorted-asc";
    th.addEventListener("click", () => {
      order.desc = order.key === key ? !order.desc : false;
      order.key = key;
      rerender();
    });
    head.appendChild(th);
  }
  return table.createTBody();
}

// --- BD table -------------------------------------------------------------------------------------------
function bdRows() {
  const byCodec = new Map();
  for (const row of DATA.bd[state.anchor] || []) {
    if (row.aggregation !== state.agg) continue;
    if (!byCodec.has(row.codec)) byCodec.set(row.codec, { codec: row.codec, images: null, cells: {} });
    const entry = byCodec.get(row.codec);
    entry.cells[row.metric] = row;
    if (row.images !== null) entry.images = Math.max(entry.images || 0, row.images);
  }
  return [...byCodec.values()];
}

function cellText(row) {
  if (!row) return "n/a";
  let text = signed(row.bd_rate, 2);
  if (row.ci_low !== null && row.ci_high !== null) text += ` [${fixed(row.ci_low, 2)}, ${fixed(row.ci_high, 2)}]`;
  return text;
}

function sortKey(entry, key) {
  if (key === "codec") return entry.codec;
  if (key === "images") return entry.images === null ? Infinity : entry.images;
  const row = entry.cells[key];
  return row && row.bd_rate !== null ? row.bd_rate : Infinity;
}

function renderBD() {
  const entries = sortEntries(bdRows(), sorting.bd, sortKey);
  const headers = [["codec", "codec"], ["images", "images"], ...COLUMNS.map((c) => [c.name, `BD-rate ${c.label} [%]`])];
  const body = sortableHeader(document.getElementById("bd-table"), headers, sorting.bd, renderBD);
  for (const entry of entries) {
    const tr = body.insertRow();
    tr.dataset.codec = entry.codec;
    tr.style.cursor = "pointer";
    tr.title = "show its per-image BD-rates";
    tr.addEventListener("click", () => { state.codec = entry.codec; render(); });
    tr.insertCell().textContent = entry.codec;
    tr.insertCell().textContent = entry.images === null ? "n/a" : String(entry.images);
    for (const column of COLUMNS) {
      const cell = tr.insertCell();
      const row = entry.cells[column.name];
      cell.textContent = cellText(row);
      if (row && row.note) cell.title = row.note;
    }
  }
  const intervals = state.anchor === DATA.anchor
    ? "95% bootstrap intervals in brackets (mean-curve: PCHIP only)."
    : `No intervals against ${state.anchor}: the report computed them against ${DATA.anchor} only (bench report --anchor ${state.anchor} for them).`;
  document.getElementById("bd-note").textContent =
    `Against ${state.anchor}, ${state.agg === "mean-curve" ? "BD-rate between the mean curves" : "mean of the per-image BD-rates"}; negative: smaller files at equal quality. ${intervals} Click a header to sort; hover a cell for its note.`;
}

// --- per-image drill-down ---------------------------------------------------------------------------------
function renderImages() {
  const section = document.getElementById("image-section");
  const values = PER_IMAGE[state.codec];
  section.hidden = !values;
  if (!values) return;
  document.getElementById("image-title").textContent = `Per image: ${state.codec} against ${DATA.anchor}`;
  const byImage = new Map();
  for (const column of COLUMNS) {
    for (const [image, rate] of values[column.name] || []) {
      if (!byImage.has(image)) byImage.set(image, { image: image, rates: {} });
      byImage.get(image).rates[column.name] = rate;
    }
  }
  const imageKey = (entry, key) => (key === "image" ? entry.image : entry.rates[key] ?? Infinity);
  const entries = sortEntries([...byImage.values()], sorting.images, imageKey);
  const headers = [["image", "image"], ...COLUMNS.map((c) => [c.name, `BD-rate ${c.label} [%]`])];
  const body = sortableHeader(document.getElementById("image-table"), headers, sorting.images, renderImages);
  for (const entry of entries) {
    const tr = body.insertRow();
    tr.dataset.image = entry.image;
    tr.insertCell().textContent = entry.image;
    if (VIEWER && VIEWER.images.some((i) => i.name === entry.image)) { // in the viewer: click to look at it
      tr.style.cursor = "pointer";
      tr.title = `look at ${entry.image}: ${DATA.anchor} | ${state.codec} in the viewer`;
      tr.addEventListener("click", () => showInViewer(entry.image, DATA.anchor, state.codec));
    }
    for (const column of COLUMNS) {
      const rate = entry.rates[column.name];
      const cell = tr.insertCell();
      cell.textContent = signed(rate, 2);
      if (rate !== null && rate !== undefined) cell.style.color = rate < 0 ? "#1a7f37" : "#b42318";
    }
  }
  const wins = COLUMNS.map((c) => {
    const rates = (values[c.name] || []).map((v) => v[1]).filter((v) => v !== null);
    return `${c.label}: smaller on ${rates.filter((v) => v < 0).length} of ${rates.length} images`;
  });
  document.getElementById("image-note").textContent =
    `Each image's BD-rate against ${DATA.anchor} (the report's anchor; their mean is the per-image aggregation). ${wins.join("; ")}. Green: smaller files than the anchor at equal quality. Click a header to sort${VIEWER ? "; click an image the viewer has to look at it" : ""}.`;
}

// --- RD curves -------------------------------------------------------------------------------------------
function rdTraces(column) {
  const traces = [];
  for (const curve of DATA.curves) {
    const points = curve.points.filter((p) => p.bpp !== null && p[column.name] !== null);
    if (!points.length) continue;
    const style = curveStyle(curve);
    traces.push({
      type: "scatter", mode: "lines+markers", name: curve.label,
      x: points.map((p) => p.bpp), y: points.map((p) => p[column.name]),
      customdata: points.map((p) => [p.quality, p.images]),
      line: { color: style.color, dash: style.dash, width: 1.5 },
      marker: { color: style.color, symbol: style.symbol, size: 7 },
      hovertemplate: `<b>${curve.label}</b><br>quality %{customdata[0]}<br>%{x:.4f} bpp<br>${column.label} %{y:.4f}<br>%{customdata[1]} images<extra></extra>`,
    });
  }
  return traces;
}

function renderRD() {
  const holder = document.getElementById("rd-plots");
  for (const column of COLUMNS) {
    let div = document.getElementById(`rd-${column.name}`);
    if (!div) {
      div = document.createElement("div");
      div.id = `rd-${column.name}`;
      div.className = "rd-plot";
      holder.appendChild(div);
    }
    Plotly.react(div, rdTraces(column), {
      title: { text: `${column.axis_label} against rate` },
      xaxis: { title: { text: "Rate [bpp]" }, type: state.x },
      yaxis: { title: { text: column.axis_label } },
      legend: { itemclick: "toggle" }, margin: { t: 40 },
    }, { responsive: true, displaylogo: false });
  }
}

// --- complexity and speed ----------------------------------------------------------------------------------
function bdRateOf(codec, column) {
  if (codec === state.anchor) return 0;
  const row = (DATA.bd[state.anchor] || []).find((r) => r.codec === codec && r.metric === column && r.aggregation === state.agg);
  return row ? row.bd_rate : null;
}

function renderComplexity() {
  const div = document.getElementById("complexity-plot");
  if (!DATA.complexity.length || !COLUMNS.length) {
    document.getElementById("complexity-section").hidden = true;
    return;
  }
  const column = COLUMNS[0];
  const styles = new Map(DATA.curves.map((c) => [c.label, curveStyle(c)]));
  const traces = [];
  for (const row of DATA.complexity) {
    const rate = bdRateOf(row.codec, column.name);
    if (rate === null) continue;
    const style = styles.get(row.codec) || { color: "#444", symbol: "circle" };
    const common = { type: "scatter", mode: "markers+text", text: [row.codec], textposition: "top center", cliponaxis: false,
      marker: { color: style.color, symbol: style.symbol, size: 10 }, name: row.codec, legendgroup: row.codec };
    if (row.dec_kmac_px !== null) {
      traces.push({ ...common, x: [row.dec_kmac_px], y: [rate], xaxis: "x", yaxis: "y",
        hovertemplate: `<b>${row.codec}</b><br>%{x:.2f} kMAC/pixel (decoder)<br>BD-rate %{y:+.2f}%<extra></extra>` });
    }
    if (row.decode_s !== null) {
      traces.push({ ...common, x: [row.decode_s], y: [rate], xaxis: "x2", yaxis: "y2", showlegend: row.dec_kmac_px === null,
        hovertemplate: `<b>${row.codec}</b><br>%{x:.4f} s per image (decode, ${row.device})<br>BD-rate %{y:+.2f}%<extra></extra>` });
    }
  }
  Plotly.react(div, traces, {
    grid: { rows: 1, columns: 2, pattern: "independent" },
    xaxis: { type: "log", title: { text: "Decoder complexity [kMAC/pixel] (learned codecs)" } },
    xaxis2: { type: "log", title: { text: "Decode time per image [s]" } },
    yaxis: { title: { text: `BD-rate vs ${state.anchor} [%] (${column.label})` } },
    yaxis2: { title: { text: `BD-rate vs ${state.anchor} [%]` } },
    margin: { t: 30 },
  }, { responsive: true, displaylogo: false });
}

function renderSpeed() {
  const div = document.getElementById("speed-plot");
  const traces = [];
  for (const curve of DATA.curves) {
    const style = curveStyle(curve);
    for (const [key, axis] of [["encode_s", "y"], ["decode_s", "y2"]]) {
      const points = curve.points.filter((p) => p.bpp !== null && p[key] !== null && p[key] > 0);
      if (!points.length) continue;
      traces.push({
        type: "scatter", mode: "lines+markers", name: curve.label, legendgroup: curve.label, showlegend: key === "encode_s",
        x: points.map((p) => p.bpp), y: points.map((p) => p[key]), xaxis: axis === "y" ? "x" : "x2", yaxis: axis,
        line: { color: style.color, dash: style.dash, width: 1.5 }, marker: { color: style.color, symbol: style.symbol, size: 6 },
        hovertemplate: `<b>${curve.label}</b><br>%{x:.4f} bpp<br>${key === "encode_s" ? "encode" : "decode"} %{y:.4f} s<br>${curve.device}<extra></extra>`,
      });
    }
  }
  if (!traces.length) {
    document.getElementById("speed-section").hidden = true;
    return;
  }
  Plotly.react(div, traces, {
    grid: { rows: 1, columns: 2, pattern: "independent" },
    xaxis: { title: { text: "Rate [bpp]" }, type: state.x }, xaxis2: { title: { text: "Rate [bpp]" }, type: state.x },
    yaxis: { type: "log", title: { text: "Encode time per image [s]" } },
    yaxis2: { type: "log", title: { text: "Decode time per image [s]" } },
    margin: { t: 30 },
  }, { responsive: true, displaylogo: false });
}

// --- controls --------------------------------------------------------------------------------------------
function render() {
  writeHash();
  renderBD();
  renderImages();
  renderRD();
  renderComplexity();
  renderSpeed();
  drawViewer();
}

function setUp() {
  readHash();
  const anchor = document.getElementById("anchor");
  for (const label of Object.keys(DATA.bd)) {
    const option = document.createElement("option");
    option.value = label;
    option.textContent = label === DATA.anchor ? `${label} (the report's anchor)` : label;
    anchor.appendChild(option);
  }
  anchor.value = state.anchor;
  document.getElementById("aggregation").value = state.agg;
  document.getElementById("xaxis").value = state.x;
  anchor.addEventListener("change", (e) => { state.anchor = e.target.value; render(); });
  document.getElementById("aggregation").addEventListener("change", (e) => { state.agg = e.target.value; render(); });
  document.getElementById("xaxis").addEventListener("change", (e) => { state.x = e.target.value; render(); });
  window.addEventListener("hashchange", () => {
    readHash();
    anchor.value = state.anchor;
    if (VIEWER) syncControls();
    render();
  });
  setUpViewer();
  document.getElementById("summary").textContent =
    `${DATA.curves.length} curves, ${COLUMNS.length} compared metrics; generated ${DATA.generated || ""}. ` +
    "Hover a point for its values; click a legend entry to hide a codec; the view is kept in the URL.";
  render();
}

