// Formatting of the API's values for display. Times are shown in UTC, like the API gives them
// and like Airflow's default UI time zone.

const pad = (n) => String(n).padStart(2, "0");

// A date-time without a zone (as SQLite gives them back) is UTC, not the browser's local time.
const HAS_ZONE = /(Z|[+-]\d\d:?\d\d)$/i;
export const parseTime = (iso) => {
  if (!iso) return null;
  const text = String(iso);
  const date = new Date(/T\d/.test(text) && !HAS_ZONE.test(text) ? `${text}Z` : text);
  return Number.isNaN(date.getTime()) ? null : date;
};

export const formatTime = (iso, { seconds = false } = {}) => {
  const date = parseTime(iso);
  if (!date) return "";
  const day = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
  const time = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}${seconds ? `:${pad(date.getUTCSeconds())}` : ""}`;
  return `${day} ${time}`;
};

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
export const formatRunTime = (iso) => {
  const date = parseTime(iso);
  if (!date) return String(iso ?? "");
  return `${WEEKDAYS[date.getUTCDay()]} ${formatTime(iso)} UTC`;
};

// Compact relative time: "just now", "12 min ago", "3 h ago", "2 d ago", "in 5 h".
export const relativeTime = (iso, now = Date.now()) => {
  const date = parseTime(iso);
  if (!date) return "";
  const seconds = Math.round((date.getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return "just now";
  const units = [
    ["y", 365 * 86400],
    ["mo", 30 * 86400],
    ["d", 86400],
    ["h", 3600],
    ["min", 60],
  ];
  const [unit, size] = units.find(([, size]) => abs >= size) ?? ["min", 60];
  const n = Math.max(1, Math.round(abs / size));
  return seconds < 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
};

export const timeTitle = (iso) => (iso ? `${formatTime(iso, { seconds: true })} UTC (${relativeTime(iso)})` : undefined);

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
export const formatCount = (n) => (n === null || n === undefined ? "" : integer.format(n));

// Requests per minute: whole requests from 10 up (1,846, not 1845.7), two figures below.
export const formatPerMinute = (value) => {
  const n = Number(value);
  if (value === null || value === undefined || !Number.isFinite(n)) return "";
  return n >= 10 ? formatCount(n) : String(Number(n.toPrecision(2)));
};

// A share (0.0123) as a percentage: "1.2%", two decimals under 1% ("0.35%").
export const formatPercent = (share) => `${(share * 100).toFixed(share < 0.01 && share > 0 ? 2 : 1)}%`;

// A latency: "4.1 ms", whole milliseconds from 100 up.
export const formatMs = (ms) => `${ms >= 100 ? Math.round(ms) : ms.toFixed(1)} ms`;

export const formatMetric = (value) => {
  if (value === null || value === undefined || value === "") return "";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  if (Number.isInteger(n) && Math.abs(n) >= 1000) return integer.format(n);
  if (Math.abs(n) >= 100) return n.toFixed(1);
  return String(Number(n.toPrecision(4)));
};

export const formatDuration = (seconds) => {
  if (seconds === null || seconds === undefined) return "";
  const s = Number(seconds);
  if (!Number.isFinite(s)) return "";
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(s % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
};

export const formatRate = (rowsPerSecond) =>
  rowsPerSecond === null || rowsPerSecond === undefined ? "" : `${formatCount(Math.round(rowsPerSecond))}/s`;

// "champion→v1" badges, sorted by alias name.
export const aliasPairs = (aliases) =>
  Object.entries(aliases ?? {}).sort(([a], [b]) => a.localeCompare(b));

// The default version or alias to act on: `production`, then `champion`, then the latest version.
export const defaultRef = (aliases, latestVersion) => {
  if (aliases && aliases.production !== undefined) return "production";
  if (aliases && aliases.champion !== undefined) return "champion";
  return latestVersion === null || latestVersion === undefined ? "" : String(latestVersion);
};
