// A deployed model's monitoring on its detail view (`GET models/<name>/monitoring`): traffic,
// errors and latency over time, drift per feature as a heat map (feature × window), prediction
// drift, labelled metrics, the open alerts with their reasons, the thresholds (op/admin edit
// them) and "Run monitoring now". Every chart is hand-drawn SVG, like DriftChart.jsx.
import { Badge, Box, Button, Field, Grid, HStack, Input, Stack, Text } from "@chakra-ui/react";
import { useMemo, useState } from "react";

import { api, useApi } from "./api.js";
import { ErrorAlert, FieldError, Loading, Muted, Time } from "./common.jsx";
import { formatMetric, formatMs, formatPercent, formatPerMinute, formatTime, parseTime } from "./format.js";
import { PlayIcon, RefreshIcon } from "./icons.jsx";
import { WorkflowProgress } from "./WorkflowProgress.jsx";

const MODERATE = 0.1;
const SIGNIFICANT = 0.25;
const color = (token) => `var(--chakra-colors-${token.replace(".", "-")})`;
const severity = (psi) => (psi >= SIGNIFICANT ? "danger" : psi >= MODERATE ? "warning" : "success");
const finite = (value) => value !== null && value !== undefined && Number.isFinite(Number(value));
const SERIES = ["blue.solid", "purple.solid", "teal.solid", "orange.solid", "pink.solid", "cyan.solid"];

const shortTime = (iso) => formatTime(iso).slice(5); // "12-04 18:00"

const niceMax = (value) => {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((m) => m * power >= value) ?? 10;
  return step * power;
};

// A line chart over time: series [{name, color, points: [{t: Date, v}]}], dashed lines [{value, label, color}].
// `fit`: the y axis spans the data (and its lines), not 0 to the top: a metric going from 0.96
// to 0.82 shows as the drop it is.
const LineChart = ({ title, series, lines = [], format = (v) => formatMetric(v), testId, yMaxAtLeast = 0, fit = false }) => {
  const points = series.flatMap((s) => s.points);
  if (!points.length) return null;
  const width = 460;
  const height = 170;
  const left = 52;
  const right = 12;
  const top = 12;
  const bottom = 30;
  const times = points.map((p) => p.t.getTime());
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const span = t1 - t0 || 3600_000;
  // A line far above the data (a 1000 ms alert over 20 ms latencies) is named, not drawn: it
  // would flatten the series it is about.
  const dataMax = Math.max(yMaxAtLeast, ...points.map((p) => p.v));
  const drawn = lines.filter((l) => l.value <= Math.max(dataMax * 3, yMaxAtLeast));
  const above = lines.filter((l) => !drawn.includes(l));
  let yMin = 0;
  let yMax = niceMax(Math.max(dataMax, ...drawn.map((l) => l.value)) * 1.05);
  if (fit) {
    const values = [...points.map((p) => p.v), ...drawn.map((l) => l.value)];
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const pad = (hi - lo) * 0.2 || Math.abs(hi) * 0.05 || 0.05;
    yMin = lo - pad;
    yMax = hi + pad;
  }
  const x = (t) => left + ((t.getTime() - (t1 === t0 ? t0 - span / 2 : t0)) / span) * (width - left - right);
  const y = (v) => top + (1 - (v - yMin) / (yMax - yMin)) * (height - top - bottom);
  const yTicks = [yMin, (yMin + yMax) / 2, yMax];
  const xTicks = t1 === t0 ? [new Date(t0)] : [new Date(t0), new Date((t0 + t1) / 2), new Date(t1)];
  return (
    <Box borderColor="border" borderRadius="md" borderWidth="1px" data-testid={testId} p={2}>
      <HStack flexWrap="wrap" gap={3} mb={1}>
        <Text fontSize="sm" fontWeight="semibold">
          {title}
        </Text>
        {series.length > 1 &&
          series.map((s) => (
            <HStack gap={1} key={s.name}>
              <Box bg={s.color} borderRadius="full" boxSize="8px" />
              <Text fontSize="xs">{s.name}</Text>
            </HStack>
          ))}
        {above.map((line) => (
          <Text color="fg.muted" data-testid="chart-line-above" data-value={line.value} fontSize="xs" key={line.label}>
            {line.label} (above the chart)
          </Text>
        ))}
      </HStack>
      <svg
        aria-label={title}
        data-points={points.length}
        role="img"
        style={{ display: "block", height: "auto", maxWidth: "100%" }}
        viewBox={`0 0 ${width} ${height}`}
        width={width}
      >
        {yTicks.map((tick) => (
          <g key={`y${tick}`}>
            <line stroke={color("border")} x1={left} x2={width - right} y1={y(tick)} y2={y(tick)} />
            <text dominantBaseline="middle" fill={color("fg.muted")} style={{ fontSize: "10px" }} textAnchor="end" x={left - 4} y={y(tick)}>
              {format(tick)}
            </text>
          </g>
        ))}
        {xTicks.map((tick, index) => (
          <text
            fill={color("fg.muted")}
            key={`x${index}`}
            style={{ fontSize: "10px" }}
            textAnchor={index === 0 && xTicks.length > 1 ? "start" : index === xTicks.length - 1 && xTicks.length > 1 ? "end" : "middle"}
            x={x(tick)}
            y={height - 10}
          >
            {shortTime(tick.toISOString())}
          </text>
        ))}
        {drawn.map((line) => (
          <g data-testid="chart-line" data-value={line.value} key={line.label}>
            <line stroke={line.color} strokeDasharray="4 3" strokeWidth={1.5} x1={left} x2={width - right} y1={y(line.value)} y2={y(line.value)} />
            <text fill={line.color} style={{ fontSize: "10px" }} textAnchor="end" x={width - right - 2} y={y(line.value) - 3}>
              {line.label}
            </text>
          </g>
        ))}
        {series.map((s) => {
          const sorted = [...s.points].sort((a, b) => a.t - b.t);
          return (
            <g data-series={s.name} data-testid="chart-series" key={s.name}>
              {sorted.length > 1 && (
                <polyline
                  fill="none"
                  points={sorted.map((p) => `${x(p.t)},${y(p.v)}`).join(" ")}
                  stroke={s.color}
                  strokeWidth={1.8}
                />
              )}
              {sorted.map((p, index) => (
                <circle cx={x(p.t)} cy={y(p.v)} fill={s.color} key={index} r={sorted.length > 60 ? 1.5 : 2.5}>
                  <title>{`${s.name} ${format(p.v)} · window ending ${formatTime(p.t.toISOString())} UTC`}</title>
                </circle>
              ))}
            </g>
          );
        })}
      </svg>
    </Box>
  );
};

