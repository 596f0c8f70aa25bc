// framebench report.html: the verdict's forest plot, pickers, a throughput chart and a sortable,
// filterable table over the embedded cells. Reads only the JSON in #framebench-data; makes no request.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("framebench-data").textContent);
  const CELLS = DATA.cells;
  const PICKERS = [
    ["pick-where", "where", false],
    ["pick-model", "model", true],
    ["pick-mode", "mode", true],
    ["pick-input", "input", true],
    ["pick-precision", "precision", true],
    ["pick-setup", "setup", true],
  ];
  const ALL = "(all)";
  const CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };  // no toolbar over the legend
  const colour = (framework) => (DATA.colours && DATA.colours[framework]) || "#7f7f7f";
  const fmt = (v, digits) =>
    v === null || v === undefined ? "—" : Number(v).toLocaleString("en-US", {
      minimumFractionDigits: digits, maximumFractionDigits: digits });
  const stat = (s, digits) => (s ? fmt(s.median, digits) : "—");
  const interval = (s, digits) =>
    !s ? "—" : s.n < 2 ? "one run" : `${fmt(s.low, digits)}–${fmt(s.high, digits)} (${s.label})`;

  // The key columns first (framework, mode, examples/s, × fastest, verdict): visible without scrolling.
  const COLUMNS = [
    ["framework", (c) => c.framework, undefined, "framework"],
    ["mode", (c) => c.mode],
    ["model", (c) => c.model],
    ["examples/s", (c) => (c.throughput ? c.throughput.median : null), 0],
    ["× fastest", (c) => c.ratio, 2],
    ["verdict", (c) => c.versus, undefined, "wrap"],
    ["n (throughput / accuracy)", (c) => c.n],
    ["examples/s interval", (c) => interval(c.throughput, 0)],
    ["test accuracy", (c) => (c.accuracy ? c.accuracy.median : null), 3],
    ["accuracy interval", (c) => interval(c.accuracy, 3)],
    ["eval examples/s (warm)", (c) => (c.eval ? c.eval.median : null), 0],
    ["time to target (s)", (c) => c.ttt],
    ["accuracy gate", (c) => c.gate],
    ["input", (c) => c.input],
    ["precision", (c) => c.precision],
    ["setup", (c) => c.setup],
    ["machine-device", (c) => c.where],
    ["commit", (c) => c.commit],
    ["version", (c) => c.version],
  ];
  let sortColumn = null;
  let sortAscending = true;

  function choices(key, cells) {
    return [...new Set(cells.map((c) => c[key]))].sort();
  }

  function fillPicker(id, key, withAll, cells) {
    const select = document.getElementById(id);
    const previous = select.value;
    select.innerHTML = "";
    const values = (withAll ? [ALL] : []).concat(choices(key, cells));
    for (const value of values) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = value;
      select.appendChild(option);
    }
    if (values.includes(previous)) select.value = previous;
  }

  function selected() {
    const where = document.getElementById("pick-where").value;
    let cells = CELLS.filter((c) => c.where === where);
    for (const [id, key, withAll] of PICKERS.slice(1)) {
      fillPicker(id, key, withAll, cells);
      const value = document.getElementById(id).value;
      if (value !== ALL) cells = cells.filter((c) => c[key] === value);
    }
    const text = document.getElementById("filter").value.trim().toLowerCase();
    if (text) {
      cells = cells.filter((c) => COLUMNS.some(([, get]) => String(get(c) ?? "").toLowerCase().includes(text)));
    }
    return cells;
  }

  function sortValue(value) {
    return typeof value === "number" ? value : value === null ? -Infinity : String(value);
  }

  function renderTable(cells) {
    const table = document.getElementById("cells");
    const head = table.tHead;
    head.innerHTML = "";
    const tr = head.insertRow();
    COLUMNS.forEach(([name], index) => {
      const th = document.createElement("th");
      th.textContent = name;
      th.dataset.column = String(index);
      if (sortColumn === index) th.setAttribute("aria-sort", sortAscending ? "ascending" : "descending");
      th.addEventListener("click", () => {
        sortAscending = sortColumn === index ? !sortAscending : true;
        sortColumn = index;
        update();
      });
      tr.appendChild(th);
    });
    let rows = cells.slice();
    if (sortColumn !== null) {
      const get = COLUMNS[sortColumn][1];
      rows.sort((a, b) => {
        const x = sortValue(get(a));
        const y = sortValue(get(b));
        const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return sortAscending ? order : -order;
      });
    }
    const body = table.tBodies[0];
    body.innerHTML = "";
    for (const c of rows) {
      const row = body.insertRow();
      if (c.flagged) row.className = "flagged";
      for (const [, get, digits, kind] of COLUMNS) {
        const td = row.insertCell();
        const value = get(c);
        if (digits !== undefined) {
          td.className = "num";
          td.textContent = fmt(value, digits);
        } else if (kind === "framework") {
          const swatch = document.createElement("span");
          swatch.className = "swatch";
          swatch.style.background = colour(value);
          td.append(swatch, String(value ?? "—"));
        } else {
          if (kind) td.className = kind;
          td.textContent = value ?? "—";
        }
      }
    }
  }

  function hoverText(c) {
    return [
      `<b>${c.label}</b> · ${c.model} · ${c.setup}`,
      `examples/s ${stat(c.throughput, 0)}, interval ${interval(c.throughput, 0)}, n = ${c.throughput ? c.throughput.n : 0}`,
      `test accuracy ${stat(c.accuracy, 3)}, interval ${interval(c.accuracy, 3)}, n = ${c.accuracy ? c.accuracy.n : 0}`,
      `${c.versus}`,
    ].map(escapeHover).join("<br>").replace(/&lt;(\/?)b&gt;/g, "<$1b>");
  }

  function escapeHover(text) {  // plotly renders a few tags in hover text: a record's text stays text
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function escapeLabel(text) {
    return escapeHover(text);
  }

  // Horizontal bars: every label has its own line at any width. One panel per model, fastest on top.
  function renderCharts(cells) {
    const where = document.getElementById("pick-where").value;
    const measured = cells.filter((c) => c.throughput);
    const models = choices("model", measured);
    const ROW = 26, HEAD = 66, TOP = 40, BOTTOM = 50;
    const panels = models.map((model) => {
      const mine = measured.filter((c) => c.model === model).sort((a, b) => b.throughput.median - a.throughput.median);
      const base = (c) => c.label + (c.input !== "device" ? ` · ${c.input}` : "") + (c.precision !== "fp32" ? ` · ${c.precision}` : "");
      const counts = {};
      for (const c of mine) counts[base(c)] = (counts[base(c)] || 0) + 1;
      const label = (c) => escapeLabel(counts[base(c)] > 1 ? `${base(c)} · ${c.setup}` : base(c));
      return { model, mine, label };
    });
    document.getElementById("throughput-title").textContent = `Training examples/s, steady state — ${where}`;
    const height = TOP + BOTTOM + panels.reduce((sum, p) => sum + HEAD + ROW * Math.max(p.mine.length, 1), 0);
    const layout = {
      height, margin: { t: TOP, b: BOTTOM, l: 10, r: 20 }, hovermode: "closest", bargap: 0.25,
      legend: { orientation: "h", x: 0, xanchor: "left", y: 1, yanchor: "bottom", title: { text: "framework" } },
      annotations: [],
    };
    const traces = [];
    const shown = new Set();
    let top = 1;
    const plotHeight = height - TOP - BOTTOM;
    panels.forEach((panel, i) => {
      const suffix = i ? String(i + 1) : "";
      const rows = HEAD + ROW * Math.max(panel.mine.length, 1);
      const domainTop = top - (HEAD - 22) / plotHeight;  // room for the panel above's ticks, then the title
      const domainBottom = top - rows / plotHeight;
      top = domainBottom;
      layout[`yaxis${suffix}`] = {
        domain: [Math.max(domainBottom, 0), Math.max(domainTop, 0)], automargin: true, autorange: "reversed",
        type: "category", categoryorder: "array", categoryarray: panel.mine.map(panel.label), anchor: `x${suffix}`,
      };
      layout[`xaxis${suffix}`] = {
        anchor: `y${suffix}`, rangemode: "tozero", automargin: true, tickformat: ",~s",
        title: { text: i === panels.length - 1 ? "examples/s (median), steady state" : "", font: { size: 12 } },
      };
      layout.annotations.push({
        text: `<b>${escapeLabel(panel.model)}</b>`, showarrow: false, xref: "paper", yref: "paper",
        x: 0, xanchor: "left", y: domainTop, yanchor: "bottom", font: { size: 12 },
      });
      for (const framework of choices("framework", panel.mine)) {
        const mine = panel.mine.filter((c) => c.framework === framework);
        traces.push({
          type: "bar", orientation: "h", name: framework, legendgroup: framework, showlegend: !shown.has(framework),
          xaxis: `x${suffix}`, yaxis: `y${suffix}`, marker: { color: colour(framework) },
          x: mine.map((c) => c.throughput.median), y: mine.map(panel.label),
          error_x: errorBars(mine.map((c) => c.throughput)),
          hovertext: mine.map(hoverText), hoverinfo: "text",
        });
        shown.add(framework);
      }
    });
    Plotly.react("chart-throughput", traces, layout, CONFIG);
  }

  function errorBars(stats) {
    return {
      type: "data", symmetric: false, visible: true,
      array: stats.map((s) => (s && s.n > 1 ? s.high - s.median : 0)),
      arrayminus: stats.map((s) => (s && s.n > 1 ? s.median - s.low : 0)),
    };
  }

  function forestLabel(row) {
    if (row.ratio === null || row.ratio === undefined) return "not measured";
    const words = { faster: "settled faster", slower: "settled slower", tie: "tie", open: "open" };
    const leader = row.ratio === 1 && ["", "fastest", "leader", null, undefined].includes(row.label);
    const word = leader ? "fastest" : words[row.label] || String(row.label);
    const bounds = !leader && row.low != null && row.high != null ? ` [${fmt(row.low, 2)}–${fmt(row.high, 2)}]` : "";
    return `${word} ${fmt(row.ratio, 2)}×${bounds}`;
  }

  function forestTicks(low, high) {
    const candidates = [0.05, 0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.8, 0.9, 1.1, 1.25, 1.5, 2, 3, 5, 10];
    const gap = (Math.log(high) - Math.log(low)) / 6;
    const kept = [1];
    for (const t of candidates.filter((t) => t >= low && t <= high).sort((a, b) => Math.abs(Math.log(a)) - Math.abs(Math.log(b)))) {
      if (kept.every((k) => Math.abs(Math.log(t) - Math.log(k)) >= gap)) kept.push(t);
    }
    return kept.sort((a, b) => a - b);
  }

  // The picture of the verdict: per block (machine-device, sitting, model) each framework's best mode
  // as a speed ratio to the fastest with its interval, the tie band shaded, the label beside each row.
  function renderForest() {
    const host = document.getElementById("forest");
    const blocks = (DATA.forest || []).filter((b) => b.rows && b.rows.length);
    if (!blocks.length) return;
    const P = DATA.tie_margin;
    const values = [1 / (1 + P), 1 + P];
    for (const b of blocks) for (const r of b.rows) for (const v of [r.ratio, r.low, r.high]) if (v > 0) values.push(v);
    const pad = 0.08 * (Math.log(Math.max(...values)) - Math.log(Math.min(...values)));
    const low = Math.exp(Math.log(Math.min(...values)) - pad), high = Math.exp(Math.log(Math.max(...values)) + pad);
    const ticks = forestTicks(low, high);
    blocks.forEach((block, index) => {
      const title = document.createElement("h3");
      title.className = "forest-title";
      title.textContent = String(block.title);
      const div = document.createElement("div");
      div.id = `chart-forest-${index}`;
      div.className = "chart forest";
      host.append(title, div);
      const names = block.rows.map((r) => escapeLabel(`${r.framework} (${r.mode})`));
      const traces = [];
      for (const framework of [...new Set(block.rows.map((r) => String(r.framework)))]) {
        const mine = block.rows.map((r, i) => [r, i]).filter(([r]) => String(r.framework) === framework && r.ratio != null);
        traces.push({
          type: "scatter", mode: "markers", name: escapeLabel(framework), legendgroup: framework,
          x: mine.map(([r]) => r.ratio), y: mine.map(([, i]) => names[i]),
          marker: { size: 11, color: colour(framework), line: { width: 2, color: colour(framework) } },
          error_x: { type: "data", symmetric: false, visible: true, thickness: 2.5, width: 0, color: colour(framework),
            array: mine.map(([r]) => (r.high != null ? r.high - r.ratio : 0)),
            arrayminus: mine.map(([r]) => (r.low != null ? r.ratio - r.low : 0)) },
          hovertext: mine.map(([r]) => escapeLabel(`${r.framework} (${r.mode}): ${forestLabel(r)}, n = ${r.n}`)),
          hoverinfo: "text",
        });
        const open = mine.filter(([r]) => r.label === "open");  // hollow: a white centre over the marker
        if (open.length) {
          traces.push({
            type: "scatter", mode: "markers", name: `${escapeLabel(framework)} (open)`, legendgroup: framework,
            showlegend: false, hoverinfo: "skip", x: open.map(([r]) => r.ratio), y: open.map(([, i]) => names[i]),
            marker: { size: 6, color: "#ffffff" },
          });
        }
      }
      const layout = {
        height: 110 + 34 * block.rows.length, margin: { t: 40, b: 46, l: 10, r: 250 }, hovermode: "closest",
        showlegend: true, legend: { orientation: "h", x: 0, xanchor: "left", y: 1, yanchor: "bottom" },
        xaxis: { type: "log", range: [Math.log10(low), Math.log10(high)], tickvals: ticks,
          ticktext: ticks.map((t) => `${t}×`), title: { text: "speed ratio to the fastest (> 1 = faster), log scale", font: { size: 12 } },
          automargin: true, zeroline: false },
        yaxis: { type: "category", categoryorder: "array", categoryarray: names, autorange: "reversed", automargin: true },
        shapes: [
          { type: "rect", xref: "x", yref: "paper", x0: 1 / (1 + P), x1: 1 + P, y0: 0, y1: 1, fillcolor: "#e6e6e6", line: { width: 0 }, layer: "below" },
          { type: "line", xref: "x", yref: "paper", x0: 1, x1: 1, y0: 0, y1: 1, line: { color: "#595959", width: 1 } },
        ],
        annotations: block.rows.map((r, i) => ({
          text: escapeLabel(forestLabel(r)), showarrow: false, xref: "paper", x: 1.01, xanchor: "left",
          yref: "y", y: names[i], font: { size: 12 }, captureevents: false,
        })).concat([{ text: `shaded: tie band ±${Math.round(100 * P)}% · hollow: open`, showarrow: false, xref: "paper", yref: "paper",
          x: 1.01, xanchor: "left", y: 1, yanchor: "bottom", font: { size: 11, color: "#666" } }]),
      };
      Plotly.react(div.id, traces, layout, CONFIG);
    });
  }

  function renderNotOk() {
    const table = document.getElementById("not-ok");
    const tr = table.tHead.insertRow();
    for (const name of ["framework (mode)", "model", "machine-device", "status", "runs", "reason"]) {
      const th = document.createElement("th");
      th.textContent = name;
      tr.appendChild(th);
    }
    for (const r of DATA.not_ok) {
      const row = table.tBodies[0].insertRow();
      for (const value of [r.label, r.model, r.where, r.status, r.runs, r.reason]) {
        row.insertCell().textContent = value;
      }
    }
  }

  function update() {
    const cells = selected();
    renderTable(cells);
    renderCharts(cells);
    document.body.dataset.rendered = String(Number(document.body.dataset.rendered || 0) + 1);
  }

  const names = DATA.data.names.join(", ") || "no data";
  const sha = DATA.data.sha256 ? DATA.data.sha256.slice(0, 12) + "…" : "unknown";
  document.getElementById("meta").textContent =
    `${DATA.records} run records from ${DATA.sources.join(", ")}; newest finished ${DATA.newest || "—"}; ` +
    `data: ${names} (content sha256 ${sha}); ${CELLS.length} cells.`;
  fillPicker("pick-where", "where", false, CELLS);
  // Start on the machine-device with the newest records (the one most recently measured).
  const newest = CELLS.slice().sort((a, b) => (a.newest < b.newest ? 1 : a.newest > b.newest ? -1 : 0))[0];
  if (newest) document.getElementById("pick-where").value = newest.where;
  for (const [id] of PICKERS) document.getElementById(id).addEventListener("change", update);
  document.getElementById("filter").addEventListener("input", update);
  renderForest();
  renderNotOk();
  update();
})();
