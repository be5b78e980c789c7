// Chart helpers: read JSON embedded in the page, draw with the vendored Chart.js. No network, no build step.
(function () {
  const BAND = {high: "#16a34a", medium: "#f59e0b", low: "#94a3b8"};
  function data(id) { return JSON.parse(document.getElementById(id).textContent); }
  function day(ts) { return new Date(ts * 1000).toISOString().slice(0, 10); }
  // A linear axis of epoch seconds labelled as dates: a true time axis without a date adapter, so days
  // without events or changes keep their width.
  function timeAxis(points, pad = 0) {
    const xs = points.map(p => p.x), hi = Math.max(...xs) + pad;
    const lo = Math.min(Math.min(...xs) - pad, hi - 7 * 86400);  // at least a week, so one point is not alone
    return {type: "linear", min: lo, max: hi,
            ticks: {maxTicksLimit: 6, callback: (value) => day(value)}};
  }
  window.pqlCharts = {
    histogram(canvasId, dataId) {
      const d = data(dataId);
      new Chart(document.getElementById(canvasId), {type: "bar",
        data: {labels: d.labels, datasets: d.datasets.map(s => ({label: s.label, data: s.data,
          backgroundColor: BAND[s.label], borderWidth: 0, barPercentage: 0.96, categoryPercentage: 1}))},
        options: {maintainAspectRatio: false, animation: false, scales: {x: {stacked: true,
          title: {display: true, text: "combined score"}},
          y: {stacked: true, title: {display: true, text: "people"}}}}});
    },
    distribution(canvasId, dataId) {
      const d = data(dataId), marks = Object.assign({}, d.thresholds);
      const lines = {id: "thresholds", afterDatasetsDraw(chart) {
        const {ctx, chartArea: area, scales: {x}} = chart;
        for (const [name, colour] of [["medium", BAND.medium], ["high", BAND.high], ["pql", "#1e40af"]]) {
          const value = marks[name];
          if (value === null || value === undefined) continue;
          const bin = Math.max(0, Math.min(99, Math.round(value))), step = x.getPixelForValue(1) - x.getPixelForValue(0);
          const left = x.getPixelForValue(bin) - step / 2;  // the left edge of the threshold's bar
          ctx.save(); ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.setLineDash(name === "pql" ? [] : [5, 3]);
          ctx.beginPath(); ctx.moveTo(left, area.top); ctx.lineTo(left, area.bottom); ctx.stroke();
          ctx.fillStyle = colour; ctx.font = "11px sans-serif";
          ctx.fillText(name === "pql" ? "PQL " + value : name + " " + value, left + 3, area.top + 10 + 12 *
            ["medium", "high", "pql"].indexOf(name));
          ctx.restore();
        }
      }};
      const chart = new Chart(document.getElementById(canvasId), {type: "bar", plugins: [lines],
        data: {labels: d.labels, datasets: d.datasets.map(s => ({label: s.label, data: s.data,
          backgroundColor: BAND[s.label], borderWidth: 0, barPercentage: 1, categoryPercentage: 1}))},
        options: {maintainAspectRatio: false, animation: false, plugins: {legend: {display: false}},
          scales: {x: {stacked: true, ticks: {maxTicksLimit: 11}}, y: {stacked: true}}}});
      window.pqlCharts.moveThreshold = (name, value) => { marks[name] = Number(value); chart.update("none"); };
    },
    history(canvasId, dataId) {
      const d = data(dataId), series = (key) => d.points.map(p => ({x: p.x, y: p[key]}));
      new Chart(document.getElementById(canvasId), {type: "line",
        data: {datasets: [
          {label: "combined", data: series("combined"), borderColor: "#2563eb", stepped: "before"},
          {label: "fit", data: series("fit"), borderColor: "#16a34a", stepped: "before", borderDash: [4, 3]},
          {label: "behaviour", data: series("behaviour"), borderColor: "#f59e0b", stepped: "before",
           borderDash: [4, 3]}]},
        options: {maintainAspectRatio: false, animation: false, parsing: false,
          scales: {x: timeAxis(d.points), y: {min: 0, max: 100}}}});
    },
    timeline(canvasId, dataId) {
      const d = data(dataId);
      new Chart(document.getElementById(canvasId), {type: "bar",
        data: {datasets: [{label: "events per day", data: d.points.map(p => ({x: p.x + 43200, y: p.y})),
          backgroundColor: "#60a5fa", barThickness: "flex", maxBarThickness: 8}]},
        options: {maintainAspectRatio: false, animation: false, parsing: false,
          plugins: {legend: {display: false}}, scales: {x: timeAxis(d.points, 86400), y: {beginAtZero: true}}}});
    },
    trend(canvasId, dataId) {
      const d = data(dataId);
      new Chart(document.getElementById(canvasId), {type: "line",
        data: {labels: d.days, datasets: [
          {label: "PQLs", data: d.pqls, borderColor: "#1e40af", yAxisID: "people"},
          ...Object.entries(d.mean).map(([band, values]) => ({label: "mean score, " + band, data: values,
            borderColor: BAND[band], borderDash: [4, 3], yAxisID: "score"}))]},
        options: {maintainAspectRatio: false, animation: false, scales: {
          people: {position: "left", beginAtZero: true, title: {display: true, text: "PQLs"}},
          score: {position: "right", min: 0, max: 100, grid: {drawOnChartArea: false},
                  title: {display: true, text: "mean score"}}}}});
    },
    bucketTrend(canvasId, dataId) {
      const d = data(dataId), colours = ["#94a3b8", "#f59e0b", "#60a5fa", "#16a34a", "#1e40af"];
      new Chart(document.getElementById(canvasId), {type: "line",
        data: {labels: d.labels, datasets: d.datasets.map((s, i) => ({label: s.label, data: s.data,
          borderColor: colours[i % colours.length]}))},
        options: {maintainAspectRatio: false, animation: false, scales: {y: {beginAtZero: true,
          title: {display: true, text: "% converted"}}}}});
    },
    breakdown(canvasId, dataId) {
      const d = data(dataId);
      new Chart(document.getElementById(canvasId), {type: "bar",
        data: {labels: d.labels, datasets: [{label: "conversion", data: d.conversion.map(v => 100 * v),
          backgroundColor: "#60a5fa"}]},
        options: {maintainAspectRatio: false, animation: false, plugins: {legend: {display: false}},
          scales: {y: {title: {display: true, text: "% reached the goal"}, beginAtZero: true}}}});
    },
    buckets(canvasId, dataId) {
      const d = data(dataId), colours = ["#2563eb", "#f59e0b", "#16a34a", "#94a3b8"];
      new Chart(document.getElementById(canvasId), {type: "bar",
        data: {labels: d.labels, datasets: d.datasets.map((s, i) => ({label: s.label, data: s.data,
          backgroundColor: colours[i % colours.length]}))},
        options: {maintainAspectRatio: false, animation: false, scales: {x: {title: {display: true,
          text: "score bucket"}}, y: {title: {display: true, text: "% converted"}, beginAtZero: true}}}});
    },
  };
})();