const series = (records, name, pick, token) => ({
  name,
  color: color(token),
  points: records
    .filter((r) => finite(pick(r)))
    .map((r) => ({ t: parseTime(r.window_end), v: Number(pick(r)) })),
});

const TrafficCharts = ({ records, thresholds }) => {
  const online = records.filter((r) => r.source === "online");
  if (!online.length) {
    return <Muted data-testid="traffic-empty">No online window was monitored yet: no traffic to show.</Muted>;
  }
  const requests = series(online, "requests/min", (r) => r.figures.requests_per_min ?? null, "blue.solid");
  const counts = series(online, "requests", (r) => r.figures.requests, "blue.solid");
  const latencyLines = finite(thresholds.latency_p99_ms)
    ? [{ value: thresholds.latency_p99_ms, label: `p99 alert ${thresholds.latency_p99_ms} ms`, color: color("danger.solid") }]
    : [];
  return (
    <Grid data-testid="traffic-charts" gap={3} templateColumns="repeat(auto-fit, minmax(340px, 1fr))">
      <LineChart
        format={(v) => (v >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(1))}
        series={[requests.points.length ? requests : counts]}
        testId="requests-chart"
        title={requests.points.length ? "Requests per minute" : "Requests per window"}
      />
      <LineChart
        format={formatPercent}
        lines={[{ value: thresholds.error_rate, label: `alert ${formatPercent(thresholds.error_rate)}`, color: color("danger.solid") }]}
        series={[series(online, "error rate", (r) => r.figures.error_rate, "red.solid")]}
        testId="errors-chart"
        title="Error rate"
      />
      <LineChart
        format={formatMs}
        lines={latencyLines}
        series={[
          series(online, "p50", (r) => r.figures.latency_p50_ms, "teal.solid"),
          series(online, "p99", (r) => r.figures.latency_p99_ms, "purple.solid"),
        ]}
        testId="latency-chart"
        title="Latency"
      />
    </Grid>
  );
};

