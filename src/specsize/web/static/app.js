// specsize web: draw the charts (vendored vega-embed, SVG), copy the launch command, read uploaded files.
"use strict";

function drawCharts() {
  for (const script of document.querySelectorAll("script[data-spec]")) {
    const name = script.dataset.spec;
    const target = document.getElementById("chart-" + name);
    vegaEmbed(target, JSON.parse(script.textContent), { renderer: "svg", actions: false })
      .then(() => target.setAttribute("data-rendered", "1"))
      .catch((e) => { target.textContent = "chart failed: " + e; });
  }
}

function showError(name, text) {
  const el = document.querySelector(`[data-error="${name}"]`);
  if (!el) return;
  el.textContent = text || "";
  el.hidden = !text;
}

function readFile(input, then) {
  const file = input.files && input.files[0];
  if (!file) return;
  file.text().then((text) => then(file.name, text));
}

function setup() {
  drawCharts();
  // Scroll a multiple select to its first chosen option (the GPU list is longer than its box).
  for (const sel of document.querySelectorAll("select[multiple]")) {
    const first = sel.selectedOptions[0];
    if (first) sel.scrollTop = first.offsetTop - sel.offsetTop;
  }
  // Leave empty fields out of the URL, so a shared link says only what differs from the defaults.
  const form = document.getElementById("plan-form");
  if (form) {
    form.addEventListener("submit", () => {
      for (const el of form.elements) {
        if (el.name && el.value === "" && !el.multiple) el.disabled = true;
      }
    });
    window.addEventListener("pageshow", () => { for (const el of form.elements) el.disabled = false; });
  }
  const copy = document.getElementById("copy");
  if (copy) {
    copy.addEventListener("click", () => {
      const text = document.getElementById(copy.dataset.copy).textContent;
      const done = () => { copy.textContent = "copied"; setTimeout(() => { copy.textContent = "copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
      } else {
        fallbackCopy(text, done);
      }
    });
  }
  const config = document.getElementById("config-file");
  if (config) {
    config.addEventListener("change", () => readFile(config, (_, text) => {
      document.getElementById("f-config").value = text;
    }));
  }
  const bench = document.getElementById("bench-file");
  if (bench) {
    bench.addEventListener("change", () => readFile(bench, (name, text) => {
      const method = document.getElementById("f-method").value || "mtp";
      const k = document.getElementById("f-k").value || "1";
      const q = new URLSearchParams({ method, k, name });
      fetch("/api/acceptance?" + q, { method: "POST", body: text, headers: { "Content-Type": "application/json" } })
        .then((r) => r.json())
        .then((r) => {
          if (r.error) { showError("bench", r.error); return; }
          showError("bench", "");
          document.getElementById("f-acceptance").value = r.text;
        });
    }));
  }
}

function fallbackCopy(text, done) {
  const area = document.createElement("textarea");
  area.value = text;
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
  done();
}

document.addEventListener("DOMContentLoaded", setup);
