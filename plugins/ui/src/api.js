// The page's only way to the server: the JSON API of plugins/README.md, under the Airflow base
// URL (document.baseURI), authenticated by the Airflow UI's `_token` cookie.
import { useCallback, useEffect, useRef, useState } from "react";

export const seg = (value) => encodeURIComponent(String(value));

// URL of an API route: apiUrl(["models", name, "versions", 2, "modeldoc"], {format: "html"}).
export const apiUrl = (path, params) => {
  const rel = Array.isArray(path) ? path.map(seg).join("/") : path;
  const url = new URL(`modelyard/api/${rel}`, document.baseURI);
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  return url.href;
};

// URL of an Airflow page from an `airflow_url` (relative to the Airflow base URL).
export const airflowHref = (relative) => new URL(relative, document.baseURI).href;
export const dagHref = (dagId) => airflowHref(`dags/${seg(dagId)}`);

export class ApiError extends Error {
  constructor(status, message, field = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.field = field;
  }
}

const messageOf = (status, data, text) => {
  const detail = data?.detail;
  if (typeof detail === "string") return { message: detail, field: null };
  if (detail && typeof detail === "object" && !Array.isArray(detail)) {
    return { message: String(detail.message ?? JSON.stringify(detail)), field: detail.field ?? null };
  }
  if (Array.isArray(detail) && detail.length > 0) {
    // FastAPI's own request validation: [{"loc": ["body", "port"], "msg": "..."}]
    const first = detail[0];
    const loc = Array.isArray(first?.loc) ? first.loc.filter((part) => part !== "body") : [];
    return { message: String(first?.msg ?? JSON.stringify(detail)), field: loc.length ? String(loc[0]) : null };
  }
  if (status === 401) return { message: "Not logged in (HTTP 401): log in to Airflow again.", field: null };
  if (status === 403) return { message: "Forbidden (HTTP 403): your role may not do this.", field: null };
  const snippet = (text ?? "").trim().slice(0, 200);
  return { message: snippet ? `HTTP ${status}: ${snippet}` : `HTTP ${status}`, field: null };
};

const request = async (path, { method = "GET", body, params, signal, accept = "application/json" } = {}) => {
  const init = { method, credentials: "same-origin", headers: { Accept: accept }, signal };
  if (method !== "GET" && method !== "HEAD") {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  let response;
  try {
    response = await fetch(apiUrl(path, params), init);
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    throw new ApiError(0, `The Modelyard API cannot be reached (${error?.message ?? error}).`);
  }
  const text = await response.text();
  return { response, text };
};

export const api = async (path, options) => {
  const { response, text } = await request(path, options);
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const { message, field } = messageOf(response.status, data, text);
    throw new ApiError(response.status, message, field);
  }
  return data;
};

export const apiText = async (path, options) => {
  const { response, text } = await request(path, { accept: "text/html", ...options });
  if (!response.ok) {
    let data = null;
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
    const { message, field } = messageOf(response.status, data, text);
    throw new ApiError(response.status, message, field);
  }
  return text;
};

// The last answer of each GET, shown at once when a view mounts again while it is fetched anew
// (the host remounts the page on every path change, and once more on its first re-render).
const answers = new Map();

// GET a route while mounted: {data, error, loading, reload}. `path` null: nothing to fetch.
export const useApi = (path, params) => {
  const key = path === null ? null : JSON.stringify([path, params ?? null]);
  const [state, setState] = useState(() => ({
    data: key === null ? null : (answers.get(key) ?? null),
    error: null,
    loading: key !== null,
  }));
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    if (key === null) {
      setState({ data: null, error: null, loading: false });
      return undefined;
    }
    const controller = new AbortController();
    setState((previous) => ({ ...previous, loading: true, error: null }));
    api(path, { params, signal: controller.signal }).then(
      (data) => {
        answers.set(key, data);
        setState({ data, error: null, loading: false });
      },
      (error) => {
        if (error?.name !== "AbortError") setState((previous) => ({ ...previous, error, loading: false }));
      },
    );
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, tick]);
  return { ...state, reload };
};

// `GET whoami` once per page load (the component remounts on every path change).
let whoamiPromise = null;
let whoamiValue = null;
export const useWhoami = () => {
  const [whoami, setWhoami] = useState(whoamiValue);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    if (whoamiPromise === null) {
      whoamiPromise = api("whoami").then(
        (value) => {
          whoamiValue = value;
          return value;
        },
        (error) => {
          whoamiPromise = null;
          return { user: null, role: null, can_change: false, error };
        },
      );
    }
    whoamiPromise.then((value) => mounted.current && setWhoami(value));
    return () => {
      mounted.current = false;
    };
  }, []);
  return whoami;
};

// State that outlives a remount of the page (the host remounts it on navigation): the list's
// search, sort, filters and page are kept here for as long as the Airflow UI stays loaded.
const kept = new Map();
export const useKeptState = (key, initial) => {
  const [value, setValue] = useState(() => (kept.has(key) ? kept.get(key) : initial));
  const set = useCallback(
    (next) =>
      setValue((previous) => {
        const resolved = typeof next === "function" ? next(previous) : next;
        kept.set(key, resolved);
        return resolved;
      }),
    [key],
  );
  return [value, set];
};
