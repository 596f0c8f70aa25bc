// framebench report.html: pickers, a sortable/filterable table and two plotly charts over the
// embedded cells. Reads only the JSON in #framebench-data; makes no request.
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
  const fmt = (v, digits) =>
    v === null || v === undefined ? "—" : Number(v).toLocaleString("en-US", {
      minimumFractionDigits: digits, maximumFractionDigits: digits });
  const stat = (s, digits) => (s ? fmt(s.median, digits) : "—");
  const interval = (s, digits) =>
    !s ? "—" : s.n < 2 ? "one run" : `${fmt(s.low, digits)}–${fmt(s.high, digits)} (${s.label})`;

  const COLUMNS = [
    ["machine-device", (c) => c.where],
    ["model", (c) => c.model],
    ["framework (mode)", (c) => c.label],
    ["input", (c) => c.input],
    ["precision", (c) => c.precision],
    ["setup", (c) => c.setup],
    ["n (throughput / accuracy)", (c) => c.n],
    ["examples/s", (c) => (c.throughput ? c.throughput.median : null), 0],
    ["examples/s interval", (c) => interval(c.throughput, 0)],
    ["× vs fastest", (c) => c.ratio, 2],
    ["verdict", (c) => c.versus],
    ["test accuracy", (c) => (c.accuracy ? c.accuracy.median : null), 3],
    ["accuracy interval", (c) => interval(c.accuracy, 3)],
    ["eval examples/s (warm)", (c) => (c.eval ? c.eval.median : null), 0],
    ["time to target (s)", (c) => c.ttt],
    ["accuracy gate", (c) => c.gate],
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
      for (const [, get, digits] of COLUMNS) {
        const td = row.insertCell();
        const value = get(c);
        if (digits !== undefined) {
          td.className = "num";
          td.textContent = fmt(value, digits);
        } else {
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
    ].join("<br>");
  }

  function errorBars(stats) {
    return {
      type: "data", symmetric: false, visible: true,
      array: stats.map((s) => (s && s.n > 1 ? s.high - s.median : 0)),
      arrayminus: stats.map((s) => (s && s.n > 1 ? s.median - s.low : 0)),
    };
  }

  function renderCharts(cells) {
    const where = document.getElementById("pick-where").value;
    const measured = cells.filter((c) => c.throughput);
    const models = choices("model", measured);
    // One panel per model (independent axes): the gap between models never eats the height.
    const axes = (i) => ({ xaxis: i ? `x${i + 1}` : "x", yaxis: i ? `y${i + 1}` : "y" });
    const grid = { rows: 1, columns: Math.max(models.length, 1), pattern: "independent" };
    const panelTitles = (prefix) => models.map((model, i) => ({
      text: `${prefix}${model}`, showarrow: false, xref: `${axes(i).xaxis} domain`, yref: "paper",
      x: 0.5, y: 1.0, yanchor: "bottom", font: { size: 12 },
    }));
    const bars = models.map((model, i) => {
      const mine = measured.filter((c) => c.model === model);
      return {
        type: "bar", name: model, ...axes(i),
        x: mine.map((c) => c.label + (c.input !== "device" ? ` · ${c.input}` : "") + (c.precision !== "fp32" ? ` · ${c.precision}` : "")),
        y: mine.map((c) => c.throughput.median),
        error_y: errorBars(mine.map((c) => c.throughput)),
        hovertext: mine.map(hoverText), hoverinfo: "text",
      };
    });
    const barLayout = {
      title: { text: `Training examples/s, steady state — ${where}`, font: { size: 13 } },
      grid, annotations: panelTitles(""), margin: { t: 60, b: 110 }, hovermode: "closest", showlegend: false,
    };
    models.forEach((model, i) => {
      barLayout[i ? `yaxis${i + 1}` : "yaxis"] = { title: { text: i ? "" : "examples/s (median)" }, rangemode: "tozero" };
    });
    Plotly.react("chart-throughput", bars, barLayout, { displaylogo: false, responsive: true });
    const both = measured.filter((c) => c.accuracy);
    const points = models.map((model, i) => {
      const mine = both.filter((c) => c.model === model);
      return {
        type: "scatter", name: model, ...axes(i),
        x: mine.map((c) => c.throughput.median), y: mine.map((c) => c.accuracy.median),
        error_x: errorBars(mine.map((c) => c.throughput)), error_y: errorBars(mine.map((c) => c.accuracy)),
        text: mine.map((c) => c.label), hovertext: mine.map(hoverText), hoverinfo: "text",
        marker: { size: 10 }, mode: "markers",
      };
    });
    const overLayout = {
      title: { text: `Test accuracy vs examples/s — ${where}`, font: { size: 13 } },
      grid, annotations: panelTitles(""), margin: { t: 60 }, hovermode: "closest", showlegend: false,
    };
    models.forEach((model, i) => {
      overLayout[i ? `xaxis${i + 1}` : "xaxis"] = { title: { text: "examples/s (median)" } };
      const yaxis = { title: { text: i ? "" : "final test accuracy (median)" } };
      const ys = points[i].y.concat(points[i].y.map((y, j) => y + points[i].error_y.array[j]),
        points[i].y.map((y, j) => y - points[i].error_y.arrayminus[j]));
      if (ys.length && Math.max(...ys) - Math.min(...ys) < 0.004) {  // flat: keep the scale readable
        yaxis.range = [Math.min(...ys) - 0.005, Math.max(...ys) + 0.005];
      }
      overLayout[i ? `yaxis${i + 1}` : "yaxis"] = yaxis;
    });
    Plotly.react("chart-overview", points, overLayout, { displaylogo: false, responsive: true });
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
  renderNotOk();
  update();
})();
