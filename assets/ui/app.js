// netwc live UI: the "Streaming" page.
//
// Plain JS, no build step. Embedded into index.html by the netwc binary and
// served at GET /. It polls two endpoints of the same server:
//   GET api/batches  every 500 ms  (JSON array of recent batches, newest first)
//   GET metrics      every 1 s     (Prometheus text format)
// and shows a "disconnected, retrying" state while either one fails.
//
// Test hooks on <body>: data-charts="N" once N uPlot charts exist, and
// data-ready="1" once the first successful /api/batches answer has rendered.
(function () {
  'use strict';

  var BATCH_POLL_MS = 500;
  var METRICS_POLL_MS = 1000;
  var RETRY_MS = 1000;
  var FETCH_TIMEOUT_MS = 3000;
  var TABLE_ROWS = 100;
  var RATE_WINDOW_MS = 10000; // window for the /metrics-based rate (line batches)

  function $(id) { return document.getElementById(id); }

  // ---------------------------------------------------------------- job info

  function readJob() {
    var el = $('job');
    var text = el ? el.textContent.trim() : '';
    // An unfilled template (page opened straight from disk) still holds the
    // placeholder in double braces: treat it as "no job info".
    if (!text || text.charAt(0) !== '{' || text.charAt(1) === '{') return {};
    try {
      var job = JSON.parse(text);
      return job && typeof job === 'object' ? job : {};
    } catch (e) {
      console.warn('netwc ui: bad job JSON', e);
      return {};
    }
  }

  var job = readJob();
  var settings = job.settings && typeof job.settings === 'object' ? job.settings : {};
  var batchMs = typeof job.batch_ms === 'number' && job.batch_ms > 0 ? job.batch_ms : null;
  var timeAxis = batchMs !== null; // time batches: x is epoch ms; line batches: x is the batch number

  // -------------------------------------------------------------- formatting

  var nfInt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  var nfCompact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
  var nfAxis = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 2 });

  function isNum(v) { return typeof v === 'number' && isFinite(v); }

  function fmtInt(v) {
    if (!isNum(v)) return '—';
    return Math.abs(v) >= 1e7 ? nfCompact.format(v) : nfInt.format(Math.round(v));
  }

  function fmtMs(v) {
    if (!isNum(v)) return '—';
    var a = Math.abs(v);
    var d = a < 10 ? 2 : a < 100 ? 1 : 0;
    return v.toFixed(d);
  }

  function fmtRate(v) {
    if (!isNum(v)) return '—';
    if (Math.abs(v) >= 1e6) return nfCompact.format(v);
    if (Math.abs(v) >= 100) return nfInt.format(Math.round(v));
    return v.toFixed(1);
  }

  function fmtBytes(v) {
    if (!isNum(v)) return '—';
    var units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
    var i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + units[i];
  }

  function pad(n, w) { n = String(n); while (n.length < w) n = '0' + n; return n; }

  function fmtClock(ms) {
    if (!isNum(ms)) return '—';
    var d = new Date(ms);
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) +
      '.' + pad(d.getMilliseconds(), 3);
  }

  function fmtBatch(t) {
    if (!isNum(t)) return '—';
    return timeAxis ? fmtClock(t) : '#' + nfInt.format(t);
  }

  function fmtDuration(ms) {
    if (!isNum(ms) || ms < 0) return '—';
    var s = Math.floor(ms / 1000);
    var d = Math.floor(s / 86400); s -= d * 86400;
    var h = Math.floor(s / 3600); s -= h * 3600;
    var m = Math.floor(s / 60); s -= m * 60;
    if (d > 0) return d + 'd ' + pad(h, 2) + 'h ' + pad(m, 2) + 'm';
    if (h > 0) return h + 'h ' + pad(m, 2) + 'm ' + pad(s, 2) + 's';
    if (m > 0) return m + 'm ' + pad(s, 2) + 's';
    return s + 's';
  }

  function fmtInterval(ms) {
    if (ms < 1000) return ms + ' ms';
    if (ms < 60000) return (ms / 1000) + ' s';
    if (ms % 60000 === 0) return (ms / 60000) + ' min';
    return (ms / 1000) + ' s';
  }

  // ------------------------------------------------------------------ header

  function initHeader() {
    $('version').textContent = job.version ? 'v' + job.version : '';
    if (job.version) document.title = 'netwc ' + job.version + ' · Streaming';
    $('interval').textContent = batchMs !== null ? fmtInterval(batchMs)
      : (settings['--batch'] ? String(settings['--batch']) : 'line batches');
    $('col-time').textContent = timeAxis ? 'Batch time' : 'Batch';
    $('rate-title').textContent = timeAxis ? 'Input rate' : 'Input per batch';

    var dl = $('settings');
    var keys = Object.keys(settings);
    if (!keys.length) {
      var dt0 = document.createElement('dt'); dt0.textContent = 'settings';
      var dd0 = document.createElement('dd'); dd0.textContent = 'not available';
      dl.append(dt0, dd0);
    }
    keys.forEach(function (k) {
      var dt = document.createElement('dt');
      var dd = document.createElement('dd');
      dt.textContent = k;
      var v = settings[k];
      dd.textContent = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
      dl.append(dt, dd);
    });
    tickUptime();
    setInterval(tickUptime, 1000);
  }

  function tickUptime() {
    $('uptime').textContent = isNum(job.started_ms) ? fmtDuration(Date.now() - job.started_ms) : '—';
  }

  // ------------------------------------------------------------------ status

  var conn = { batches: null, metrics: null }; // null: no answer yet
  var lastError = '';

  function updateStatus() {
    var el = $('status');
    var text = $('status-text');
    var down = conn.batches === false || conn.metrics === false;
    var live = conn.batches === true && conn.metrics !== false;
    el.classList.toggle('down', down);
    el.classList.toggle('live', !down && live);
    text.textContent = down ? 'disconnected — retrying' : live ? 'live' : 'connecting…';
    el.title = down && lastError ? 'last error: ' + lastError : '';
    document.body.dataset.connected = down ? '0' : live ? '1' : '';
  }

  // ------------------------------------------------------------------ charts

  var theme = {};
  function readTheme() {
    var cs = getComputedStyle(document.documentElement);
    function v(name) { return cs.getPropertyValue(name).trim(); }
    theme = {
      axis: v('--axis'), grid: v('--grid'), accent: v('--accent'), teal: v('--teal'),
      amber: v('--amber'), accentFill: v('--accent-fill'), amberFill: v('--amber-fill'),
      font: '11px ' + (v('--sans') || 'sans-serif'),
    };
  }

  var phoneQuery = window.matchMedia('(max-width: 560px)');
  function chartHeight(big) { return phoneQuery.matches ? (big ? 190 : 170) : (big ? 230 : 200); }

  // y axis as wide as its longest label (uPlot's axis auto-size recipe)
  function yAxisSize(self, values, axisIdx, cycleNum) {
    var axis = self.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    var size = axis.ticks.size + axis.gap;
    var longest = (values || []).reduce(function (acc, s) { return s.length > acc.length ? s : acc; }, '');
    if (longest !== '') {
      self.ctx.font = axis.font[0];
      size += self.ctx.measureText(longest).width / (window.devicePixelRatio || 1);
    }
    return Math.ceil(size) + 2;
  }

  // time axis labels on one line: HH:MM, HH:MM:SS or HH:MM:SS.mmm by tick step
  function xTimeValues(self, splits, axisIdx, foundSpace, foundIncr) {
    return splits.map(function (v) {
      if (v == null) return '';
      var d = new Date(v);
      var s = pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2);
      if (foundIncr < 60000) s += ':' + pad(d.getSeconds(), 2);
      if (foundIncr < 1000) s += '.' + pad(d.getMilliseconds(), 3);
      return s;
    });
  }

  function xTimeSpace(self, axisIdx, min, max) {
    return max - min < 30000 ? 100 : 80;
  }

  function yRange(self, min, max) {
    if (!isNum(max) || max <= 0) return [0, 1];
    return [0, max * 1.12];
  }

  function chartOpts(spec, width) {
    var series = [{
      label: timeAxis ? 'time' : 'batch',
      value: function (self, v) { return v == null ? '—' : fmtBatch(v); },
    }];
    spec.series.forEach(function (s) {
      series.push({
        label: s.label,
        stroke: theme[s.color],
        fill: s.fill ? theme[s.fill] : undefined,
        width: 1.5,
        points: { show: false },
        value: function (self, v) { return v == null ? '—' : s.fmt(v) + s.unit; },
      });
    });
    var axisCommon = {
      stroke: theme.axis,
      font: theme.font,
      grid: { stroke: theme.grid, width: 1 },
      ticks: { stroke: theme.grid, width: 1, size: 4 },
    };
    return {
      width: width,
      height: chartHeight(spec.big),
      ms: 1, // x values are epoch milliseconds (only matters with a time axis)
      scales: { x: { time: timeAxis }, y: { range: yRange } },
      padding: [12, null, null, null],
      axes: [
        Object.assign({
          size: 30,
          space: timeAxis ? xTimeSpace : 50,
          values: timeAxis ? xTimeValues : undefined,
        }, axisCommon),
        Object.assign({
          size: yAxisSize,
          values: function (self, splits) { return splits.map(function (v) { return v == null ? '' : nfAxis.format(v); }); },
        }, axisCommon),
      ],
      series: series,
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
      legend: { show: true, live: true },
    };
  }

  var rateUnit = timeAxis ? '/s' : '/batch';
  var chartSpecs = [
    { id: 'chart-rate', big: true, series: [
      { label: 'words' + rateUnit, unit: '', color: 'accent', fill: 'accentFill', fmt: fmtRate },
      { label: 'lines' + rateUnit, unit: '', color: 'teal', fmt: fmtRate },
    ] },
    { id: 'chart-proc', series: [
      { label: 'processing', unit: ' ms', color: 'accent', fill: 'accentFill', fmt: fmtMs },
    ] },
    { id: 'chart-delay', series: [
      { label: 'delay', unit: ' ms', color: 'amber', fill: 'amberFill', fmt: fmtMs },
    ] },
  ];

  var charts = []; // { spec, el, u }
  var chartData = null; // last data, per chart, to rebuild on a theme change

  function emptyData(spec) {
    var d = [[]];
    spec.series.forEach(function () { d.push([]); });
    return d;
  }

  function buildCharts() {
    if (typeof window.uPlot !== 'function') {
      console.warn('netwc ui: uPlot missing, charts disabled');
      document.body.dataset.charts = '0';
      return;
    }
    readTheme();
    charts.forEach(function (c) { c.u.destroy(); });
    charts = chartSpecs.map(function (spec, i) {
      var el = $(spec.id);
      if (!el.querySelector('.chart-msg')) {
        var msg = document.createElement('div');
        msg.className = 'chart-msg';
        msg.textContent = 'waiting for batches…';
        el.append(msg);
      }
      var width = Math.max(160, Math.floor(el.clientWidth));
      var data = chartData ? chartData[i] : emptyData(spec);
      return { spec: spec, el: el, u: new uPlot(chartOpts(spec, width), data, el) };
    });
    document.body.dataset.charts = String(charts.length);
  }

  var resizePending = false;
  function resizeCharts() {
    if (resizePending) return;
    resizePending = true;
    requestAnimationFrame(function () {
      resizePending = false;
      charts.forEach(function (c) {
        var w = Math.max(160, Math.floor(c.el.clientWidth));
        var h = chartHeight(c.spec.big);
        if (w !== c.u.width || h !== c.u.height) c.u.setSize({ width: w, height: h });
      });
    });
  }

  function watchResize() {
    if (typeof ResizeObserver === 'function') {
      var ro = new ResizeObserver(resizeCharts);
      chartSpecs.forEach(function (spec) { ro.observe($(spec.id)); });
    } else {
      window.addEventListener('resize', resizeCharts);
    }
    var dark = window.matchMedia('(prefers-color-scheme: dark)');
    var onScheme = function () { buildCharts(); };
    if (dark.addEventListener) dark.addEventListener('change', onScheme);
    else if (dark.addListener) dark.addListener(onScheme);
  }

  // ---------------------------------------------------------------- batches

  function num(v) { return typeof v === 'number' && isFinite(v) ? v : null; }

  function stats(arr) {
    var vals = [];
    var sum = 0;
    for (var i = 0; i < arr.length; i++) {
      if (arr[i] !== null) { vals.push(arr[i]); sum += arr[i]; }
    }
    if (!vals.length) return null;
    vals.sort(function (a, b) { return a - b; });
    return {
      avg: sum / vals.length,
      p95: vals[Math.min(vals.length - 1, Math.floor(vals.length * 0.95))],
      max: vals[vals.length - 1],
    };
  }

  function statsText(el, st, fmt, unit) {
    el.replaceChildren();
    if (!st) return;
    [['avg', st.avg], ['p95', st.p95], ['max', st.max]].forEach(function (p, i) {
      if (i) el.append(' · ');
      var b = document.createElement('b');
      b.textContent = fmt(p[1]);
      el.append(p[0] + ' ', b, unit ? ' ' + unit : '');
    });
  }

  var batchRate = null; // words/s over the recent batches (time batches only)
  var lastSig = '';
  var latestBatch = null;

  function renderBatches(list) {
    if (!Array.isArray(list)) list = [];
    var n = list.length;
    latestBatch = n ? list[0] : null;

    // charts: oldest first
    var xs = new Array(n), wr = new Array(n), lr = new Array(n), pr = new Array(n), dl = new Array(n);
    var per = timeAxis ? 1000 / batchMs : 1;
    var sumWords = 0;
    for (var i = 0; i < n; i++) {
      var b = list[n - 1 - i] || {};
      xs[i] = num(b.time);
      var w = num(b.words), l = num(b.lines);
      wr[i] = w === null ? null : w * per;
      lr[i] = l === null ? null : l * per;
      pr[i] = num(b.processing_ms);
      dl[i] = num(b.delay_ms);
      if (w !== null) sumWords += w;
    }
    chartData = [[xs, wr, lr], [xs, pr], [xs, dl]];
    charts.forEach(function (c, i) {
      c.el.classList.toggle('has-data', n > 0);
      c.u.setData(chartData[i]);
      // not hovered: let the legend show the newest batch instead of dashes
      if (n && !(c.u.cursor.left >= 0)) c.u.setLegend({ idx: n - 1 });
    });

    // input rate over the recent batches: words / covered time span
    if (timeAxis && n) {
      var span = (num(list[0].time) - num(list[n - 1].time)) + batchMs;
      batchRate = span > 0 ? sumWords / (span / 1000) : null;
      $('c-rate-sub').textContent = 'over the last ' + fmtDuration(span);
      $('c-rate-sub').title = nfInt.format(n) + ' batches';
    } else if (timeAxis) {
      batchRate = null;
    }
    renderRateCard();

    var ws = stats(wr);
    var rs = $('rate-stats');
    rs.replaceChildren();
    if (ws) {
      var b1 = document.createElement('b'); b1.textContent = fmtRate(ws.avg);
      var b2 = document.createElement('b'); b2.textContent = fmtRate(ws.max);
      rs.append('avg ', b1, ' words' + rateUnit + ' · max ', b2);
    }
    statsText($('proc-stats'), stats(pr), fmtMs, 'ms');
    statsText($('delay-stats'), stats(dl), fmtMs, 'ms');

    renderTop(latestBatch);

    // table: skip the DOM work when nothing changed
    var sig = n + ':' + (n ? list[0].time + ':' + list[n - 1].time : '');
    if (sig !== lastSig) {
      lastSig = sig;
      renderTable(list);
    }
    if (!metricsSeen) renderBatchesCardFallback(list);
  }

  function td(text, cls) {
    var c = document.createElement('td');
    c.textContent = text;
    if (cls) c.className = cls;
    return c;
  }

  function renderTable(list) {
    var shown = Math.min(list.length, TABLE_ROWS);
    var frag = document.createDocumentFragment();
    for (var i = 0; i < shown; i++) {
      var b = list[i] || {};
      var tr = document.createElement('tr');
      var proc = num(b.processing_ms);
      if (timeAxis && proc !== null && proc > batchMs) tr.className = 'slow';
      var topCell = td('', 'top');
      var top = Array.isArray(b.top) && b.top.length ? b.top[0] : null;
      if (top) {
        var cnt = document.createElement('span');
        cnt.textContent = ' ' + fmtInt(num(top.count));
        topCell.append(String(top.word), cnt);
      } else {
        topCell.textContent = '—';
      }
      tr.append(
        td(fmtBatch(num(b.time)), 't'),
        td(fmtInt(num(b.lines))),
        td(fmtInt(num(b.words))),
        td(fmtInt(num(b.distinct))),
        td(fmtMs(proc), 'p'),
        td(fmtMs(num(b.delay_ms))),
        topCell
      );
      frag.append(tr);
    }
    var tbody = document.querySelector('#batches tbody');
    tbody.replaceChildren(frag);
    $('batches-empty').classList.toggle('hidden', list.length > 0);
    $('batches-stats').textContent = list.length
      ? (list.length > shown ? 'newest ' + shown + ' of ' + nfInt.format(list.length) + ' recent' : nfInt.format(list.length) + ' recent')
      : '';
  }

  var lastTopSig = '';
  function renderTop(b) {
    var top = b && Array.isArray(b.top) ? b.top : [];
    var sig = b ? b.time + ':' + top.length : '';
    if (sig === lastTopSig) return;
    lastTopSig = sig;

    var box = $('top');
    var frag = document.createDocumentFragment();
    var max = 0;
    top.forEach(function (r) { var c = num(r && r.count); if (c !== null && c > max) max = c; });
    var words = b ? num(b.words) : null;
    top.forEach(function (r) {
      var c = num(r && r.count) || 0;
      var w = document.createElement('div');
      w.className = 'w';
      w.textContent = String(r && r.word !== undefined ? r.word : '');
      w.title = w.textContent;
      var track = document.createElement('div');
      track.className = 'track';
      var fill = document.createElement('div');
      fill.className = 'fill';
      fill.style.width = (max > 0 ? (100 * c / max) : 0).toFixed(2) + '%';
      track.append(fill);
      var cc = document.createElement('div');
      cc.className = 'c';
      var bb = document.createElement('b');
      bb.textContent = fmtInt(c);
      cc.append(bb);
      if (words) cc.append(' · ' + (100 * c / words).toFixed(1) + '%');
      frag.append(w, track, cc);
    });
    box.replaceChildren(frag);
    $('top-empty').classList.toggle('hidden', top.length > 0 || !b);
    $('top-stats').textContent = b ? 'batch ' + fmtBatch(num(b.time)) + (words !== null ? ' · ' + fmtInt(words) + ' words' : '') : '';
  }

  // ---------------------------------------------------------------- metrics

  // Parses the lines of Prometheus text format that we need: `name value` or
  // `name{labels} value [timestamp]`. Samples of one name with different
  // labels are added up. Comment lines (# HELP, # TYPE, # EOF) are skipped.
  var METRIC_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/;
  function parseMetrics(text) {
    var out = {};
    String(text).split('\n').forEach(function (line) {
      line = line.trim();
      if (!line || line.charAt(0) === '#') return;
      var m = METRIC_LINE.exec(line);
      if (!m) return;
      var v = parseFloat(m[3]);
      if (!isFinite(v)) return;
      out[m[1]] = (out[m[1]] || 0) + v;
    });
    return out;
  }

  var metricsSeen = false;
  var metricsHist = []; // [{t, words}] for the /metrics-based rate
  var metricRate = null;

  function mget(m, name) {
    return Object.prototype.hasOwnProperty.call(m, name) ? m[name] : null;
  }

  function renderMetrics(text) {
    var m = parseMetrics(text);
    metricsSeen = true;
    var lines = mget(m, 'netwc_lines_total');
    var words = mget(m, 'netwc_words_total');
    var batches = mget(m, 'netwc_batches_total');
    var bytes = mget(m, 'netwc_bytes_total');
    var stop = mget(m, 'netwc_stop_words_total');
    var cut = mget(m, 'netwc_words_cut_total');
    var distinct = mget(m, 'netwc_distinct_words');
    var conns = mget(m, 'netwc_connections');
    var last = mget(m, 'netwc_last_batch_time_ms');

    setValue('c-lines', lines);
    $('c-lines-sub').textContent = bytes !== null ? fmtBytes(bytes) + ' read' : '\u00a0';
    setValue('c-words', words);
    $('c-words-sub').textContent = stop !== null ? fmtInt(stop) + ' stop words' : '\u00a0';
    $('c-words-sub2').textContent = cut !== null ? fmtInt(cut) + ' words cut' : '\u00a0';
    setValue('c-batches', batches);
    var lastText = '\u00a0';
    if (last !== null && last > 1e11) lastText = 'last at ' + fmtClock(last);
    else if (last !== null && !timeAxis && last > 0) lastText = 'last #' + nfInt.format(last);
    else if (latestBatch) lastText = 'last ' + fmtBatch(num(latestBatch.time));
    $('c-batches-sub').textContent = lastText;
    setValue('c-distinct', distinct);
    setValue('c-conns', conns);
    // With --kafka, the connections are partitions being read, and how far behind they are.
    var lag = mget(m, 'netwc_kafka_lag_records');
    $('c-conns-sub').textContent = lag !== null ? 'Kafka lag ' + fmtInt(lag) : 'open now';

    // words/s from the counter, over the last ~10 s of samples
    if (words !== null) {
      var now = performance.now();
      metricsHist.push({ t: now, words: words });
      while (metricsHist.length > 2 && now - metricsHist[0].t > RATE_WINDOW_MS) metricsHist.shift();
      var first = metricsHist[0];
      if (words < first.words) { metricsHist = [{ t: now, words: words }]; first = metricsHist[0]; } // restarted
      metricRate = now - first.t >= 900 ? (words - first.words) / ((now - first.t) / 1000) : null;
    }
    renderRateCard();
  }

  function setValue(id, v) {
    var el = $(id);
    el.textContent = fmtInt(v);
    el.title = isNum(v) ? nfInt.format(v) : '';
  }

  function renderBatchesCardFallback(list) {
    if (list.length) $('c-batches-sub').textContent = 'last ' + fmtBatch(num(list[0].time));
  }

  function renderRateCard() {
    var el = $('c-rate');
    var rate = timeAxis ? batchRate : metricRate;
    el.replaceChildren();
    if (!isNum(rate)) { el.textContent = '—'; return; }
    var unit = document.createElement('small');
    unit.textContent = 'words/s';
    el.append(fmtRate(rate), unit);
    if (!timeAxis) $('c-rate-sub').textContent = 'from /metrics, last ' + fmtDuration(RATE_WINDOW_MS);
  }

  // ---------------------------------------------------------------- polling

  function fetchWithTimeout(url, kind) {
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, FETCH_TIMEOUT_MS) : null;
    return fetch(url, { cache: 'no-store', signal: ctl ? ctl.signal : undefined })
      .then(function (r) {
        if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
        return kind === 'json' ? r.json() : r.text();
      })
      .finally(function () { if (timer) clearTimeout(timer); });
  }

  // One request at a time per endpoint: the next one is scheduled only after
  // the previous one has finished (no pile-up on a slow server).
  function poll(name, url, kind, every, onData) {
    function tick() {
      var started = performance.now();
      fetchWithTimeout(url, kind).then(function (data) {
        conn[name] = true;
        try { onData(data); } catch (e) { console.error('netwc ui: render failed', e); }
        return true;
      }, function (err) {
        conn[name] = false;
        lastError = err && err.message ? err.message : String(err);
        return false;
      }).then(function (ok) {
        updateStatus();
        var wait = ok ? Math.max(50, every - (performance.now() - started)) : Math.max(every, RETRY_MS);
        setTimeout(tick, wait);
      });
    }
    tick();
  }

  function onBatches(list) {
    renderBatches(list);
    if (document.body.dataset.ready !== '1') document.body.dataset.ready = '1';
  }

  // ------------------------------------------------------------------- start

  initHeader();
  buildCharts();
  watchResize();
  updateStatus();
  poll('batches', 'api/batches', 'json', BATCH_POLL_MS, onBatches);
  poll('metrics', 'metrics', 'text', METRICS_POLL_MS, renderMetrics);
})();
