// Draws the version page's charts from the JSON the page carries (#chart-data), with
// Chart.js served by the API (static/vendor/); a page without it still shows its tables.
(function () {
  const source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const points = data.series;
  const options = (extra) => Object.assign({
    responsive: true, maintainAspectRatio: false, animation: false,
    interaction: { mode: "index", intersect: false },
    scales: { x: { ticks: { maxTicksLimit: 8, autoSkip: true } } },
  }, extra || {});

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (canvas) new Chart(canvas, config);
  }

  draw("chart-traffic", { type: "bar", options: options({ plugins: { legend: { display: false } } }),
    data: { labels: points.hours, datasets: [{ label: "predictions", data: points.predictions,
      backgroundColor: "#5c7cfa" }] } });

  draw("chart-latency", { type: "line", options: options({ spanGaps: true,
      scales: { x: { ticks: { maxTicksLimit: 8, autoSkip: true } }, y: { beginAtZero: true } },
      plugins: { legend: { display: false } } }),
    data: { labels: points.hours, datasets: [{ label: "ms", data: points.latency_ms,
      borderColor: "#f08c00", pointRadius: 2 }] } });

  const quality = [{ label: "live " + data.key, data: points.live, borderColor: "#2b8a3e",
                     pointRadius: 3, spanGaps: true }];
  if (points.estimated.length) {
    quality.push({ label: "estimated accuracy", data: points.estimated, borderColor: "#5c7cfa",
                   pointRadius: 2, spanGaps: true });
  }
  if (data.held_out !== null && data.held_out !== undefined) {
    quality.push({ label: "held-out " + data.key, data: points.hours.map(() => data.held_out),
                   borderColor: "#868e96", borderDash: [6, 4], pointRadius: 0 });
  }
  const unit = points.estimated.length ? { y: { min: 0, max: 1 } } : { y: { beginAtZero: true } };
  draw("chart-quality", { type: "line", options: options({ scales: Object.assign(
      { x: { ticks: { maxTicksLimit: 8, autoSkip: true } } }, unit) }), data: { labels: points.hours,
    datasets: quality } });

  const paired = data.comparison;
  if (paired) {
    const lower = paired.key === "accuracy" ? { y: { min: 0, max: 1 } } : { y: { beginAtZero: true } };
    draw("chart-comparison", { type: "line", options: options({ spanGaps: true, scales:
        Object.assign({ x: { ticks: { maxTicksLimit: 8, autoSkip: true } } }, lower) }),
      data: { labels: paired.hours, datasets: [
        { label: "v" + paired.this_version + " (this)", data: paired.this, borderColor: "#2b8a3e",
          pointRadius: 3 },
        { label: "v" + paired.other_version + " (shadow)", data: paired.other,
          borderColor: "#ae3ec9", pointRadius: 3 }] } });
  }

  data.drift.forEach((feature, index) => {
    draw("chart-drift-" + index, { type: "bar", options: options({
        scales: { x: { ticks: { maxTicksLimit: 11, autoSkip: true } },
                  y: { ticks: { format: { style: "percent" } } } } }),
      data: { labels: feature.labels, datasets: [
        { label: "reference", data: feature.reference, backgroundColor: "#adb5bd" },
        { label: "live", data: feature.live || [],
          backgroundColor: feature.drifted ? "#e03131" : "#5c7cfa" }] } });
  });
})();