// For each feature: since which window its PSI has stayed at or above the drift line.
const driftingSince = (columns, feature, line) => {
  let since = null;
  for (const record of columns) {
    const psi = record.figures.feature_psi?.[feature];
    if (finite(psi) && psi >= line) since = since ?? record.window_start;
    else if (finite(psi)) since = null;
  }
  return since;
};

// Feature × window, each cell coloured by PSI against training: green below 0.1, amber to 0.25,
// red from 0.25 (deeper as it grows); features drifting now first, with the window they began in.
export const DriftHeatMap = ({ records, psiLine }) => {
  const columns = records.filter((r) => Object.keys(r.figures.feature_psi ?? {}).length);
  const features = useMemo(() => {
    const names = new Set(columns.flatMap((r) => Object.keys(r.figures.feature_psi ?? {})));
    const last = columns[columns.length - 1]?.figures.feature_psi ?? {};
    return Array.from(names).sort((a, b) => (last[b] ?? -1) - (last[a] ?? -1) || a.localeCompare(b));
  }, [columns]);
  if (!columns.length) {
    return <Muted data-testid="drift-heatmap-empty">No drift was measured yet.</Muted>;
  }
  const labelW = Math.min(200, Math.max(90, Math.min(30, Math.max(...features.map((f) => f.length))) * 7 + 12));
  const sinceW = 150;
  const cellW = Math.max(4, Math.min(44, Math.floor(640 / columns.length)));
  const cellH = 18;
  const top = 8;
  const bottom = 44;
  const width = labelW + columns.length * cellW + sinceW;
  const height = top + features.length * cellH + bottom;
  const labelEvery = Math.max(1, Math.ceil(columns.length / Math.max(1, Math.floor((columns.length * cellW) / 90))));
  const opacity = (psi) =>
    psi >= SIGNIFICANT ? 0.55 + 0.45 * Math.min(1, (psi - SIGNIFICANT) / 0.5) : psi >= MODERATE ? 0.55 + 0.3 * ((psi - MODERATE) / 0.15) : 0.25 + 0.3 * (psi / MODERATE);
  return (
    <Box>
      <HStack flexWrap="wrap" gap={4} mb={2}>
        <PsiScale />
        {psiLine !== SIGNIFICANT && <Muted>this model's drift alert: PSI ≥ {psiLine}</Muted>}
      </HStack>
      <Box overflowX="auto">
        <svg
          aria-label="Drift per feature over time (PSI against training)"
          data-features={features.length}
          data-testid="drift-heatmap"
          data-windows={columns.length}
          role="img"
          style={{ display: "block", height: "auto", maxWidth: "100%", minWidth: `${Math.round(width * 0.7)}px` }}
          viewBox={`0 0 ${width} ${height}`}
          width={width}
        >
          {features.map((feature, row) => {
            const y = top + row * cellH;
            const since = driftingSince(columns, feature, psiLine);
            return (
              <g data-feature={feature} data-since={since ?? ""} data-testid="drift-row" key={feature}>
                <text dominantBaseline="middle" fill={color(since ? "danger.fg" : "fg")} style={{ fontSize: "11px", fontWeight: since ? 600 : 400 }} textAnchor="end" x={labelW - 6} y={y + cellH / 2}>
                  {feature.length > 28 ? `${feature.slice(0, 27)}…` : feature}
                </text>
                {columns.map((record, column) => {
                  const psi = record.figures.feature_psi?.[feature];
                  if (!finite(psi)) return null;
                  const level = severity(psi);
                  return (
                    <rect
                      data-psi={psi}
                      data-severity={level}
                      data-testid="drift-cell"
                      data-window={record.window_end}
                      fill={color(`${level}.solid`)}
                      fillOpacity={opacity(psi)}
                      height={cellH - 2}
                      key={record.id}
                      width={Math.max(2, cellW - 1)}
                      x={labelW + column * cellW}
                      y={y + 1}
                    >
                      <title>{`${feature}: PSI ${Number(psi).toFixed(3)} · ${record.source} window ${formatTime(record.window_start)} – ${formatTime(record.window_end)} UTC`}</title>
                    </rect>
                  );
                })}
                <text dominantBaseline="middle" fill={color(since ? "danger.fg" : "fg.muted")} style={{ fontSize: "10px" }} x={labelW + columns.length * cellW + 8} y={y + cellH / 2}>
                  {since ? `drifting since ${shortTime(since)}` : ""}
                </text>
              </g>
            );
          })}
          {columns.map((record, column) => (
            <g key={record.id}>
              {record.source === "batch" && (
                <text data-testid="batch-marker" fill={color("fg.muted")} style={{ fontSize: "9px" }} textAnchor="middle" x={labelW + column * cellW + cellW / 2} y={top + features.length * cellH + 10}>
                  ▲
                </text>
              )}
              {(column % labelEvery === 0 || column === columns.length - 1) && (
                <text fill={color("fg.muted")} style={{ fontSize: "10px" }} textAnchor="middle" x={labelW + column * cellW + cellW / 2} y={top + features.length * cellH + 22}>
                  {shortTime(record.window_end)}
                </text>
              )}
            </g>
          ))}
          <text fill={color("fg.muted")} style={{ fontSize: "10px" }} x={labelW} y={height - 4}>
            window end (UTC){columns.some((r) => r.source === "batch") ? " · ▲ batch scoring run" : ""}
          </text>
        </svg>
      </Box>
    </Box>
  );
};

// The colour scale with the two lines the charts use: 0.1 (moderate) and 0.25 (significant).
const PsiScale = () => {
  const width = 240;
  const x = (psi) => 10 + (Math.min(psi, 0.5) / 0.5) * (width - 20);
  return (
    <svg aria-label="PSI colour scale" data-testid="psi-scale" height={30} role="img" viewBox={`0 0 ${width} 30`} width={width}>
      <rect fill={color("success.solid")} fillOpacity={0.45} height={10} width={x(MODERATE) - x(0)} x={x(0)} y={4} />
      <rect fill={color("warning.solid")} fillOpacity={0.7} height={10} width={x(SIGNIFICANT) - x(MODERATE)} x={x(MODERATE)} y={4} />
      <rect fill={color("danger.solid")} fillOpacity={0.85} height={10} width={x(0.5) - x(SIGNIFICANT)} x={x(SIGNIFICANT)} y={4} />
      {[
        [MODERATE, "warning.fg"],
        [SIGNIFICANT, "danger.fg"],
      ].map(([tick, token]) => (
        <g data-psi={tick} data-testid="psi-line" key={tick}>
          <line stroke={color(token)} strokeDasharray="3 2" strokeWidth={1.5} x1={x(tick)} x2={x(tick)} y1={1} y2={17} />
          <text fill={color(token)} style={{ fontSize: "10px" }} textAnchor="middle" x={x(tick)} y={27}>
            {tick}
          </text>
        </g>
      ))}
      <text fill={color("fg.muted")} style={{ fontSize: "10px" }} x={x(0)} y={27}>
        PSI 0
      </text>
      <text fill={color("fg.muted")} style={{ fontSize: "10px" }} textAnchor="end" x={x(0.5)} y={27}>
        0.5+
      </text>
    </svg>
  );
};

const PredictionDrift = ({ records }) => {
  const withPsi = records.filter((r) => finite(r.figures.prediction_psi));
  const latest = [...records].reverse().find((r) => Object.keys(r.figures.prediction_mix ?? {}).length);
  if (!withPsi.length && !latest) {
    return <Muted data-testid="prediction-drift-empty">No prediction drift was measured (the model has no prediction profile, or no window yet).</Muted>;
  }
  const mix = Object.entries(latest?.figures.prediction_mix ?? {});
  return (
    <Grid gap={3} templateColumns="repeat(auto-fit, minmax(340px, 1fr))">
      {withPsi.length > 0 && (
        <LineChart
          format={(v) => v.toFixed(2)}
          lines={[
            { value: MODERATE, label: "0.1 moderate", color: color("warning.solid") },
            { value: SIGNIFICANT, label: "0.25 significant", color: color("danger.solid") },
          ]}
          series={[series(withPsi, "prediction PSI", (r) => r.figures.prediction_psi, "orange.solid")]}
          testId="prediction-drift-chart"
          title="Prediction drift (PSI against validation)"
          yMaxAtLeast={0.3}
        />
      )}
      {mix.length > 0 && (
        <Box borderColor="border" borderRadius="md" borderWidth="1px" data-testid="prediction-mix" p={2}>
          <Text fontSize="sm" fontWeight="semibold" mb={2}>
            Predictions in the latest window <Muted as="span">(ending {formatTime(latest.window_end)} UTC)</Muted>
          </Text>
          <Stack gap={1}>
            {mix.map(([key, share]) => (
              <HStack data-key={key} data-testid="prediction-mix-bar" gap={2} key={key}>
                <Text fontSize="xs" textAlign="end" w="6rem" truncate>
                  {key}
                </Text>
                <Box bg="bg.muted" borderRadius="sm" flex="1" h="12px">
                  <Box bg="orange.solid" borderRadius="sm" h="12px" w={`${Math.max(1, Math.min(100, Number(share) * 100))}%`} />
                </Box>
                <Text fontSize="xs" fontVariantNumeric="tabular-nums" w="4rem">
                  {Number(share) <= 1 ? formatPercent(Number(share)) : formatMetric(share)}
                </Text>
              </HStack>
            ))}
          </Stack>
        </Box>
      )}
    </Grid>
  );
};

const MetricsOverTime = ({ records, floors }) => {
  const labelled = records.filter((r) => Object.keys(r.figures.metrics ?? {}).length);
  if (!labelled.length) {
    return <Muted data-testid="metrics-empty">No labels have arrived yet: metrics show once labels are posted for a window.</Muted>;
  }
  const names = Array.from(new Set(labelled.flatMap((r) => Object.keys(r.figures.metrics)))).sort();
  return (
    <Grid gap={3} templateColumns="repeat(auto-fit, minmax(340px, 1fr))">
      {names.map((metric, index) => (
        <LineChart
          key={metric}
          lines={finite(floors?.[metric]) ? [{ value: floors[metric], label: `floor ${floors[metric]}`, color: color("danger.solid") }] : []}
          series={[series(labelled, metric, (r) => r.figures.metrics[metric], SERIES[index % SERIES.length])]}
          fit
          format={(v) => v.toFixed(Math.abs(v) >= 100 ? 0 : 3)}
          testId="metrics-chart"
          title={`${metric} on labelled rows`}
        />
      ))}
    </Grid>
  );
};

const RULES = {
  feature_psi: "Feature drift",
  drifted_share: "Share of features drifting",
  error_rate: "Error rate",
  latency_p99_ms: "Latency p99",
  metric_floor: "Metric below its floor",
};

const Alerts = ({ alerts, windowEnd }) =>
  alerts.length ? (
    <Stack data-testid="monitoring-alerts" gap={2}>
      {alerts.map((alert, index) => (
        <HStack
          alignItems="flex-start"
          bg="danger.subtle"
          borderColor="danger.muted"
          borderRadius="md"
          borderWidth="1px"
          data-rule={alert.rule}
          data-subject={alert.subject ?? ""}
          data-testid="monitoring-alert"
          gap={3}
          key={index}
          px={3}
          py={2}
        >
          <Badge colorPalette="danger" size="sm" variant="solid">
            {RULES[alert.rule] ?? alert.rule}
          </Badge>
          <Stack gap={0}>
            <Text data-testid="alert-message" fontSize="sm">
              {alert.message}
            </Text>
            <Muted>
              {alert.subject ? `${alert.subject}: ` : ""}
              {formatMetric(alert.value)} against the line {formatMetric(alert.threshold)}
            </Muted>
          </Stack>
        </HStack>
      ))}
      {windowEnd && (
        <Muted data-testid="alerts-window">
          From the latest monitored window that saw requests, ending {formatTime(windowEnd)} UTC (a window
          without requests leaves them open).
        </Muted>
      )}
    </Stack>
  ) : (
    <Text color="fg.success" data-testid="monitoring-no-alerts" fontSize="sm">
      No open alert: the latest monitored window with requests is within every threshold.
    </Text>
  );

const THRESHOLD_FIELDS = [
  ["psi", "Feature PSI", "a feature at or above this drifts"],
  ["drifted_share", "Drifted share", "alert above this share of features"],
  ["min_drift_rows", "Rows for drift alerts", "fewer scored rows in a window: drift shown, not alerted"],
  ["error_rate", "Error rate", "alert above this share of requests"],
  ["latency_p99_ms", "Latency p99 (ms)", "empty: no latency alert"],
];

const Thresholds = ({ modelName, thresholds, canChange, onChanged }) => {
  const initial = () => ({
    ...Object.fromEntries(THRESHOLD_FIELDS.map(([key]) => [key, thresholds[key] === null || thresholds[key] === undefined ? "" : String(thresholds[key])])),
    metric_floors: JSON.stringify(thresholds.metric_floors ?? {}),
    webhook_url: thresholds.webhook_url ?? "",
  });
  const [values, setValues] = useState(initial);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const save = async (event) => {
    event.preventDefault();
    const body = {};
    for (const [key] of THRESHOLD_FIELDS) {
      const text = values[key].trim();
      body[key] = text === "" ? null : Number(text);
      if (text !== "" && !Number.isFinite(body[key])) {
        setError({ field: key, message: `${key}: not a number` });
        return;
      }
    }
    try {
      body.metric_floors = JSON.parse(values.metric_floors || "{}");
    } catch (err) {
      setError({ field: "metric_floors", message: `metric_floors: not JSON (${err.message})` });
      return;
    }
    body.webhook_url = values.webhook_url.trim() || null;
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      await api(["models", modelName, "monitoring", "thresholds"], { method: "PUT", body });
      setSaved(true);
      onChanged?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const errorOf = (field) => (error && (error.field === field || error.field?.startsWith(`${field}.`)) ? error.message : null);
  if (!canChange) {
    return (
      <Grid data-testid="thresholds" gap={3} templateColumns="repeat(auto-fit, minmax(150px, 1fr))">
        {THRESHOLD_FIELDS.map(([key, label]) => (
          <Stack data-key={key} data-testid="threshold" gap={0} key={key}>
            <Muted>{label}</Muted>
            <Text fontSize="sm">{thresholds[key] ?? "—"}</Text>
          </Stack>
        ))}
        <Stack gap={0}>
          <Muted>Metric floors</Muted>
          <Text fontSize="sm">{Object.entries(thresholds.metric_floors ?? {}).map(([k, v]) => `${k} ≥ ${v}`).join(", ") || "—"}</Text>
        </Stack>
        <Stack gap={0}>
          <Muted>Webhook</Muted>
          <Text fontSize="sm">{thresholds.webhook_url_set ? "set" : "—"}</Text>
        </Stack>
      </Grid>
    );
  }
  const input = (key, label, helper, props = {}) => (
    <Field.Root invalid={Boolean(errorOf(key))} key={key}>
      <Field.Label fontSize="xs">{label}</Field.Label>
      <Input
        data-testid={`threshold-${key}`}
        onChange={(event) => setValues({ ...values, [key]: event.target.value })}
        size="sm"
        value={values[key]}
        {...props}
      />
      {helper && <Field.HelperText fontSize="xs">{helper}</Field.HelperText>}
      <FieldError error={errorOf(key)} field={key} />
    </Field.Root>
  );
  return (
    <Box as="form" data-testid="thresholds-form" noValidate onSubmit={save}>
      <Grid alignItems="start" gap={3} templateColumns="repeat(auto-fit, minmax(160px, 1fr))">
        {THRESHOLD_FIELDS.map(([key, label, helper]) => input(key, label, helper, { inputMode: "decimal" }))}
        {input("metric_floors", "Metric floors (JSON)", '{"accuracy": 0.9}', { fontFamily: "mono" })}
        {input("webhook_url", "Webhook URL", "Slack-compatible")}
      </Grid>
      <HStack gap={3} mt={3}>
        <Button data-testid="thresholds-save" loading={busy} size="sm" type="submit" variant="outline">
          Save thresholds
        </Button>
        {saved && (
          <Text color="fg.success" data-testid="thresholds-saved" fontSize="sm">
            Saved: the next pass uses them.
          </Text>
        )}
        {error && !THRESHOLD_FIELDS.some(([key]) => key === error.field) && !["metric_floors", "webhook_url"].includes(error.field) && (
          <Text color="fg.error" data-testid="thresholds-error" fontSize="sm">
            {error.message}
          </Text>
        )}
      </HStack>
    </Box>
  );
};

const Fact = ({ label, children, testId }) => (
  <Stack data-testid={testId} gap={0}>
    <Muted>{label}</Muted>
    <Box fontSize="sm" fontVariantNumeric="tabular-nums">
      {children}
    </Box>
  </Stack>
);

const Subsection = ({ title, children, testId }) => (
  <Stack data-testid={testId} gap={2}>
    <Text fontSize="sm" fontWeight="semibold">
      {title}
    </Text>
    {children}
  </Stack>
);

const useRunNow = ({ modelName, onFinished }) => {
  const [run, setRun] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      setRun(await api(["models", modelName, "monitoring", "run"], { method: "POST", body: {} }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { start, busy, run, error, view: (
    <>
      {error && <ErrorAlert error={error} title="Cannot start monitoring" />}
      {run && <WorkflowProgress initialRun={run} key={run.run_id} onFinished={onFinished} />}
    </>
  ) };
};

export const MonitoringSection = ({ modelName, canChange }) => {
  const monitoring = useApi(["models", modelName, "monitoring"]);
  const runNow = useRunNow({ modelName, onFinished: monitoring.reload });
  const data = monitoring.data;
  const records = data?.records ?? [];
  const online = records.filter((r) => r.source === "online");
  const latest = online[online.length - 1];
  const traffic = data?.traffic;
  // The endpoint's last 60 s when it answers (an idle minute reads 0), else the latest window: never a mix.
  const shown = traffic
    ? { requests_per_min: traffic.requests_per_minute, error_rate: traffic.error_rate, p50_ms: traffic.p50_ms, p99_ms: traffic.p99_ms }
    : latest && { requests_per_min: latest.figures.requests_per_min, error_rate: latest.figures.error_rate,
                  p50_ms: latest.figures.latency_p50_ms, p99_ms: latest.figures.latency_p99_ms };
  return (
    <Box as="section" borderColor="border" borderRadius="md" borderWidth="1px" data-testid="monitoring-section" p={4}>
      <HStack justifyContent="space-between" mb={3}>
        <HStack gap={2}>
          <Text as="h2" fontSize="md" fontWeight="semibold">
            Monitoring
          </Text>
          {data && (data.open_alerts.length ? (
            <Badge colorPalette="danger" data-testid="monitoring-alert-count" variant="solid">
              {data.open_alerts.length} open {data.open_alerts.length === 1 ? "alert" : "alerts"}
            </Badge>
          ) : (
            <Badge colorPalette="success" variant="surface">
              healthy
            </Badge>
          ))}
        </HStack>
        <HStack gap={2}>
          <Button aria-label="Refresh monitoring" onClick={monitoring.reload} size="xs" variant="ghost">
            <RefreshIcon />
          </Button>
          {canChange && (
            <Button data-testid="monitoring-run-now" loading={runNow.busy} onClick={runNow.start} size="xs" variant="outline">
              <PlayIcon />
              Run monitoring now
            </Button>
          )}
        </HStack>
      </HStack>
      {runNow.view}
      {monitoring.loading && !data && <Loading label="Loading monitoring…" />}
      {monitoring.error && <ErrorAlert error={monitoring.error} title="Cannot load monitoring" />}
      {data && (
        <Stack gap={5}>
          <Grid gap={4} templateColumns="repeat(auto-fit, minmax(140px, 1fr))">
            <Fact label={traffic ? "Requests/min (last 60 s)" : "Requests/min (latest window)"} testId="fact-rpm">
              {formatPerMinute(shown?.requests_per_min) || "—"}
            </Fact>
            <Fact label="Error rate" testId="fact-errors">
              {finite(shown?.error_rate) ? formatPercent(shown.error_rate) : "—"}
            </Fact>
            <Fact label="Latency p50 / p99" testId="fact-latency">
              {[shown?.p50_ms, shown?.p99_ms]
                .map((v) => (finite(v) ? formatMs(v) : "—"))
                .join(" / ")}
            </Fact>
            <Fact label="Windows monitored">
              {online.length} online · {records.length - online.length} batch
            </Fact>
            <Fact label="Latest window">{latest ? <Time iso={latest.window_end} /> : <Muted>none yet</Muted>}</Fact>
          </Grid>
          <Subsection testId="alerts-subsection" title="Alerts">
            <Alerts alerts={data.open_alerts} windowEnd={data.alerts_window_end} />
          </Subsection>
          <Subsection title="Requests, errors and latency">
            <TrafficCharts records={records} thresholds={data.thresholds} />
          </Subsection>
          <Subsection title="Drift per feature over time (PSI against training)">
            <DriftHeatMap psiLine={data.thresholds.psi} records={records} />
          </Subsection>
          <Subsection title="Prediction drift">
            <PredictionDrift records={records} />
          </Subsection>
          <Subsection title="Metrics on labelled requests">
            <MetricsOverTime floors={data.thresholds.metric_floors} records={records} />
          </Subsection>
          <Subsection testId="thresholds-subsection" title="Alert thresholds">
            <Thresholds
              canChange={canChange}
              modelName={modelName}
              onChanged={monitoring.reload}
              thresholds={data.thresholds}
            />
          </Subsection>
        </Stack>
      )}
    </Box>
  );
};
