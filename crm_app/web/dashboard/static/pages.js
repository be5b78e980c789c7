// Page behaviour wired from data attributes, so no page needs an inline script (the CSP forbids them).
(function () {
  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn); else fn();
  }
  ready(function () {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (document.getElementById(canvas.dataset.source)) window.pqlCharts[canvas.dataset.chart](canvas.id, canvas.dataset.source);
    });
    document.querySelectorAll("details.indicator").forEach(function (d) {
      d.addEventListener("toggle", function () {
        const canvas = d.querySelector("canvas");
        if (d.open && !canvas.dataset.drawn) {
          canvas.dataset.drawn = "1";
          window.pqlCharts.breakdown(canvas.id, canvas.id.replace("bd-", "bd-data-"));
        }
      });
    });
    const form = document.getElementById("threshold-form");
    if (form) thresholds(form);
    document.querySelectorAll(".editor").forEach(editor);
    const status = document.getElementById("score-now-status");
    if (status) scoreNowProgress(status);
  });

  // A line-number gutter beside the rule editor; lines with an error (file:line of the last check) are marked.
  function editor(box) {
    const text = box.querySelector("textarea"), gutter = box.querySelector(".gutter");
    const marked = new Set((box.dataset.errorLines || "").split(",").filter(Boolean).map(Number));
    function draw() {
      const lines = text.value.split("\n").length;
      gutter.replaceChildren(...Array.from({length: lines}, (_, i) => {
        const line = document.createElement("span");
        line.textContent = (i + 1) + "\n";
        if (marked.has(i + 1)) { line.className = "error"; line.title = "error on this line (see above)"; }
        return line;
      }));
      gutter.scrollTop = text.scrollTop;
    }
    text.addEventListener("input", draw);
    text.addEventListener("scroll", () => { gutter.scrollTop = text.scrollTop; });
    draw();
    const first = Math.min(...marked);
    if (Number.isFinite(first)) text.scrollTop = Math.max(0, (first - 3) * 18);
    gutter.scrollTop = text.scrollTop;
  }

  // "Score everyone now" runs in the worker: poll its request until it is done or failed.
  function scoreNowProgress(box) {
    const bar = box.querySelector("progress"), text = document.getElementById("score-now-text");
    function poll() {
      if (box.dataset.state !== "queued" && box.dataset.state !== "running") return;
      setTimeout(function () {
        fetch(box.dataset.url, {credentials: "same-origin"}).then(r => r.json()).then(s => {
          if (!s) return;
          box.hidden = false;
          bar.max = s.total || 1;
          bar.value = s.done || 0;
          text.textContent = s.text;
          box.dataset.state = s.state;
          poll();
        }).catch(poll);
      }, 1000);
    }
    poll();
  }

  function thresholds(form) {
    const url = form.dataset.previewUrl, liftUrl = form.dataset.liftUrl;
    let timer = null, seq = 0, liftOn = false, liftSeq = 0;
    const pct = v => v === null ? "—" : (100 * v).toFixed(1) + "%";
    function refresh() {
      const params = new URLSearchParams();
      for (const name of ["high", "medium", "pql", "min_fit"]) {
        const input = document.getElementById(name);
        if (input) params.set(name, input.value);
      }
      const mine = ++seq;
      fetch(url + "&" + params.toString(), {credentials: "same-origin"}).then(r => r.json()).then(p => {
        if (mine !== seq) return;  // an older answer arriving late must not overwrite a newer one
        for (const k of ["band_changes", "become_pql", "stop_pql", "pqls", "high", "medium", "low"]) {
          document.getElementById("p-" + k).textContent = p[k].toLocaleString("en-US");
        }
        document.getElementById("preview").dataset.seq = mine;
      });
      if (liftOn) lift();
    }
    function lift() {
      const mine = ++liftSeq, box = document.getElementById("pql");
      document.getElementById("lift-note").textContent = "Backtesting…";
      fetch(liftUrl + "&pql=" + encodeURIComponent(box.value), {credentials: "same-origin"})
        .then(r => r.json()).then(s => {
          if (mine !== liftSeq) return;
          if (s.error) { document.getElementById("lift-note").textContent = s.error; return; }
          document.getElementById("l-pql_conversion").textContent = pct(s.pql_conversion);
          document.getElementById("l-non_pql_conversion").textContent = pct(s.non_pql_conversion);
          document.getElementById("l-lift").textContent = s.lift === null ? "—" : s.lift.toFixed(2) + "x";
          document.getElementById("l-pqls_per_rep_per_week").textContent = s.pqls_per_rep_per_week ?? "—";
          document.getElementById("lift-note").textContent = "Threshold " + s.threshold + " on the dates and goal ('" +
            s.goal + "') of backtest #" + s.backtest_id + "; aim for 3–5x.";
          document.getElementById("lift").dataset.threshold = s.threshold;
        });
    }
    const button = document.getElementById("compute-lift");
    if (button) button.addEventListener("click", () => { liftOn = true; lift(); });
    form.querySelectorAll("input[type=range]").forEach(slider => {
      const box = document.getElementById(slider.dataset.for);
      const move = value => { if (window.pqlCharts.moveThreshold) window.pqlCharts.moveThreshold(slider.dataset.for, value); };
      slider.addEventListener("input", () => { box.value = slider.value; move(slider.value); clearTimeout(timer); timer = setTimeout(refresh, 120); });
      box.addEventListener("input", () => { slider.value = box.value; move(box.value); clearTimeout(timer); timer = setTimeout(refresh, 120); });
    });
  }
})();
