// Drift of each feature (population stability index) as horizontal bars, with the usual
// thresholds: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a significant one.
import { Box, HStack, Text } from "@chakra-ui/react";

const MODERATE = 0.1;
const SIGNIFICANT = 0.25;
const color = (token) => `var(--chakra-colors-${token.replace(".", "-")})`;
const severity = (psi) => (psi >= SIGNIFICANT ? "danger" : psi >= MODERATE ? "warning" : "success");

const LegendSwatch = ({ palette, label }) => (
  <HStack gap={1.5}>
    <Box bg={`${palette}.solid`} borderRadius="sm" boxSize="10px" />
    <Text fontSize="xs">{label}</Text>
  </HStack>
);

export const DriftChart = ({ drift, runId }) => {
  const entries = Object.entries(drift ?? {})
    .filter(([, psi]) => psi !== null && psi !== undefined && Number.isFinite(Number(psi)))
    .map(([feature, psi]) => [feature, Number(psi)])
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (entries.length === 0) {
    return (
      <Text color="fg.muted" data-testid="drift-empty" fontSize="sm">
        No drift was recorded for this run.
      </Text>
    );
  }
  const longest = Math.max(...entries.map(([feature]) => feature.length));
  const labelW = Math.min(260, Math.max(100, Math.min(longest, 30) * 8 + 16));
  const chartW = 520;
  const valueW = 56;
  const width = labelW + chartW + valueW;
  const rowH = 22;
  const top = 26;
  const bottom = 26;
  const height = top + entries.length * rowH + bottom;
  const max = Math.max(0.3, ...entries.map(([, psi]) => psi)) * 1.08;
  const x = (psi) => labelW + (Math.max(0, psi) / max) * chartW;
  const ticks = [0, MODERATE, 0.2, SIGNIFICANT, 0.5, 1, 2, 5].filter((t) => t <= max && t !== 0.2);

  return (
    <Box>
      <HStack flexWrap="wrap" gap={4} mb={2}>
        <LegendSwatch label="stable (< 0.1)" palette="success" />
        <LegendSwatch label="moderate shift (0.1 – 0.25)" palette="warning" />
        <LegendSwatch label="significant shift (≥ 0.25)" palette="danger" />
      </HStack>
      <Box overflowX="auto">
        <svg
          aria-label={`Feature drift (PSI) of run ${runId ?? ""}`}
          data-testid="drift-chart"
          fontFamily="inherit"
          height={height}
          role="img"
          viewBox={`0 0 ${width} ${height}`}
          style={{ display: "block", height: "auto", maxWidth: "100%", minWidth: `${Math.round(width * 0.7)}px` }}
          width={width}
        >
          {ticks.map((tick) => (
            <g key={tick}>
              <line
                stroke={color(tick === MODERATE ? "warning.solid" : tick === SIGNIFICANT ? "danger.solid" : "border")}
                strokeDasharray={tick === MODERATE || tick === SIGNIFICANT ? "4 3" : undefined}
                strokeWidth={tick === MODERATE || tick === SIGNIFICANT ? 1.5 : 1}
                x1={x(tick)}
                x2={x(tick)}
                y1={top - 6}
                y2={top + entries.length * rowH}
              />
              <text
                fill={color(tick === MODERATE ? "warning.fg" : tick === SIGNIFICANT ? "danger.fg" : "fg.muted")}
                style={{ fontSize: "11px" }}
                textAnchor="middle"
                x={x(tick)}
                y={top + entries.length * rowH + 16}
              >
                {tick}
              </text>
            </g>
          ))}
          <text fill={color("warning.fg")} style={{ fontSize: "11px" }} textAnchor="end" x={x(MODERATE) - 3} y={top - 10}>
            moderate
          </text>
          <text fill={color("danger.fg")} style={{ fontSize: "11px" }} textAnchor="start" x={x(SIGNIFICANT) + 3} y={top - 10}>
            significant
          </text>
          {entries.map(([feature, psi], index) => {
            const y = top + index * rowH;
            const level = severity(psi);
            return (
              <g data-feature={feature} data-psi={psi} data-severity={level} data-testid="drift-bar" key={feature}>
                <title>{`${feature}: PSI ${psi.toFixed(3)}`}</title>
                <text
                  dominantBaseline="middle"
                  fill={color("fg")}
                  style={{ fontSize: "12px" }}
                  textAnchor="end"
                  x={labelW - 8}
                  y={y + rowH / 2}
                >
                  {feature.length > 30 ? `${feature.slice(0, 29)}…` : feature}
                </text>
                <rect
                  fill={color(`${level}.solid`)}
                  height={rowH - 8}
                  rx="2"
                  width={Math.max(1.5, x(psi) - labelW)}
                  x={labelW}
                  y={y + 4}
                />
                <text
                  dominantBaseline="middle"
                  fill={color("fg.muted")}
                  style={{ fontSize: "11px" }}
                  x={x(psi) + 6}
                  y={y + rowH / 2}
                >
                  {psi.toFixed(3)}
                </text>
              </g>
            );
          })}
        </svg>
      </Box>
    </Box>
  );
};
