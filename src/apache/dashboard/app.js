/* The dashboard's script (served as dashboard/app.js).  It only reads: it
 * polls the module's JSON endpoints, and metrics when the module serves it,
 * with URLs relative to the page, so it works below any mount.  It draws
 * its charts as SVG itself and writes text only through textContent.
 * ?interval=MS sets the polling period (500 to 60000, default 2000). */
'use strict';
(function () {
  var SVGNS = 'http://www.w3.org/2000/svg';
  var WINDOW_MS = 5 * 60 * 1000;    /* what the charts show */
  var params = new URLSearchParams(window.location.search);
  var interval = Math.min(60000, Math.max(500,
    parseInt(params.get('interval'), 10) || 2000));
  var samples = [];                 /* one per poll, the last WINDOW_MS */
  var hasMetrics = false;
  var mount = '';
  var colors = {};                  /* endpoint -> its colour, for good */
  var COLORS = 12;                  /* .s0 to .s11 in style.css */
  var polls = 0, errors = 0;

  function $(id) { return document.getElementById(id); }

  /* An element's text, and the exact figure behind it in data-value. */
  function show(id, text, value) {
    var e = $(id);
    e.textContent = text;
    if (value !== undefined) e.dataset.value = String(value);
    return e;
  }
  function showInt(id, n) { return show(id, String(n), n); }
  function fmtBytes(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0, v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : String(v)) + ' ' + units[i];
  }
  function showBytes(id, n) {
    var e = show(id, fmtBytes(n), n);
    e.title = n + ' bytes';
    return e;
  }
  function fmtRate(r) { return r === null ? '–' : r.toFixed(r < 10 ? 2 : 1); }
  function fmtMs(seconds) {
    return seconds === null ? '–' : (seconds * 1000).toFixed(3) + ' ms';
  }

  function problem(message) {
    errors++;
    document.body.dataset.errors = String(errors);
    var s = $('status');
    s.textContent = message;
    s.classList.add('error');
  }
  window.addEventListener('error', function (ev) {
    problem('script error: ' + ev.message);
  });
  window.addEventListener('unhandledrejection', function (ev) {
    problem('script error: ' + ev.reason);
  });
  document.addEventListener('securitypolicyviolation', function (ev) {
    problem('blocked by the Content-Security-Policy: ' + ev.violatedDirective
            + ' ' + ev.blockedURI);
  });

  function fetchText(path) {
    return window.fetch(path, { cache: 'no-store', credentials: 'same-origin' })
      .then(function (res) {
        return res.text().then(function (body) {
          if (!res.ok) {
            var why = '', err;
            try { why = JSON.parse(body).error || ''; } catch (e) { why = ''; }
            err = new Error(path + ': ' + res.status + ' ' + why);
            err.status = res.status;
            throw err;
          }
          return body;
        });
      });
  }
  function fetchJSON(path) {
    return fetchText(path).then(function (body) { return JSON.parse(body); });
  }

  /* ---- Prometheus text format 0.0.4: {name, labels, value} per sample */
  function parseMetrics(text) {
    var out = [], lines = text.split('\n'), i, m, labels, lm;
    var lineRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
    for (i = 0; i < lines.length; i++) {
      if (!lines[i] || lines[i].charAt(0) === '#') continue;
      m = lineRe.exec(lines[i]);
      if (!m) continue;
      labels = {};
      var labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      while (m[2] && (lm = labelRe.exec(m[2])) !== null)
        labels[lm[1]] = lm[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
      out.push({ name: m[1], labels: labels, value: parseFloat(m[3]) });
    }
    return out;
  }

  /* Per endpoint: requests, errors (4xx and 5xx: a 304 of the page's own
   * revalidations is no error), and the latency histogram's sum and
   * count, from hyperlane_requests_total{endpoint,code} (or the
   * histogram's _count when that is all there is) and
   * hyperlane_request_duration_seconds. */
  function endpointFigures(metrics) {
    var by = {}, i, s, ep, code, hasRequests = false;
    function get(name) {
      if (!by[name]) by[name] = { requests: 0, errors: 0, sum: 0, count: 0 };
      return by[name];
    }
    for (i = 0; i < metrics.length; i++) {
      s = metrics[i];
      ep = s.labels.endpoint;
      if (ep === undefined) continue;
      if (/^hyperlane_.*requests_total$/.test(s.name)) {
        hasRequests = true;
        get(ep).requests += s.value;
        code = s.labels.code || s.labels.status || '';
        if (code.charAt(0) === '4' || code.charAt(0) === '5')
          get(ep).errors += s.value;
      }
      else if (s.name === 'hyperlane_request_duration_seconds_sum') {
        get(ep).sum += s.value;
      }
      else if (s.name === 'hyperlane_request_duration_seconds_count') {
        get(ep).count += s.value;
      }
    }
    if (!hasRequests)
      for (ep in by) by[ep].requests = by[ep].count;
    return by;
  }

  function metricsBy(metrics, name, label) {
    var out = {}, i;
    for (i = 0; i < metrics.length; i++)
      if (metrics[i].name === name)
        out[metrics[i].labels[label] || ''] = metrics[i];
    return out;
  }

  /* ---- charts: series of [time, value] over the last WINDOW_MS */
  function svgEl(name, attrs, parent) {
    var e = document.createElementNS(SVGNS, name), k;
    for (k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log(v) / Math.LN10)), f = v / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }
  function fmtAxis(v) {
    if (v >= 1e6) return (v / 1e6) + 'M';
    if (v >= 1e3) return (v / 1e3) + 'k';
    return String(Math.round(v * 1000) / 1000);
  }
  function drawChart(svg, series, opts) {
    var box = svg.viewBox.baseVal, W = box.width, H = box.height;
    var L = 46, R = 10, T = 10, B = 20;
    var now = Date.now(), t0 = now - WINDOW_MS, max = 0, drawn = 0, i, j;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    for (i = 0; i < series.length; i++)
      for (j = 0; j < series[i].points.length; j++)
        if (series[i].points[j][1] !== null)
          max = Math.max(max, series[i].points[j][1]);
    max = opts.max || niceMax(max);
    function x(t) { return L + (W - L - R) * (t - t0) / WINDOW_MS; }
    function y(v) { return T + (H - T - B) * (1 - v / max); }
    [0, 0.5, 1].forEach(function (f) {
      svgEl('line', { 'class': 'grid', x1: L, x2: W - R, y1: y(max * f),
                      y2: y(max * f) }, svg);
      svgEl('text', { 'class': 'axis', x: L - 4, y: y(max * f) + 4,
                      'text-anchor': 'end' }, svg).textContent =
        opts.percent ? Math.round(100 * max * f) + '%' : fmtAxis(max * f);
    });
    svgEl('text', { 'class': 'axis', x: L, y: H - 5 }, svg).textContent =
      '−' + WINDOW_MS / 60000 + ' min';
    svgEl('text', { 'class': 'axis', x: W - R, y: H - 5,
                    'text-anchor': 'end' }, svg).textContent = 'now';
    for (i = 0; i < series.length; i++) {
      var pts = series[i].points.filter(function (p) { return p[0] >= t0; });
      var cls = 's' + (series[i].color % COLORS);
      /* A point of value null is a gap (polls that failed): the line
       * stops there and starts again after it. */
      var runs = [[]];
      pts.forEach(function (p) {
        if (p[1] !== null) runs[runs.length - 1].push(p);
        else if (runs[runs.length - 1].length) runs.push([]);
      });
      pts = pts.filter(function (p) { return p[1] !== null; });
      if (!pts.length) continue;
      runs.forEach(function (run) {
        if (!run.length) return;
        var line = svgEl('polyline', { 'class': 'line ' + cls,
          points: run.map(function (p) {
            return x(p[0]).toFixed(1) + ',' + y(p[1]).toFixed(1);
          }).join(' ') }, svg);
        line.dataset.series = series[i].name;
      });
      for (j = 0; j < pts.length; j++) {
        if (pts.length > 60 && j < pts.length - 1) continue;
        svgEl('circle', { 'class': 'dot ' + cls, cx: x(pts[j][0]).toFixed(1),
                          cy: y(pts[j][1]).toFixed(1), r: 2.5 }, svg);
      }
      drawn += pts.length;
    }
    svg.dataset.points = String(drawn);
  }

  /* The rate of a cumulative figure between consecutive polls; none where
   * it went down (a new store, a restart), a gap (null) where a poll did
   * not get it. */
  function rates(figure) {
    var out = [], i, a, b, va, vb;
    for (i = 1; i < samples.length; i++) {
      a = samples[i - 1]; b = samples[i];
      va = figure(a); vb = figure(b);
      if (va === null || vb === null) {
        if (out.length && out[out.length - 1][1] !== null) out.push([b.t, null]);
        continue;
      }
      if (vb < va || b.t <= a.t) continue;
      out.push([b.t, (vb - va) * 1000 / (b.t - a.t)]);
    }
    return out;
  }
  function lastRate(points, t) {
    var p = points[points.length - 1];
    return p && p[0] === t ? p[1] : null;
  }

  /* ---- the sections */
  function renderStore(mu) {
    show('store-backend', mu.store);
    showInt('store-generation', mu.store_generation);
    showBytes('store-used', mu.shm_used_bytes);
    showBytes('store-size', mu.shm_size_bytes);
    show('store-mpm', mu.mpm);
    showInt('store-pid', mu.pid);
    showBytes('store-rss', mu.rss_bytes);
  }

  function renderCounter(stats, sample) {
    showInt('counter-value', stats.current_value);
    showInt('history-length', stats.history_length);
    showInt('history-capacity', stats.history_capacity);
    var pts = rates(function (s) { return s.counter; });
    var r = lastRate(pts, sample.t);
    show('counter-rate', fmtRate(r), r === null ? '' : r);
    drawChart($('chart-counter'), [{ name: 'increments/s', color: 0,
                                     points: pts }], {});
    var body = $('history'), anyHost = false;
    while (body.firstChild) body.removeChild(body.firstChild);
    stats.recent.forEach(function (e) {
      var tr = document.createElement('tr');
      var cells = [String(e.value), e.pending ? 'pending' : (e.time || '–'),
                   e.pending ? '' : String(e.pid), e.host || ''];
      tr.dataset.value = String(e.value);
      cells.forEach(function (text, i) {
        var td = document.createElement('td');
        td.textContent = text;
        td.className = ['value', 'time', 'pid', 'host'][i];
        tr.appendChild(td);
      });
      if (e.host) anyHost = true;
      body.appendChild(tr);
    });
    body.parentNode.classList.toggle('no-host', !anyHost);
  }

  function renderCache(c) {
    showInt('cache-entries', c.total_entries);
    showBytes('cache-bytes-used', c.bytes_used);
    showBytes('cache-capacity', c.capacity_bytes);
    ['hits', 'misses', 'sets', 'deletes', 'evictions', 'expirations']
      .forEach(function (k) { showInt('cache-' + k, c[k]); });
    var looked = c.hits + c.misses;
    if (looked)
      show('cache-hit-ratio', (100 * c.hits / looked).toFixed(1) + '%',
           c.hits / looked);
    else
      show('cache-hit-ratio', '–', '');
    $('cache-fill-bar').setAttribute('width', c.capacity_bytes
      ? (600 * Math.min(1, c.bytes_used / c.capacity_bytes)).toFixed(1) : 0);
    var ratio = samples.filter(function (s) { return s.hitRatio !== undefined; })
      .map(function (s) { return [s.t, s.hitRatio]; });
    drawChart($('chart-hit-ratio'), [{ name: 'hit ratio', color: 2,
                                       points: ratio }],
              { max: 1, percent: true });
    drawChart($('chart-evictions'), [{ name: 'evictions/s', color: 4,
      points: rates(function (s) { return s.evictions; }) }], {});
    showInt('limiter-in-flight', c.in_flight);
    showInt('limiter-max', c.max_concurrent);
    showInt('limiter-peak', c.peak_in_flight);
    showInt('limiter-rejected', c.rejected);
    showInt('limiter-healed', c.healed);
  }

  /* The limiters other than the cache's (which cache answers itself), from
   * hyperlane_limiter_*{kind}: one row each. */
  function renderLimiters(metrics) {
    var figs = ['in_flight', 'max_concurrent', 'peak_in_flight',
                'rejected_total', 'healed_total'];
    var by = figs.map(function (f) {
      return metricsBy(metrics, 'hyperlane_limiter_' + f, 'kind');
    });
    Object.keys(by[1]).sort().forEach(function (kind) {
      if (kind === 'cache' || !kind) return;
      var id = 'limiter-' + kind.replace(/[^a-z0-9_-]/gi, '_'), tr = $(id);
      if (!tr) {
        tr = document.createElement('tr');
        tr.id = id;
        tr.dataset.kind = kind;
        for (var i = 0; i <= figs.length; i++)
          tr.appendChild(document.createElement('td'));
        tr.firstChild.textContent = kind;
        $('limiters').appendChild(tr);
      }
      by.forEach(function (m, i) {
        tr.childNodes[i + 1].textContent = m[kind] ? String(m[kind].value) : '–';
      });
    });
  }

  function renderMetrics(metrics, sample, why) {
    var note = $('metrics-note');
    if (!metrics) {
      note.textContent = hasMetrics ? 'metrics did not answer (' + why + ')'
        : 'This module serves no metrics endpoint: no figures by endpoint.';
      return;
    }
    note.textContent = '';
    $('endpoint-charts').hidden = false;
    var build = metricsBy(metrics, 'hyperlane_build_info', 'version');
    var versions = Object.keys(build);
    show('where', 'mount ' + mount
         + (versions.length ? ' · mod_hyperlane ' + versions[0] : ''));
    var errs = metricsBy(metrics, 'hyperlane_store_errors_total', 'kind');
    var kinds = Object.keys(errs).sort();
    show('store-errors', kinds.length ? 'store errors: ' + kinds.map(function (k) {
      return k + ' ' + errs[k].value;
    }).join(', ') : '');

    renderLimiters(metrics);

    /* Endpoints that served nothing yet are left out. */
    var by = endpointFigures(metrics), names = Object.keys(by).sort()
      .filter(function (n) { return by[n].requests > 0 || by[n].count > 0; });
    sample.endpoints = by;
    var body = $('endpoints'), reqSeries = [], latSeries = [], legend = $('legend');
    while (body.firstChild) body.removeChild(body.firstChild);
    while (legend.firstChild) legend.removeChild(legend.firstChild);
    names.forEach(function (name) {
      function fig(k) {
        return function (s) { return s.endpoints && s.endpoints[name]
                              ? s.endpoints[name][k] : null; };
      }
      var req = rates(fig('requests'));
      var lat = [], j, a, b;
      for (j = 1; j < samples.length; j++) {
        a = samples[j - 1].endpoints; b = samples[j].endpoints;
        if (!a || !b || !a[name] || !b[name]) continue;
        if (b[name].count > a[name].count)
          lat.push([samples[j].t, 1000 * (b[name].sum - a[name].sum)
                                  / (b[name].count - a[name].count)]);
      }
      var e = by[name], now = lastRate(req, sample.t);
      var latNow = lat.length && lat[lat.length - 1][0] === sample.t
        ? lat[lat.length - 1][1] / 1000 : null;
      var tr = document.createElement('tr');
      tr.dataset.endpoint = name;
      [[name, 'endpoint'], [String(e.requests), 'requests'],
       [fmtRate(now), 'rate'], [String(e.errors), 'errors'],
       [fmtMs(e.count ? e.sum / e.count : null), 'mean'],
       [fmtMs(latNow), 'now']].forEach(function (c) {
        var td = document.createElement('td');
        td.textContent = c[0];
        td.className = c[1];
        tr.appendChild(td);
      });
      body.appendChild(tr);
      if (!(name in colors)) colors[name] = Object.keys(colors).length;
      reqSeries.push({ name: name, color: colors[name], points: req });
      latSeries.push({ name: name, color: colors[name], points: lat });
      var item = document.createElement('span');
      var mark = svgEl('svg', { viewBox: '0 0 12 12' });
      svgEl('rect', { 'class': 'dot s' + (colors[name] % COLORS), width: 12,
                      height: 12 }, mark);
      item.appendChild(mark);
      item.appendChild(document.createTextNode(name));
      legend.appendChild(item);
    });
    drawChart($('chart-requests'), reqSeries, {});
    drawChart($('chart-latency'), latSeries, {});
  }

  /* {ok, value} or {ok: false, error}: one source's failure (a store that
   * is down, a metrics endpoint only Prometheus may read) leaves the
   * others shown. */
  function settle(promise) {
    return promise.then(function (v) { return { ok: true, value: v }; },
                        function (e) { return { ok: false, error: e }; });
  }

  /* ---- polling: one poll at a time, the next interval ms after it */
  function poll() {
    var t = Date.now();
    /* metrics after the others, so that it has counted them (the page's
     * own requests then show as a steady rate). */
    Promise.all([settle(fetchJSON('counter/stats')), settle(fetchJSON('cache'))])
    .then(function (got) {
      var m = hasMetrics ? settle(fetchText('metrics').then(parseMetrics))
                         : Promise.resolve({ ok: true, value: null });
      return m.then(function (metrics) { return got.concat([metrics]); });
    }).then(function (got) {
      var stats = got[0], cache = got[1], metrics = got[2];
      /* metrics refused by a Require (for Prometheus only) is a choice,
       * said in its note, not a failure of every poll. */
      var failed = got.filter(function (g) {
        return !g.ok && !(g === metrics && (g.error.status === 401
                                            || g.error.status === 403));
      });
      var sample = { t: t, counter: null, evictions: null, hitRatio: null };
      if (stats.ok) sample.counter = stats.value.current_value;
      if (cache.ok) {
        var looked = cache.value.hits + cache.value.misses;
        sample.evictions = cache.value.evictions;
        sample.hitRatio = looked ? cache.value.hits / looked : undefined;
      }
      samples.push(sample);
      while (samples.length && samples[0].t < t - WINDOW_MS - interval)
        samples.shift();
      if (stats.ok) {
        renderStore(stats.value.memory_usage);
        renderCounter(stats.value, sample);
      }
      if (cache.ok)
        renderCache(cache.value);
      renderMetrics(metrics.ok ? metrics.value : null, sample,
                    metrics.ok ? '' : metrics.error.message);
      polls++;
      document.body.dataset.polls = String(polls);
      if (failed.length) {
        problem('poll: ' + failed.map(function (g) {
          return g.error.message;
        }).join('; '));
        return;
      }
      show('status', 'updated ' + new Date(t).toISOString().substr(11, 8)
           + ' UTC' + (errors ? ' (' + errors + ' errors since loaded)' : ''));
      $('status').classList.toggle('error', errors > 0);
    }).catch(function (err) {
      problem('poll failed: ' + err.message);
    }).then(function () {
      window.setTimeout(poll, interval);
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll('.window'),
      function (e) { e.textContent = String(WINDOW_MS / 60000); });
    show('interval', String(interval / 1000));
    /* The one line this page writes to the console (its test looks for
     * it, and for nothing else there). */
    window.console.info('dashboard: polling every ' + interval + ' ms');
    /* The index lists what this module serves: metrics only when it
     * does (no failed request in the console otherwise). */
    fetchJSON('./').then(function (index) {
      hasMetrics = index.endpoints.indexOf('metrics') >= 0;
      mount = index.mount;
      show('where', 'mount ' + mount);
    }).catch(function (err) {
      problem('index: ' + err.message);
    }).then(poll);
  }
  start();
})();
